"""The detection front door: :class:`Detector` gathers evidence about a file with the sources
its profile lists, decides, and returns a frozen :class:`Verdict`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emo_safe.errors import InputError, KeyFileError, ProfileError, WorkspaceError
from emo_safe.media import probe
from emo_safe.provenance.read import ManifestEvidence
from emo_safe.verify.decide import Outcome, decide
from emo_safe.verify.evidence import (
    AudioSource,
    C2paSource,
    Evidence,
    EvidenceSource,
    LedgerSource,
    ProbedFile,
    RecoveredManifest,
    RepositorySource,
    WatermarkSource,
    gather,
)
from emo_safe.verify.profile import DetectorProfile, load_profile, resolve_ledger_url
from emo_safe.watermark.scheme import WatermarkEvidence, get_scheme


@dataclass(frozen=True)
class Verdict:
    path: Path
    outcome: Outcome
    reasons: tuple[str, ...]
    evidence: Evidence
    profile: str
    threshold: float

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def manifest(self) -> ManifestEvidence:
        return self.evidence.manifest

    @property
    def watermark(self) -> WatermarkEvidence | None:
        return self.evidence.watermark

    @property
    def audio(self) -> WatermarkEvidence | None:
        """The audio mark's evidence (None: no audio track, or no audio scheme listed)."""
        return self.evidence.audio

    @property
    def recovered(self) -> RecoveredManifest | None:
        """The Content Credential recovered from the manifest repository, when it may be
        reported for this file (see RecoveredManifest); None otherwise."""
        r = self.evidence.recovered
        return r if r is not None and r.accepted and \
            self.outcome == Outcome.GENERATED_MANIFEST_STRIPPED else None

    @property
    def ledger(self) -> dict | None:
        """The generation the verdict rests on; never shown for an inconsistent verdict's
        named generation as if it were this file's."""
        match = self.evidence.ledger
        return match.generation if match is not None else None

    def to_dict(self) -> dict:
        out = {
            "file": str(self.path),
            "outcome": str(self.outcome),
            "reasons": list(self.reasons),
            "c2pa": self.manifest.to_dict(),
            "watermark": self.watermark.to_dict() if self.watermark else None,
            "audio": self.audio.to_dict() if self.audio else None,
            "ledger": self.ledger,
            "profile": self.profile,
            "tracks": [t.to_dict() for t in self.evidence.tracks],
            "recovered_manifest": self.recovered.to_dict() if self.recovered else None,
            "implicit_label": self.evidence.implicit_label,
        }
        similarity = self.evidence.fingerprint_similarity
        if similarity is not None:
            out["fingerprint_similarity"] = similarity
        agreement = self.evidence.audio_agreement
        if agreement is not None:
            out["audio_fingerprint_agreement"] = round(agreement, 4)
        return out


