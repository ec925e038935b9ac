"""Shared fixtures: real workspaces, real photos (tests/data, see FACES-ATTRIBUTION.md),
real audio made with PyAV, and a CLI runner that keeps stdout and stderr apart."""

from __future__ import annotations

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


@pytest.fixture
def workspace(tmp_path_factory, monkeypatch) -> Workspace:
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
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
