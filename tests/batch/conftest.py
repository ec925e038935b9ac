"""A folder of mixed inputs (ours, ours re-encoded, tampered, unrelated, hostile) over one
workspace, made once per module, and a real Dask LocalCluster of two worker processes."""

from __future__ import annotations

import shutil

import pytest
from factories import write_video
from servers import consented_sample_workspace, emo_safe_settings_removed

from emo_safe._resources import sample_path


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """(workspace, folder): 3 generations, each also re-encoded (manifest stripped), one
    tampered, 2 unrelated videos and 4 hostile files: 13 inputs."""
    from emo_safe import SafeGenerator
    from emo_safe.media import iter_frames, write_mp4

    root = tmp_path_factory.mktemp("batch")
    folder = root / "inbox"
    folder.mkdir()
    with emo_safe_settings_removed():
        ws = consented_sample_workspace(root / "ws")
        for i in range(3):
            out = folder / f"ours-{i}.mp4"
            SafeGenerator(ws, generator="still").generate(sample_path("portrait.jpg"),
                                                          sample_path("speech.m4a"), out)
            write_mp4(folder / f"reposted-{i}.mp4", list(iter_frames(out)), 25, None, crf=26)
    data = bytearray((folder / "ours-0.mp4").read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + (len(data) - mdat) // 2] ^= 0x80
    (folder / "tampered.mp4").write_bytes(bytes(data))
    write_video(folder / "unrelated-0.mp4")
    write_video(folder / "unrelated-1.mp4", frames=30)
    (folder / "text.mp4").write_text("this is not a video")
    (folder / "empty.mp4").write_bytes(b"")
    whole = (folder / "ours-1.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    shutil.copy(sample_path("portrait.jpg"), folder / "photo.jpg")
    return ws, folder


@pytest.fixture(scope="module")
def dask_cluster():
    """A real scheduler and two worker processes on loopback; yields its Client."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
