"""Gathering evidence about a file: each source (C2PA, watermark, audio, ledger, repository) is
a small object
with ``name`` and ``gather(file, evidence) -> evidence``; :data:`SOURCES` registers them by
name, and a detector profile lists which to use. :class:`Evidence` is frozen: a source returns
a new one with its part filled in, so :func:`~emo_safe.verify.decide.decide` reads a plain
value and can be tested without decoding anything.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from emo_safe import fingerprint as fp
from emo_safe.disclosure import IMPLICIT_LABEL_TAG, read_implicit_label
from emo_safe.errors import InputError
from emo_safe.media import VideoInfo, check_manifest_box, iter_frames, read_ahead, sha256_file
from emo_safe.provenance.read import (
    ManifestEvidence,
    ManifestState,
    read_manifest,
    read_manifest_store,
)
from emo_safe.watermark import read_audio_for_detection
from emo_safe.watermark.scheme import (
    AudioWatermarkScheme,
    MultiAccumulator,
    WatermarkEvidence,
    WatermarkScheme,
    early_looks,
    strongest,
)


def _orientation(found: WatermarkEvidence | None) -> tuple[int, bool]:
    """The mirror and right-angle turn a mark's geometry says the video carries, to be undone
    before the frames are compared with the generation's fingerprint (a mirrored repost is
    still that generation). Other geometry (a zoom, a small rotation, a stretch) is left as it
    is: the whole-frame hashes cannot see through it, and the copy check stays strict."""
    g = found.geometry if found is not None and found.payload else None
    if not g or abs(g["zoom"] - 1) > 0.03 or abs(g["aspect"] - 1) > 0.03:
        return 0, False
    turns, rest = divmod(g["rotation"] + 45, 90)
    if abs(rest - 45) > 2:
        return 0, False
    return int(turns) % 4, bool(g["flip"])


@dataclass(frozen=True)
class TrackEvidence:
    """What one video track of the file showed."""

    index: int
    watermark: WatermarkEvidence | None = None
    fingerprint: fp.Fingerprint | None = None
    # the same of the pictures inside flat bars along the frames' edges (None: no bars)
    fingerprint_unbarred: fp.Fingerprint | None = None
    skipped: str | None = None  # why it was not examined (over a budget)

    def to_dict(self) -> dict:
        out = {"track": self.index,
               "watermark": self.watermark.to_dict() if self.watermark else None}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


@dataclass(frozen=True)
class LedgerMatch:
    """The generation the ledger links the file to, and how."""

    generation: dict  # the generation row's public view (ids and hashes)
    found_by: str  # "manifest", "output-hash", "watermark" or "audio-watermark"
    track: int | None = None  # for "watermark": the track whose payload named it
    stored_fingerprint: fp.Fingerprint | None = None


@dataclass(frozen=True)
class RecoveredManifest:
    """A generation's signed manifest store from the manifest repository, and whether it
    may be reported for this file: its signature and trust chain hold (only its hard binding
    may fail: the file was re-encoded), its soft binding names the decoded watermark (scheme
    and value), it is the generation's, and the video looks like that generation."""

    manifest_id: str
    evidence: ManifestEvidence
    accepted: bool
    problem: str | None = None

    def to_dict(self) -> dict:
        ev = self.evidence
        return {
            "manifest_id": self.manifest_id,
            "state": str(ev.state),
            "failure_codes": list(ev.failure_codes),
            "ai_generated": ev.ai_generated,
            "generator": ev.generator,
            "generation_id": (ev.generation or {}).get("generation_id"),
            "soft_binding": ev.soft_binding,
            "claim_generator": ev.claim_generator,
            "signer_issuer": ev.signer_issuer,
        }


