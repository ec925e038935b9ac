"""Shared fixtures: real workspaces, real photos (tests/data, see FACES-ATTRIBUTION.md),
real audio made with PyAV, and a CLI runner that keeps stdout and stderr apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from emo_safe._resources import sample_path
from emo_safe.cli import main
from emo_safe.workspace import Workspace

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A real PostgreSQL server on loopback: $EMO_SAFE_TEST_POSTGRES_URL (set by .ci/run), else
    one started here by scripts/postgres-test-server. There is no silent skip: the ledger
    tests must run on both backends."""
    from pg_scratch import postgres_admin_url

    try:
        return postgres_admin_url()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def postgres_url(postgres_admin_url):
    """A fresh, empty database on that server, dropped afterwards."""
    from pg_scratch import scratch_database

    with scratch_database(postgres_admin_url, "emo_safe_test") as url:
        yield url


@pytest.fixture(params=["sqlite"])
def ledger_backend(request) -> str:
    """The ledger database the workspace uses. tests/ledger runs every test on both."""
    return request.param


@pytest.fixture
def workspace(tmp_path_factory, monkeypatch, ledger_backend, request) -> Workspace:
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("EMO_SAFE_DATABASE_URL", raising=False)
    if ledger_backend == "postgresql":
        monkeypatch.setenv("EMO_SAFE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    ws = Workspace(tmp_path_factory.mktemp("workspace"))
    ws.init()
    monkeypatch.setenv("EMO_SAFE_HOME", str(ws.root))
    return ws


@pytest.fixture
def portrait() -> Path:
    return sample_path("portrait.jpg")


@pytest.fixture
def speech() -> Path:
    return sample_path("speech.m4a")


@pytest.fixture
def cli(workspace):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["--workspace", str(workspace.root), *args],
                             catch_exceptions=False)

    return run


@pytest.fixture
def consented(workspace, portrait):
    """The sample portrait enrolled with consent."""
    from emo_safe.gate.consent import ConsentRegistry

    return ConsentRegistry.for_workspace(workspace).add("sample person", portrait)


@pytest.fixture
def consents(workspace):
    """The workspace's consent registry (signs with the workspace's operator key)."""
    from emo_safe.gate.consent import ConsentRegistry

    return ConsentRegistry.for_workspace(workspace)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the audit report's screenshot test needs Debian's chromium "
                    "(apt-get install chromium; .ci/run installs it)")
    return path
