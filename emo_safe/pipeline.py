"""SafeGenerator: gate -> generate -> mark -> sign -> record. The generation front door.

Invariant: no generator frame reaches the caller or the disk unless the request passed the
gate and the frames were watermarked, signed and recorded. The video is encoded into a private
temporary directory next to the output, signed there, recorded in the ledger, and only then
moved into place with an atomic rename. Any failure removes the temporary directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from emo_safe import _fs
from emo_safe.disclosure import (
    AUDIO_NOTICE_DESCRIPTION,
    IMPLICIT_LABEL_STANDARD,
    add_visible_label,
    audio_notice,
    audio_notice_seconds,
    implicit_label,
    label_text,
)
from emo_safe.errors import GenerationRefused, GeneratorError, InputError
from emo_safe.faces import FaceAnalyzer
from emo_safe.fingerprint import FingerprintTap, recorded_audio_hashes
from emo_safe.gate.decision import Decision
from emo_safe.gate.gate import Gate, RequestOptions
from emo_safe.gate.policy import Policy
from emo_safe.generators.base import GenerationInput, Generator
from emo_safe.generators.options import validate as validate_options
from emo_safe.generators.registry import get_generator
from emo_safe.ledger.schema import ManifestRow
from emo_safe.ledger.store import GenerationRow, utcnow
from emo_safe.media import sha256_file, write_mp4
from emo_safe.provenance.read import TRUSTED, read_manifest
from emo_safe.provenance.sign import (
    GenerationClaim,
    TimestampUnavailable,
    build_manifest,
    fetch_certificate_status,
    sign_mp4,
)
from emo_safe.watermark import PAYLOAD_BYTES, WorkspaceAudioMarker, WorkspaceMarker
from emo_safe.workspace import Workspace

ProgressCallback = Callable[[int, int], None]


class MarkStage(Protocol):
    """Embeds the watermark into a frame stream; ``describe`` goes into the manifest."""

    def mark(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]: ...

    def describe(self, payload: bytes) -> dict: ...


class AudioMarkStage(Protocol):
    """Embeds the audio mark into the audio track before it is muxed."""

    def mark(self, audio, payload: bytes): ...  # media.Audio -> media.Audio

    def describe(self, payload: bytes) -> dict: ...


@dataclass(frozen=True)
class GenerationResult:
    generation_id: str
    output: Path
    decision: Decision
    manifest_label: str
    output_sha256: str
    frames: int
    generator: str
    watermark_payload: str

    def to_dict(self) -> dict:
        return {
            "generation_id": self.generation_id,
            "output": str(self.output),
            "decision": self.decision.to_dict(),
            "manifest_label": self.manifest_label,
            "output_sha256": self.output_sha256,
            "frames": self.frames,
            "generator": self.generator,
            "watermark_payload": self.watermark_payload,
        }


class SafeGenerator:
    """``generator``: a name or ``PREFIX:ARGUMENT`` from the registry, or a generator object.
    ``generator_options``: the settings the generator declares (validated by it);
    ``generator_timeout`` is the ``timeout`` option's shorthand. ``clock``: what "now" is for
    consent validity (tests pass a fixed one instead of sleeping)."""

    def __init__(self, workspace: Workspace, policy: Policy | str | Path | None = None,
                 generator: Generator | str = "puppet", marker: MarkStage | None = None,
                 analyzer: FaceAnalyzer | None = None,
                 audio_marker: AudioMarkStage | None = None,
                 generator_timeout: float | None = None,
                 generator_options: Mapping[str, object] | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.workspace = workspace.require()
        self.policy = policy if isinstance(policy, Policy) else workspace.load_policy(policy)
        self.store = workspace.store()
        self.gate = Gate.for_workspace(workspace, self.policy, analyzer, clock)
        self.generator = get_generator(generator) if isinstance(generator, str) else generator
        self.generator_options = dict(generator_options or {})
        if generator_timeout is not None:
            self.generator_options["timeout"] = generator_timeout
        self.marker = marker if marker is not None else _default_marker(workspace)
        self.audio_marker = audio_marker if audio_marker is not None else \
            WorkspaceAudioMarker(workspace.watermark_key())

    # ------------------------------------------------------------------------------------
    def check(self, photo: str | Path, consent_ids: list[str] | None = None, *,
              uses: tuple[str, ...] = (), audio_rights: str | None = None,
              visible_label: bool | None = None) -> Decision:
        """The gate's decision for a photo (recorded in the ledger); generates nothing."""
        options = RequestOptions(tuple(consent_ids or ()), tuple(uses), audio_rights,
                                 visible_label)
        request = self.gate.prepare(photo, None, options)
        return self.gate.evaluate(request, generator=None)

    def generate(self, photo: str | Path, audio: str | Path, output: str | Path,
                 consent_ids: list[str] | None = None, seed: int = 0, fps: float = 25.0,
                 size: int = 512, crf: int = 18,
                 progress: ProgressCallback | None = None, *, uses: tuple[str, ...] = (),
                 steps: int | None = None, guidance: float | None = None,
                 full_image: bool = False,
                 audio_rights: str | None = None,
                 visible_label: bool | None = None,
                 generator_options: Mapping[str, object] | None = None) -> GenerationResult:
        output = Path(output)
        _fs.check_new_output(output)
        raw = {**self.generator_options, **(generator_options or {})}
        for key, value in (("steps", steps), ("guidance", guidance)):
            if value is not None:
                raw[key] = value
        if full_image:
            raw["full_image"] = True
        settings = validate_options(self.generator, raw)  # before the gate: an input error
        options = RequestOptions(tuple(consent_ids or ()), tuple(uses), audio_rights,
                                 visible_label)
        request = self.gate.prepare(photo, audio, options)
        decision = self.gate.evaluate(request, generator=self.generator.name)
        if not decision.allowed:
            raise GenerationRefused(decision)
        if not request.faces:
            raise InputError("the policy allowed a photo without a face, but the generator "
                             "needs one to animate")
        label = visible_label if visible_label is not None else \
            decision.visible_label_required
        # Before any work: a wrong PIN, a missing token or a revoked signer ends it here.
        signer = self.workspace.load_signer()
        certificate_status = fetch_certificate_status(signer.chain_pem)

        generation_id = secrets.token_hex(PAYLOAD_BYTES)  # the watermark payload
        payload = bytes.fromhex(generation_id)
        inp = GenerationInput(image=request.image, face=request.faces[0], audio=request.audio,
                              seed=seed, fps=fps, size=size, options=settings)
        tmpdir = _fs.private_tempdir(output.parent)
        video = None
        try:
            try:
                video = self.generator.generate(inp)
            except Exception as exc:  # a third-party generator may raise anything
                raise GeneratorError(f"generator {self.generator.name!r} failed: {exc}") from None
            frames = _counted(video.frames, video.frame_count, self.generator.name, progress)
            if decision.audio_notice_required:  # first: the label and the mark cover it too
                frames, noticed = _with_audio_notice(frames, video.audio, video.fps)
                video = dataclasses.replace(video, audio=noticed)
                video.settings["audio_notice"] = AUDIO_NOTICE_DESCRIPTION
            if label:  # drawn before the mark, so the mark (and the manifest) cover it
                frames = add_visible_label(frames, decision.label_languages)
                video.settings["visible_label"] = label_text(decision.label_languages)
            frames = self.marker.mark(frames, payload)
            fingerprint = FingerprintTap(video.fps)
            frames = fingerprint.tap(frames)
            watermark = self.marker.describe(payload)
            audio_watermark = audio_hashes = None
            if video.audio is not None and video.audio.samples.size:  # after the notice
                video = dataclasses.replace(video, audio=self.audio_marker.mark(video.audio,
                                                                                payload))
                audio_watermark = self.audio_marker.describe(payload)
                video.settings["audio_watermark"] = audio_watermark["scheme"]
                audio_hashes = recorded_audio_hashes(video.audio)  # the audio's copy check
            raw = tmpdir / "raw.mp4"
            metadata = None
            if decision.implicit_label_required:  # before signing: the hard binding covers it
                metadata = implicit_label(self.workspace.label_producer, generation_id)
                video.settings["implicit_label"] = IMPLICIT_LABEL_STANDARD
            try:
                n = write_mp4(raw, frames, video.fps, video.audio, crf=crf, metadata=metadata)
            except (ValueError, GeneratorError) as exc:
                raise GeneratorError(f"generator {self.generator.name!r}: {exc}") from None

            claim = GenerationClaim(
                generation_id=generation_id,
                decision_id=decision.id,
                policy_name=decision.policy_name,
                policy_sha256=decision.policy_sha256,
                consent_ids=decision.consent_ids,
                generator=self.generator.name,
                generator_version=self.generator.version,
                settings=video.settings,
                input_sha256={"photo": request.photo_sha256, "audio": request.audio_sha256},
                watermark=watermark,
                duration_ms=round(1000 * n / video.fps) if video.fps else None,
                audio_watermark=audio_watermark,
                audio_duration_ms=round(1000 * min(video.audio.duration, n / video.fps))
                if audio_watermark and video.fps else None,
                input_types={"photo": _media_type(request.photo_path, "image/jpeg"),
                             "audio": _media_type(Path(audio), "audio/mp4")},
            )
            signed = tmpdir / "signed.mp4"
            manifest = build_manifest(claim, self.workspace.assertion_label,
                                      certificate_status=[certificate_status]
                                      if certificate_status else [])
            store = self._sign(raw, signed, manifest, signer)
            evidence = read_manifest(signed, self.workspace.trust_anchors_pem(),
                                     self.workspace.assertion_label)
            if evidence.state != TRUSTED:  # never publish what we could not verify ourselves
                raise GeneratorError(
                    f"the freshly signed video does not verify ({evidence.state}); not published"
                )
            digest = sha256_file(signed)
            self.store.add_generation(GenerationRow(
                id=generation_id,
                decision_id=decision.id,
                created_at=utcnow(),
                generator=self.generator.name,
                generator_version=self.generator.version,
                settings=json.dumps(video.settings, sort_keys=True),
                policy_sha256=decision.policy_sha256,
                photo_sha256=request.photo_sha256,
                audio_sha256=request.audio_sha256 or "",
                output_sha256=digest,
                manifest_id=evidence.manifest_label or "",
                watermark_payload=payload.hex(),
                consent_ids=json.dumps(decision.consent_ids),
                frames=n,
                fingerprint=json.dumps(dataclasses.replace(
                    fingerprint.fingerprint(), audio=audio_hashes).to_json()),
            ), ManifestRow(manifest_id=evidence.manifest_label or "", generation_id=generation_id,
                           store=store, binding_alg=watermark["scheme"],
                           binding_value=payload.hex()) if evidence.manifest_label else None)
            # Never over a file another run created meanwhile (checked atomically).
            _fs.publish(signed, output, replace=False)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
            close = getattr(video.frames, "close", None) if video is not None else None
            if close is not None:  # lets a generator remove its own files (command:)
                close()
        return GenerationResult(
            generation_id=generation_id,
            output=output,
            decision=decision,
            manifest_label=evidence.manifest_label or "",
            output_sha256=digest,
            frames=n,
            generator=self.generator.name,
            watermark_payload=payload.hex(),
        )


    def _sign(self, raw: Path, signed: Path, manifest: dict, signer) -> bytes:
        """Sign with the workspace's TSA; without it only where the config allows."""
        tsa_url = self.workspace.tsa_url
        try:
            return sign_mp4(raw, signed, manifest, signer, tsa_url)
        except TimestampUnavailable:
            if self.workspace.tsa_required:
                raise
            signed.unlink(missing_ok=True)
            return sign_mp4(raw, signed, manifest, signer, None)


def _with_audio_notice(frames: Iterator[np.ndarray], audio, fps: float):
    """The tonal notice before the audio, and the first frame held while it plays (so the
    lips stay in sync with the speech that follows)."""
    import itertools

    from emo_safe.media import Audio

    first = next(frames, None)
    if first is None:
        return iter(()), audio
    held = round(audio_notice_seconds() * fps)
    samples = np.concatenate([audio_notice(audio.rate), audio.samples.astype(np.float32)])
    return itertools.chain(itertools.repeat(first, held), [first], frames), \
        Audio(samples, audio.rate)


def _media_type(path: Path, fallback: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or fallback


def _counted(frames: Iterable[np.ndarray], total: int, name: str,
             progress: ProgressCallback | None) -> Iterator[np.ndarray]:
    """Pass the generator's frames on, reporting progress; its failures become GeneratorError."""
    it = iter(frames)
    i = 0
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except Exception as exc:  # a third-party generator may raise anything
            raise GeneratorError(f"generator {name!r} failed: {exc}") from None
        i += 1
        if progress is not None:
            progress(i, total)
        yield frame


def _default_marker(workspace: Workspace) -> MarkStage:
    return WorkspaceMarker(workspace.watermark_key())