@dataclass(frozen=True)
class Evidence:
    """Everything gathered about one file, before any decision."""

    path: Path
    container: str
    manifest: ManifestEvidence = ManifestEvidence(ManifestState.ABSENT)
    tracks: tuple[TrackEvidence, ...] = ()
    ledger: LedgerMatch | None = None
    output_sha256: str | None = None
    recovered: RecoveredManifest | None = None
    # GB 45438-2025's implicit label read from the container's AIGC tag (None: no tag)
    implicit_label: dict | None = None
    audio: WatermarkEvidence | None = None  # the audio mark's evidence (None: not read)
    audio_note: str | None = None  # why the audio was not (wholly) read
    # the generation the audio's payload names, when it is not the one the frames name
    audio_generation: dict | None = None
    # the suspicious audio's fingerprint hashes (fingerprint.candidate_audio_hashes)
    audio_hashes: tuple | None = None

    @property
    def audio_detected(self) -> bool:
        return self.audio is not None and self.audio.detected and self.audio.payload is not None

    @property
    def watermark(self) -> WatermarkEvidence | None:
        """The strongest watermark evidence over all tracks."""
        return strongest([t.watermark for t in self.tracks if t.watermark is not None])

    def track(self, index: int | None) -> TrackEvidence | None:
        return next((t for t in self.tracks if t.index == index), None)

    @property
    def fingerprint_similarity(self) -> float | None:
        """How well the track that named the ledger's generation matches that generation's
        recorded fingerprint (None when no watermark named a recorded generation): its frames
        as they are, or the pictures inside their flat bars, whichever matches better (a
        letterboxed or pillarboxed repost is still the generation; other content inside bars
        still does not look like it)."""
        compared = self._fingerprint_comparisons
        return max(compared) if compared else None

    @property
    def fingerprint_bars_removed(self) -> bool:
        """Whether the frames matched better with their flat bars taken off."""
        compared = self._fingerprint_comparisons
        return len(compared) == 2 and compared[1] > compared[0]

    @functools.cached_property  # the verdict and the repository check each read it
    def _fingerprint_comparisons(self) -> tuple[float, ...]:
        """The similarity of the frames as they are, then (when they had bars) of the
        pictures inside them."""
        if self.ledger is None or self.ledger.found_by != "watermark":
            return ()
        stored = self.ledger.stored_fingerprint
        track = self.track(self.ledger.track)
        if not stored or not stored.seconds or track is None or track.fingerprint is None:
            return ()
        return tuple(fp.similarity(f, stored)
                     for f in (track.fingerprint, track.fingerprint_unbarred) if f is not None)

    @functools.cached_property
    def audio_agreement(self) -> float | None:
        """When the audio mark named the ledger's generation: the share of fingerprint bits
        that agree between the file's audio and the generation's recorded audio (None: not
        compared -- no recorded audio fingerprint, or under 3 s of audio)."""
        if self.ledger is None or self.ledger.found_by != "audio-watermark":
            return None
        stored = self.ledger.stored_fingerprint
        if stored is None or not stored.audio or not self.audio_hashes:
            return None
        return fp.audio_agreement(list(self.audio_hashes), stored.audio)


@dataclass(frozen=True)
class ProbedFile:
    path: Path
    info: VideoInfo


class EvidenceSource(Protocol):
    name: str

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence: ...


class C2paSource:
    """The C2PA manifest, validated against the profile's trust anchors. The manifest box's
    declared size is checked first (a sparse file can declare a gigabyte)."""

    name = "c2pa"

    def __init__(self, anchors_pem: str, assertion_label: str, max_manifest_bytes: int,
                 ocsp_fetch: bool = False) -> None:
        self.anchors_pem = anchors_pem
        self.assertion_label = assertion_label
        self.max_manifest_bytes = max_manifest_bytes
        self.ocsp_fetch = ocsp_fetch

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence:
        if any(k in file.info.format for k in ("mp4", "mov")):
            check_manifest_box(file.path, self.max_manifest_bytes)
        manifest = read_manifest(file.path, self.anchors_pem, self.assertion_label,
                                 file.info.format, ocsp_fetch=self.ocsp_fetch)
        # The metadata labels travel with the manifest: both are file metadata, both are
        # stripped by a re-encode that drops metadata.
        label = read_implicit_label(file.info.tag(IMPLICIT_LABEL_TAG))
        return dataclasses.replace(evidence, manifest=manifest, implicit_label=label)


