"""Shared by the external-program tests (command: and the presets)."""

import tempfile

import pytest


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Where the adapters' private work directories go, to check that none is left behind."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
