"""What runs where a file is verified (this process, a pool process, a cluster worker): the
detector, built once per process from the workspace and profile *paths* — keys are read there,
never carried in a task — and the task that turns one input into one row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emo_safe.batch.inputs import local_input
from emo_safe.batch.rows import Row, row_for_exception

_DETECTORS: dict[tuple[str, str | None], object] = {}


def detector_for(workspace_root: str, profile: str | None):
    """This process's detector for the workspace and profile (built on first use)."""
    key = (workspace_root, profile)
    if key not in _DETECTORS:
        from emo_safe.verify import Detector
        from emo_safe.workspace import Workspace

        _DETECTORS[key] = Detector(Workspace(Path(workspace_root)), profile=profile)
    return _DETECTORS[key]


@dataclass(frozen=True)
class VerifyTask:
    """Verify one input. Small and picklable: paths and names, nothing secret."""

    workspace_root: str
    profile: str | None = None
    thumbnails: bool = False  # take a few frames for the HTML report where the file is read

    def __call__(self, item: str) -> Row:
        """The input's row; a failure of any kind is an error row, never an exception."""
        try:
            detector = detector_for(self.workspace_root, self.profile)
            limit = int(detector.profile.limits.max_file_mb * 1e6)
            with local_input(item, limit) as path:
                verdict = detector.verify(path)
                data = verdict.to_dict()
                data["file"] = item  # as given (a URL stays a URL)
                thumbs = ()
                if self.thumbnails:
                    from emo_safe.report import thumbnails_for

                    thumbs = tuple(thumbnails_for(data, path))
        except Exception as exc:  # a parser bug on a hostile file must not stop the batch
            return row_for_exception(item, exc)
        return Row(verdict.exit_code, data, verdict, thumbs)


def emo_safe_version() -> str:
    """Run on every worker when a batch starts: a worker without emo-safe, or with another
    version, is found before any file is sent."""
    from emo_safe._version import __version__

    return __version__
