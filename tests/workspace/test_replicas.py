"""`emo-safe init --replica-of`: another host of one deployment, over its PostgreSQL ledger.
Hosts generating at once keep one consistent audit log (the advisory-lock path across
workspaces that share only the database URL)."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from factories import GENERATING_PROCESS, postgres_workspace
from servers import run_cli

from emo_safe import ConsentRegistry, Workspace
from emo_safe.errors import WorkspaceError
from emo_safe.ledger.audit import verify_log


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("EMO_SAFE_KEY_PASSPHRASE", "EMO_SAFE_DATABASE_URL", "EMO_SAFE_HOME"):
        monkeypatch.delenv(name, raising=False)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_replica_holds_the_keys_privately_but_not_the_ca_key(clean_env, postgres_url,
                                                                tmp_path, data_dir):
    a = postgres_workspace(tmp_path / "a", postgres_url)
    a.gallery().add("Barack Obama", [data_dir / "obama.jpg"])
    r = run_cli(tmp_path / "b", "init", "--replica-of", str(a.root), "--json")
    assert r.returncode == 0, r.stderr
    b = Workspace(tmp_path / "b")
    assert b.is_initialized() and not (b.keys_dir / "ca.key").exists()
    for key in ("signer.key", "watermark.key", "operator.key", "log.key"):
        assert (b.keys_dir / key).read_bytes() == (a.keys_dir / key).read_bytes()
        assert mode(b.keys_dir / key) == 0o600
    assert mode(b.root) == 0o700 and mode(b.gallery_dir) == 0o700
    assert all(mode(f) == 0o600 for f in b.gallery_dir.iterdir())
    assert b.database_url == a.database_url and b.key_ids() == a.key_ids()
    assert [e.name for e in b.gallery().identities()] == ["Barack Obama"]
    # Both write one log: the replica's creation is an entry that verifies from either host.
    assert verify_log(a.store().log, a.log_public_key()).ok

    # Run again: the gallery follows the source; a changed key is never replaced.
    a.gallery().add("Joe Biden", [data_dir / "biden.jpg"])
    b.init_replica(a)
    assert {e.name for e in b.gallery().identities()} == {"Barack Obama", "Joe Biden"}
    (b.keys_dir / "watermark.key").chmod(0o600)
    (b.keys_dir / "watermark.key").write_bytes(b"another key")
    with pytest.raises(WorkspaceError, match="refusing to replace a key"):
        b.init_replica(a)


def test_a_sqlite_workspace_cannot_have_replicas(clean_env, tmp_path):
    a = Workspace(tmp_path / "a")
    a.init()
    r = run_cli(tmp_path / "b", "init", "--replica-of", str(a.root))
    assert r.returncode == 2 and "SQLite" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "b" / "keys").exists()


def test_hosts_generating_at_once_keep_one_consistent_log(clean_env, postgres_url, tmp_path,
                                                          portrait, speech):
    a = postgres_workspace(tmp_path / "a", postgres_url)
    ConsentRegistry.for_workspace(a).add("sample", portrait)  # recorded once, seen by all
    hosts = [a] + [Workspace(tmp_path / f"host{k}") for k in (1, 2)]
    for host in hosts[1:]:
        host.init_replica(a)
    before = verify_log(a.store().log, a.log_public_key()).size
    procs = [subprocess.Popen([sys.executable, "-c", GENERATING_PROCESS, str(host.root),
                               str(portrait), str(speech), str(tmp_path / f"out{k}")])
             for k, host in enumerate(hosts)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    for host in hosts:  # every host sees the same, whole, signed log
        r = verify_log(host.store().log, host.log_public_key())
        assert r.ok, r.problems
        # 3 hosts x 2 generations, each a decision and a generation; one policy event
        assert r.size == before + 1 + 3 * 2 * 2
    assert len(a.store().list_generations()) == 6
