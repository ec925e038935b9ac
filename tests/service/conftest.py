"""A real `emo-safe serve` process on a free loopback port, over a workspace with one consented
generation (made once per module)."""

from __future__ import annotations

import os

import pytest
from servers import start_server, stop_server

from emo_safe._resources import sample_path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A workspace with the sample portrait consented and one puppet generation."""
    from emo_safe import ConsentRegistry, SafeGenerator, Workspace

    root = tmp_path_factory.mktemp("service-ws")
    old = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("EMO_SAFE_")}
    try:
        ws = Workspace(root / "ws")
        ws.init()
        ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
        out = root / "ours.mp4"
        result = SafeGenerator(ws).generate(sample_path("portrait.jpg"),
                                            sample_path("speech.m4a"), out)
    finally:
        os.environ.update(old)
    return ws, result, out


@pytest.fixture(scope="module")
def server(deployment, tmp_path_factory):
    ws, _, _ = deployment
    s = start_server(ws.root, tmp_path_factory.mktemp("server"))
    yield s
    stop_server(s)
