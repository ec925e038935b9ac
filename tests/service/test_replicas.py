"""Two `emo-safe serve` processes on two hosts' workspaces over one PostgreSQL ledger and
manifest repository, with no local state shared: what a generation on one host stored is
found through the other, and requests spread over both get the same answers."""

from __future__ import annotations

import base64
import itertools
import os

import pytest
from factories import postgres_workspace
from servers import start_server, stop_server

from emo_safe._resources import sample_path
from emo_safe.media import iter_frames, write_mp4
from emo_safe.watermark import DEFAULT_SCHEME


@pytest.fixture
def two_hosts(postgres_url, tmp_path, monkeypatch):
    from emo_safe import ConsentRegistry, Workspace

    for name in [k for k in os.environ if k.startswith("EMO_SAFE_")]:
        monkeypatch.delenv(name)
    a = postgres_workspace(tmp_path / "host-a", postgres_url)
    ConsentRegistry.for_workspace(a).add("sample", sample_path("portrait.jpg"))
    b = Workspace(tmp_path / "host-b")
    b.init_replica(a)
    servers = [start_server(ws.root, tmp_path / f"server-{k}") for k, ws in enumerate((a, b))]
    yield a, b, servers
    for s in servers:
        stop_server(s)


def test_a_generation_through_one_host_is_found_through_the_other(two_hosts, tmp_path):
    from emo_safe import SafeGenerator

    a, b, (server_a, server_b) = two_hosts
    made = {}
    for name, ws in (("a", a), ("b", b)):
        out = tmp_path / f"from-{name}.mp4"
        made[name] = (SafeGenerator(ws, generator="still").generate(
            sample_path("portrait.jpg"), sample_path("speech.m4a"), out), out)
    for name, other in (("a", server_b), ("b", server_a)):
        result, _ = made[name]
        value = base64.b64encode(bytes.fromhex(result.watermark_payload)).decode()
        with other.client() as c:
            found = c.get("/v1/matches/byBinding",
                          params={"alg": DEFAULT_SCHEME, "value": value}).json()
            assert found == {"matches": [{"manifestId": result.manifest_label,
                                          "similarityScore": 100}]}
            assert c.get(f"/v1/manifests/{result.manifest_label}").status_code == 200

    # Stripped copies of both, load-balanced round robin over the two servers.
    copies = []
    for name, (result, out) in made.items():
        copy = tmp_path / f"reposted-{name}.mp4"
        write_mp4(copy, list(iter_frames(out)), 25, None, crf=26)
        copies.append((result, copy))
    balance = itertools.cycle((server_a, server_b))
    for result, copy in copies * 2:
        with next(balance).client() as c:
            row = c.post("/v1/verify", content=copy.read_bytes(),
                         headers={"Content-Type": "video/mp4"}).json()
        assert row["outcome"] == "generated-manifest-stripped"
        assert row["recovered_manifest"]["manifest_id"] == result.manifest_label
        assert row["ledger"]["id"] == result.generation_id
