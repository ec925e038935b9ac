"""What a batch reads: local paths (a directory stands for every regular file under it,
sorted) and fsspec URLs (``file://``, ``s3://``, ``gs://``, ... with the filesystem's package
installed). A URL is read by the process that verifies it — a cluster worker — never copied
through the client; only directory listings are made where the batch starts."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from emo_safe import _fs
from emo_safe.errors import InputError, InstallationError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK = 1 << 20


def is_url(item: str) -> bool:
    return bool(_URL.match(str(item)))


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise InstallationError("URL inputs need fsspec: pip install 'emo-safe[cluster]'") \
            from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # e.g. s3:// without s3fs
        raise InputError(f"{url}: this kind of URL needs a package that is not installed "
                         f"({exc.name or exc})") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{url}: not a URL emo-safe can read ({exc})") from None


def expand_inputs(items: Iterable[str | Path]) -> list[str]:
    """Inputs as given; a directory (local, or a URL that names one) becomes every file under
    it, sorted. A URL that cannot be listed raises InputError."""
    out: list[str] = []
    for item in items:
        item = str(item)
        if is_url(item):
            out.extend(_expand_url(item))
            continue
        p = Path(item)
        if p.is_dir():
            out.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file())
        else:
            out.append(item)
    return out


def _expand_url(url: str) -> list[str]:
    fs, path = _filesystem(url)
    try:
        if not fs.isdir(path):
            return [url]
        return [fs.unstrip_protocol(f) for f in sorted(fs.find(path))]
    except OSError as exc:
        raise InputError(f"{url}: cannot list it ({exc.strerror or type(exc).__name__})") \
            from None


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return bool({"file", "local"} & set(protocol))


@contextmanager
def local_input(item: str, max_bytes: int) -> Iterator[Path]:
    """The input as a local file for as long as it is needed: a local path as it is, a URL on
    the local filesystem as its path, any other URL copied (at most ``max_bytes``) into a
    private temporary folder that is removed afterwards."""
    if not is_url(item):
        yield Path(item)
        return
    fs, path = _filesystem(item)
    if _is_local(fs):
        yield Path(path)
        return
    folder = _fs.private_tempdir(prefix=".emo-safe-input-")
    try:
        target = folder / (Path(path).name or "input")
        size = 0
        try:
            with fs.open(path, "rb") as src, target.open("xb") as dst:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise InputError(f"{item} is larger than the profile's limit "
                                         f"({max_bytes / 1e6:.0f} MB)")
                    dst.write(chunk)
        except FileNotFoundError:
            raise InputError(f"{item}: no such object") from None
        except OSError as exc:
            raise InputError(f"{item}: cannot read it ({exc.strerror or type(exc).__name__})") \
                from None
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