class WatermarkSource:
    """Every video track within the budgets, decoded once each: the watermark of every scheme
    the profile lists and the perceptual fingerprint ride on the same decode."""

    name = "watermark"

    def __init__(self, schemes: list[WatermarkScheme], max_p_value: float, max_frames: int,
                 max_frame_pixels: int, max_decoded_pixels: int, max_tracks: int,
                 early_looks: bool = True) -> None:
        self.early_looks = early_looks
        self.schemes = schemes
        self.max_p_value = max_p_value
        self.max_frames = max_frames
        self.max_frame_pixels = max_frame_pixels
        self.max_decoded_pixels = max_decoded_pixels
        self.max_tracks = max_tracks

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence:
        streams = file.info.streams
        if not streams:  # an audio file: the audio source reads it
            return evidence
        # The track players show first, then the others: a decoy track 0 must not hide the
        # marked one.
        order = sorted(streams, key=lambda s: (not s.default, s.index))
        budget = self.max_decoded_pixels
        tracks, examined = [], 0
        for stream in order:
            reason = None
            if stream.pixels > self.max_frame_pixels:
                reason = (f"{stream.width}x{stream.height} frames are over the limit of "
                          f"{self.max_frame_pixels / 1e6:.1f} megapixels")
            elif examined >= self.max_tracks:
                reason = f"only {self.max_tracks} video tracks are examined per file"
            elif budget < stream.pixels:
                reason = "the file's decoding budget is spent"
            if reason:
                tracks.append(TrackEvidence(stream.index, skipped=reason))
                continue
            frames_allowed = min(self.max_frames, budget // stream.pixels)
            tap = fp.FingerprintTap(stream.fps)
            # a long clip is looked at early; once its mark is conclusive the frames are
            # still decoded for the fingerprint (every second's hash), not gathered
            looks = early_looks(stream.fps, file.info.duration, frames_allowed) \
                if self.early_looks else ()
            acc = MultiAccumulator([s.accumulator(stream.fps) for s in self.schemes],
                                   looks=looks)
            n = 0
            for frame in read_ahead(iter_frames(file.path, max_frames=frames_allowed,
                                                stream=stream.index,
                                                max_pixels=self.max_frame_pixels)):
                tap.add(frame, n)
                acc.add(frame)
                n += 1
            budget -= n * stream.pixels
            found = strongest(acc.finish(self.max_p_value))
            if found is not None:
                found = dataclasses.replace(found, track=stream.index)
            orientation = _orientation(found)
            tracks.append(TrackEvidence(
                stream.index, found, tap.fingerprint(*orientation),
                tap.fingerprint(*orientation, unbarred=True) if tap.barred else None))
            examined += 1
        if not examined:
            raise InputError(f"{file.path}: no video track is within the detector's limits "
                             f"({tracks[0].skipped})")
        return dataclasses.replace(evidence, tracks=tuple(sorted(tracks, key=lambda t: t.index)))


class AudioSource:
    """The audio mark, read from the file's first audio track (a video's, or an audio file's
    own): at most ``max_seconds`` of it, decoded once to 16 kHz mono for every audio scheme
    the profile lists. A video whose audio cannot be decoded keeps its video evidence (the
    reason is noted); an audio file whose audio cannot be decoded is an input error."""

    name = "audio"

    def __init__(self, schemes: list[AudioWatermarkScheme], max_p_value: float,
                 max_seconds: float, time_scale_search: bool = True) -> None:
        self.schemes = schemes
        self.max_p_value = max_p_value
        self.max_seconds = max_seconds
        self.time_scale_search = time_scale_search

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence:
        if not file.info.has_audio or not self.schemes:
            return evidence
        try:
            audio = read_audio_for_detection(file.path, self.max_seconds)
        except InputError as exc:
            if not file.info.streams:
                raise
            return dataclasses.replace(evidence, audio_note=f"the audio track was not read: "
                                       f"{exc.message}")
        note = None
        if file.info.duration is not None and file.info.duration > self.max_seconds + 1:
            note = (f"only the first {self.max_seconds:.0f} s of the audio were read (the "
                    "profile's max_audio_seconds)")
        found = strongest([s.detect(audio, self.max_p_value,
                                    time_scale_search=self.time_scale_search)
                           for s in self.schemes])
        needed = max(getattr(s, "min_reliable_seconds", 0.0) for s in self.schemes)
        if (found is None or found.payload is None) and audio.duration < needed:
            # An analyst must not read "not detected" on a short voice note as "not ours".
            note = (f"the audio is {audio.duration:.2f} s long: under {needed:g} s the audio "
                    "mark may be too weak to read, so a generation this short can go "
                    "unrecognised")
        hashes = None
        if found is not None and found.payload is not None:  # for the copy check
            hashes = tuple(fp.candidate_audio_hashes(audio.samples, found.scale))
        return dataclasses.replace(evidence, audio=found, audio_note=note, audio_hashes=hashes)


class LedgerSource:
    """The generation this deployment recorded for the file: by the trusted manifest's id, by
    the file's hash (the exact file published), or by a decoded watermark payload."""

    name = "ledger"

    def __init__(self, store) -> None:
        self.store = store

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence:
        ev = evidence.manifest
        if ev.generation and ev.state == ManifestState.TRUSTED:
            row = self.store.get_generation(str(ev.generation.get("generation_id", "")))
            if row is not None:
                return dataclasses.replace(evidence, ledger=LedgerMatch(row.public_dict(),
                                                                        "manifest"))
        digest = sha256_file(file.path)
        evidence = dataclasses.replace(evidence, output_sha256=digest)
        row = self.store.find_generation(output_sha256=digest)
        if row is not None:
            return dataclasses.replace(evidence, ledger=LedgerMatch(row.public_dict(),
                                                                    "output-hash"))
        audio, audio_stored = self._audio_generation(evidence)
        payloads = sorted((t for t in evidence.tracks if t.watermark and t.watermark.payload),
                          key=lambda t: t.watermark.p_value)
        for track in payloads:
            row = self.store.find_generation(watermark_payload=track.watermark.payload)
            if row is not None:
                stored = _stored_fingerprint(row)
                other = audio if audio is not None and audio["id"] != row.id else None
                return dataclasses.replace(evidence, audio_generation=other, ledger=LedgerMatch(
                    row.public_dict(), "watermark", track.index, stored))
        if audio is not None:
            return dataclasses.replace(evidence, ledger=LedgerMatch(
                audio, "audio-watermark", stored_fingerprint=audio_stored))
        return evidence

    def _audio_generation(self, evidence: Evidence) -> tuple[dict | None,
                                                             fp.Fingerprint | None]:
        if not evidence.audio_detected:
            return None, None
        row = self.store.find_generation(watermark_payload=evidence.audio.payload)
        if row is None:
            return None, None
        return row.public_dict(), _stored_fingerprint(row)


def _stored_fingerprint(row) -> fp.Fingerprint:
    """A generation row's recorded fingerprint (an empty one for a row that has none)."""
    return fp.Fingerprint.from_json(json.loads(row.fingerprint or "[]"))


class RepositorySource:
    """When the file carries no trusted manifest but its watermark named a recorded
    generation: that generation's manifest store from the manifest repository, validated as
    the C2PA specification asks of a recovered manifest (see :class:`RecoveredManifest`)."""

    name = "repository"

    def __init__(self, store, anchors_pem: str, assertion_label: str,
                 ocsp_fetch: bool = False) -> None:
        self.store = store
        self.anchors_pem = anchors_pem
        self.assertion_label = assertion_label
        self.ocsp_fetch = ocsp_fetch

    def gather(self, file: ProbedFile, evidence: Evidence) -> Evidence:
        match = evidence.ledger
        wm = evidence.audio if match is not None and match.found_by == "audio-watermark" \
            else evidence.watermark
        if evidence.manifest.state == ManifestState.TRUSTED or match is None \
                or match.found_by not in ("watermark", "audio-watermark") or wm is None \
                or wm.payload is None:
            return evidence
        row = self.store.manifest_for_generation(match.generation["id"])
        if row is None:
            return evidence
        ev = read_manifest_store(row.store, self.anchors_pem, self.assertion_label,
                                 ocsp_fetch=self.ocsp_fetch)
        problem = None
        if ev.state != ManifestState.TRUSTED:
            problem = (f"its signature or trust chain does not hold ({ev.state}: "
                       f"{', '.join(ev.failure_codes) or 'no details'})")
        elif not ev.binds(wm.scheme, wm.payload):
            problem = (f"its soft binding does not name this file's watermark ({wm.scheme} "
                       f"{wm.payload})")
        elif (ev.generation or {}).get("generation_id") != match.generation["id"]:
            problem = "it belongs to another generation"
        elif evidence.fingerprint_similarity is not None and \
                evidence.fingerprint_similarity < fp.MATCH_SHARE:
            problem = "the video does not look like the generation it describes"
        elif evidence.audio_agreement is not None and \
                evidence.audio_agreement < fp.AUDIO_MATCH:
            problem = "the audio does not sound like the generation it describes"
        return dataclasses.replace(evidence, recovered=RecoveredManifest(
            row.manifest_id, ev, problem is None, problem))


# name -> the source's class; the detector builds the ones its profile lists, in this order
SOURCES: dict[str, Callable[..., EvidenceSource]] = {
    "c2pa": C2paSource,
    "watermark": WatermarkSource,
    "audio": AudioSource,
    "ledger": LedgerSource,
    "repository": RepositorySource,
}


def gather(file: ProbedFile, sources: list[EvidenceSource]) -> Evidence:
    """Run the sources in order over one file; each sees what the earlier ones found."""
    evidence = Evidence(file.path, file.info.format)
    for source in sources:
        evidence = source.gather(file, evidence)
    return evidence
