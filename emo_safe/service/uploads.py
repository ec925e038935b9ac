"""Receiving a stranger's file: streamed to a private temporary file, bounded, sniffed.

- The body is read in chunks straight to disk (a private folder, mode 0700; the file 0600),
  so memory stays flat whatever the upload's size; past the limit the reading stops with 413
  (a declared Content-Length over the limit is refused before a byte is read).
- A multipart body (the page's form, ``curl -F file=@clip.mp4``) is parsed as it streams;
  only the part named ``file`` is kept. A raw body (``curl --data-binary @clip.mp4 -H
  'Content-Type: video/mp4'``) is taken whole.
- The type comes from the content, never the name or the declared type: ISO BMFF (MP4, MOV,
  M4A) and Matroska (WebM, MKV) are videos; WAV, FLAC, Ogg (Opus, Vorbis) and MP3 are audio
  (read for the audio mark); anything else is 415.
- The caller deletes the file when the answer is sent (:class:`Upload` is a context manager):
  nothing of an upload is kept.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header


class UploadError(Exception):
    """One clear reason an upload is refused, with its HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"uuid"}


def sniff(head: bytes) -> str | None:
    """The media type from the first bytes (``video/mp4``, ``video/x-matroska``,
    ``audio/wav``, ``audio/flac``, ``audio/ogg``, ``audio/mpeg``), else None."""
    if len(head) >= 8 and head[4:8] in _BMFF_BOXES:
        return "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/x-matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 in
                              (0xE2, 0xE4, 0xE6)):  # an MPEG audio frame: layer III, II or I
        return "audio/mpeg"
    return None


@dataclass
class Upload:
    path: Path
    size: int
    media_type: str

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc) -> None:
        self.delete()

    def delete(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


async def receive(request, folder: Path, max_bytes: int) -> Upload:
    """The request's file as an :class:`Upload` in ``folder``; :class:`UploadError` for an
    empty, oversized, malformed or non-video upload (nothing is left behind)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise UploadError(413, "too-large", f"the upload is over the limit of "
                                  f"{max_bytes / 1e6:.0f} MB")
        except ValueError:
            raise UploadError(400, "bad-request", "invalid Content-Length") from None
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".bin", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            size = await (_multipart(request, out, params.get(b"boundary"), max_bytes)
                          if ctype == b"multipart/form-data" else _raw(request, out, max_bytes))
        if size == 0:
            raise UploadError(400, "empty", "the upload is empty (send the video as the "
                              "multipart field 'file' or as the request body)")
        with open(path, "rb") as fh:
            kind = sniff(fh.read(64))
        if kind is None:
            raise UploadError(415, "unsupported-type", "the upload is not a video or audio "
                              "file this service reads (MP4, MOV, M4A, WebM, MKV, WAV, FLAC, "
                              "Ogg, MP3), whatever its name or declared type")
        return Upload(path, size, kind)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _raw(request, out, max_bytes: int) -> int:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise UploadError(413, "too-large", f"the upload is over the limit of "
                              f"{max_bytes / 1e6:.0f} MB")
        out.write(chunk)
    return size


async def _multipart(request, out, boundary: bytes | None, max_bytes: int) -> int:
    if not boundary:
        raise UploadError(400, "bad-request", "a multipart upload needs a boundary")
    state = {"headers": {}, "field": b"", "value": b"", "keep": False, "size": 0, "files": 0}

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["keep"] = disposition.get(b"name") == b"file" and state["files"] == 0
        state["files"] += int(state["keep"])

    def on_part_data(data, start, end):
        if state["keep"]:
            state["size"] += end - start
            out.write(data[start:end])

    def on_part_begin():
        state["headers"] = {}

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes + 64 * 1024:  # the file plus the form's framing
                raise UploadError(413, "too-large", f"the upload is over the limit of "
                                  f"{max_bytes / 1e6:.0f} MB")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception:  # python-multipart raises its own errors for a malformed body
        raise UploadError(400, "bad-request", "the multipart body is malformed") from None
    if not state["files"]:
        raise UploadError(400, "empty", "no multipart field named 'file' in the upload")
    if state["size"] > max_bytes:
        raise UploadError(413, "too-large", f"the upload is over the limit of "
                          f"{max_bytes / 1e6:.0f} MB")
    return state["size"]
