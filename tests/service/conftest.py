"""A real `emo-safe serve` process on a free loopback port, over a workspace with one consented
generation (made once per module)."""

from __future__ import annotations

import pytest
from servers import consented_sample_workspace, emo_safe_settings_removed, start_server, stop_server

from emo_safe._resources import sample_path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A workspace with the sample portrait consented and one puppet generation."""
    from emo_safe import SafeGenerator

    root = tmp_path_factory.mktemp("service-ws")
    out = root / "ours.mp4"
    with emo_safe_settings_removed():
        ws = consented_sample_workspace(root / "ws")
        result = SafeGenerator(ws).generate(sample_path("portrait.jpg"),
                                            sample_path("speech.m4a"), out)
    return ws, result, out


@pytest.fixture(scope="module")
def server(deployment, tmp_path_factory):
    ws, _, _ = deployment
    s = start_server(ws.root, tmp_path_factory.mktemp("server"))
    yield s
    stop_server(s)
