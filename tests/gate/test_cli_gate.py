"""The gate's commands: consent add|list|show|revoke, gallery add|import|list, check."""

import json
import shutil

from test_cli import one_clear_line


def test_consent_lifecycle_with_scope_evidence_and_signature(cli, workspace, portrait,
                                                             tmp_path):
    form = tmp_path / "release.pdf"
    form.write_bytes(b"%PDF signed release")
    add = cli("consent", "add", "--name", "Eileen", "--photo", str(portrait), "--scope",
              "talking,commercial", "--evidence", str(form), "--expires", "2099-01-01",
              "--json")
    assert add.exit_code == 0, add.stderr
    rec = json.loads(add.stdout)
    assert rec["scope"] == ["commercial", "talking"] and rec["signature_valid"]
    assert rec["evidence_sha256"] and rec["status"] == "valid"
    shown = cli("consent", "show", rec["id"])
    assert shown.exit_code == 0 and "signature_valid:" in shown.stdout
    assert "template" not in shown.stdout + add.stdout

    # Edit the record behind the registry's back: show says so, exit 3.
    from emo_safe.ledger.schema import ConsentRow

    with workspace.store().session() as s:
        s.get(ConsentRow, rec["id"]).scope = json.dumps(["commercial", "singing", "talking"])
    tampered = cli("consent", "show", rec["id"], "--json")
    assert tampered.exit_code == 3 and json.loads(tampered.stdout)["status"] == "tampered"
    assert cli("consent", "revoke", rec["id"]).exit_code == 0
    listed = json.loads(cli("consent", "list", "--json").stdout)["consents"]
    assert listed[0]["revoked_at"] and listed[0]["status"] == "tampered"


def test_consent_errors_are_one_line_exit_2(cli, portrait, data_dir):
    r = cli("consent", "add", "--name", "x", "--photo", str(data_dir / "two_people.jpg"))
    assert r.exit_code == 2 and "exactly one face" in one_clear_line(r)
    r = cli("consent", "add", "--name", "x", "--photo", str(portrait), "--scope", "Bad Use!")
    assert r.exit_code == 2 and "invalid use" in one_clear_line(r)
    r = cli("consent", "show", "0" * 32)
    assert r.exit_code == 2 and "no consent record" in one_clear_line(r)


def test_gallery_commands_and_check_exit_codes(cli, data_dir, tmp_path):
    r = cli("gallery", "add", "--name", "Barack Obama", str(data_dir / "obama.jpg"), "--json")
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "import" / "Joe Biden"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "biden.jpg", folder)
    assert cli("gallery", "import", str(tmp_path / "import")).exit_code == 0
    listed = json.loads(cli("gallery", "list", "--json").stdout)["identities"]
    assert [i["name"] for i in listed] == ["Barack Obama", "Joe Biden"]

    cid = json.loads(cli("consent", "add", "--name", "O", "--photo",
                         str(data_dir / "obama2.jpg"), "--json").stdout)["id"]
    refused = cli("check", str(data_dir / "obama2.jpg"), "--consent", cid, "--json")
    assert refused.exit_code == 1
    d = json.loads(refused.stdout)
    assert [r["code"] for r in d["reasons"]] == ["public-figure"]
    assert d["policy"]["name"] == "default" and len(d["policy"]["sha256"]) == 64
    human = cli("check", str(data_dir / "obama2.jpg"))
    assert human.exit_code == 1 and "Barack Obama" in human.stdout

    alex = json.loads(cli("consent", "add", "--name", "A", "--photo",
                          str(data_dir / "alex-lacamoire.png"), "--json").stdout)["id"]
    ok = cli("check", str(data_dir / "alex-lacamoire.png"))
    assert ok.exit_code == 0 and alex in ok.stdout


def test_malformed_policy_is_one_line_naming_the_key_exit_2(cli, portrait, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[public_figures]\nscreen = "no"\nallow_famous = true\n')
    r = cli("check", str(portrait), "--policy", str(bad))
    line = one_clear_line(r)
    assert r.exit_code == 2
    assert "public_figures.screen" in line and "unknown key 'public_figures.allow_famous'" in line
    r = cli("check", str(portrait), "--policy", str(tmp_path / "missing.toml"))
    assert r.exit_code == 2 and "not found" in one_clear_line(r)


def test_bundled_policies_by_name(cli, portrait):
    for name in ("default", "strict", "research"):
        r = cli("check", str(portrait), "--policy", name, "--json")
        assert r.exit_code == 1 and json.loads(r.stdout)["policy"]["name"] == name