class Detector:
    def __init__(self, workspace, extra_anchors_pem: str = "",
                 profile: DetectorProfile | str | Path | None = None) -> None:
        self.workspace = workspace
        if isinstance(profile, DetectorProfile):
            self.profile, base = profile, workspace.root
        else:
            self.profile, path = load_profile(profile, workspace)
            base = path.parent
        self.sources = self._sources(base, extra_anchors_pem)

    def _sources(self, base: Path, extra_anchors_pem: str) -> list[EvidenceSource]:
        p, workspace = self.profile, self.workspace
        initialized = workspace.is_initialized()

        def need_workspace(what: str) -> None:
            if not initialized:
                raise WorkspaceError(f"detector profile {p.name!r} uses the workspace's {what}, "
                                     f"but there is no workspace at {workspace.root}")

        built: list[EvidenceSource] = []
        lim = p.limits
        anchors = self._anchors(base) + extra_anchors_pem
        store = None
        key: bytes | None = None
        for name in p.evidence.sources:
            if name == "c2pa":
                built.append(C2paSource(anchors, workspace.assertion_label,
                                        int(lim.max_manifest_mb * 1e6),
                                        ocsp_fetch=p.trust.revocation == "online"))
            elif name in ("watermark", "audio"):
                key = key or self._watermark_key(base, need_workspace)
                if key is None:
                    continue
                schemes = [get_scheme(s, key) for s in p.watermark.scheme_ids()]
                if p.watermark.key_id and all(s.key_id != p.watermark.key_id for s in schemes):
                    raise ProfileError(f"detector profile {p.name!r}: the watermark key is not "
                                       f"the one the profile names (key_id "
                                       f"{p.watermark.key_id})")
                if name == "audio":
                    built.append(AudioSource([s for s in schemes if s.medium == "audio"],
                                             p.watermark.max_p_value, lim.max_audio_seconds,
                                             p.watermark.audio_time_scale_search))
                    continue
                built.append(WatermarkSource(
                    [s for s in schemes if s.medium == "video"], p.watermark.max_p_value,
                    lim.max_frames, int(lim.max_frame_megapixels * 1e6),
                    int(lim.max_decoded_megapixels * 1e6), lim.max_video_tracks,
                    early_looks=p.watermark.early_looks))
            elif name == "ledger":
                store = self._ledger(base, initialized)
                if store is not None:
                    built.append(LedgerSource(store))
            elif name == "repository":
                store = store or self._ledger(base, initialized)
                if store is not None:
                    built.append(RepositorySource(store, anchors, workspace.assertion_label,
                                                  ocsp_fetch=p.trust.revocation == "online"))
        return built

    def _anchors(self, base: Path) -> str:
        from emo_safe.errors import read_file_text

        out = []
        for item in self.profile.trust.anchors:
            if item == "workspace":
                out.append(self.workspace.trust_anchors_pem())
                continue
            try:
                out.append(read_file_text(base / item, "trust anchor", ProfileError))
            except ProfileError as exc:
                raise ProfileError(f"detector profile {self.profile.name!r}: {exc.message}") \
                    from None
        return "".join(out)

    def _watermark_key(self, base: Path, need_workspace) -> bytes | None:
        key = self.profile.watermark.key
        if key == "none":
            return None
        if key == "workspace":
            need_workspace("watermark key")
            return self.workspace.watermark_key()
        from emo_safe.keys import load_secret_key

        try:
            return load_secret_key(base / key)
        except KeyFileError as exc:
            raise ProfileError(f"detector profile {self.profile.name!r}: {exc.message}") \
                from None

    def _ledger(self, base: Path, initialized: bool):
        url = self.profile.ledger.url
        if url == "none":
            return None
        if url == "workspace":
            return self.workspace.store(create=False) if initialized else None
        from emo_safe.ledger.store import LedgerStore

        # A verifier never creates a ledger: a mistyped path is an error, not an empty
        # database that makes every fingerprint check silently pass.
        return LedgerStore(resolve_ledger_url(url, base), create=False)

    def gather(self, path: str | Path) -> Evidence:
        """Probe the file (unreadable, corrupt or oversized input: InputError, exit 2) and run
        every evidence source over it. An audio file (no video track) is accepted when the
        profile reads the audio mark."""
        path = Path(path)
        info = probe(path, max_bytes=int(self.profile.limits.max_file_mb * 1e6),
                     allow_audio_only=self._reads_audio())
        if info.format == "image2" or info.format.endswith("_pipe"):
            raise InputError(f"{path} is an image ({info.format}), not a video")
        return gather(ProbedFile(path, info), self.sources)

    def _reads_audio(self) -> bool:
        return any(isinstance(s, AudioSource) and s.schemes for s in self.sources)

    def verify(self, path: str | Path) -> Verdict:
        evidence = self.gather(path)
        threshold = self.profile.watermark.max_p_value
        outcome, reasons = decide(evidence, threshold)
        return Verdict(Path(path), outcome, reasons, evidence, self.profile.name, threshold)
