"""GB 45438-2025's implicit label: written into the MP4 when the policy asks, read back by an
independent reader (ffprobe), covered by the C2PA hard binding, and reported by `verify`."""

import json
import subprocess

from factories import write_tone

from emo_safe.disclosure import IMPLICIT_LABEL_KEYS, implicit_label, read_implicit_label

POLICY = """name = "labelled"
[disclosure]
implicit_label = true
"""


def test_the_policy_s_implicit_label_is_in_the_mp4_as_ffprobe_reads_it(
        cli, workspace, consented, portrait, tmp_path):
    (workspace.policies_dir / "labelled.toml").write_text(POLICY)
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "out.mp4"
    gen = cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o", str(out),
              "--size", "128", "--policy", "labelled", "--json")
    assert gen.exit_code == 0, gen.output
    gid = json.loads(gen.stdout)["generation_id"]

    probed = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-of", "json", str(out)],
                            capture_output=True, text=True, check=True)
    label = json.loads(json.loads(probed.stdout)["format"]["tags"]["AIGC"])
    assert list(label) == list(IMPLICIT_LABEL_KEYS)
    assert label["Label"] == "1" and label["ProduceID"] == gid
    assert label["ContentProducer"].startswith("emo-safe:")

    verdict = json.loads(cli("verify", str(out), "--json").stdout)
    assert verdict["outcome"] == "generated" and verdict["c2pa"]["state"] == "trusted"
    assert verdict["implicit_label"]["ProduceID"] == gid
    assert any("GB 45438-2025" in r and "same content id" in r for r in verdict["reasons"])

    # The audit checklist counts it from the log (cn: China's labelling rules).
    report = json.loads(cli("audit", "report", "-o", str(tmp_path / "r.html"), "--framework",
                            "cn", "--json").stdout)
    item = next(i for i in report["checklist"] if i["id"] == "implicit-label")
    assert item["status"] == "pass" and item["evidence"].startswith("1 of 1 generations")

    # The label is inside the C2PA hard binding: editing it breaks the manifest.
    data = out.read_bytes()
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(data.replace(b'"Label":"1"', b'"Label":"3"', 1))
    assert edited.read_bytes() != data
    tampered = json.loads(cli("verify", str(edited), "--json").stdout)
    assert tampered["outcome"] == "tampered"
    assert tampered["implicit_label"]["Label"] == "3"


def test_without_the_policy_key_no_label_is_written(cli, workspace, consented, portrait,
                                                    tmp_path):
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "plain.mp4"
    assert cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o", str(out),
               "--size", "128").exit_code == 0
    assert b"AIGC" not in out.read_bytes()
    assert json.loads(cli("verify", str(out), "--json").stdout)["implicit_label"] is None


def test_the_label_s_keys_and_a_malformed_tag():
    tag = implicit_label("Example Lab (filing 1234)", "00112233aabb")["AIGC"]
    assert read_implicit_label(tag) == {
        "Label": "1", "ContentProducer": "Example Lab (filing 1234)",
        "ProduceID": "00112233aabb", "ReservedCode1": "", "ContentPropagator": "",
        "PropagateID": "", "ReservedCode2": ""}
    assert read_implicit_label("not json") == {"malformed": True}
    assert read_implicit_label('["Label"]') == {"malformed": True}
    assert read_implicit_label(None) is None
