"""What runs where a file is verified: the allocator setting a Dask worker starts with is
undone, so decoded frames are reused from the heap instead of mapped anew each time."""

from __future__ import annotations

import subprocess
import sys

ALLOCATE = """
import resource, sys
import numpy as np
if sys.argv[1] == "undo":
    from emo_safe.batch.work import _keep_frame_buffers_on_the_heap
    _keep_frame_buffers_on_the_heap()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    frame = np.ones((512, 512, 3), np.float32)  # 3 MB, as a decoded frame's float copy
    del frame
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    env = {"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", ALLOCATE, mode], capture_output=True, text=True,
                       env=env, timeout=120, check=True)
    return int(r.stdout.strip())


def test_frames_come_from_the_heap_again_under_the_dask_nannys_trim_threshold():
    mapped_each_time = _page_faults("as-started")
    assert mapped_each_time > 200 * 500  # ~768 pages a frame: every frame is a fresh mapping
    assert _page_faults("undo") < mapped_each_time / 10
