"""The gate's rules. Each has one method, ``evaluate(request) -> RuleResult``: the findings
(none: the rule is satisfied) and the facts it established (ids, names, hashes: never
biometric data). Rules never write into the request; :class:`AllOf` hands each rule a copy of
the request that carries what the rules before it established. Finding codes are stable;
docs/policy-language.md lists them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from emo_safe.gate.consent import ConsentRecord
from emo_safe.gate.decision import Finding, RuleResult
from emo_safe.ledger.store import as_utc

if TYPE_CHECKING:  # pragma: no cover
    from emo_safe.gate.request import GateRequest


class Rule(Protocol):
    def evaluate(self, request: GateRequest) -> RuleResult: ...


class AllOf:
    """Every rule must pass; the findings of all failing rules are returned together. An empty
    ``AllOf`` refuses: a policy that checks nothing is a mistake, not a permission."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules

    def evaluate(self, request: GateRequest) -> RuleResult:
        if not self.rules:
            return RuleResult.of([Finding("empty-policy", "the policy has no rules, so nothing "
                                          "is allowed")])
        findings: list[Finding] = []
        facts: dict[str, object] = dict(request.established)
        for rule in self.rules:
            seen = dataclasses.replace(request, established=MappingProxyType(dict(facts)))
            result = rule.evaluate(seen)
            findings.extend(result.findings)
            facts.update(result.facts)
        return RuleResult(tuple(findings), MappingProxyType(facts))


class UnsafeNoOp:
    """Allows everything, and says so with a warning. Only for tests of the machinery around
    the gate: no policy file can name it."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        warnings.warn("UnsafeNoOp allows every request without checking anything",
                      stacklevel=2)
        return RuleResult()


def _face(i: int) -> str:
    return f"face {i}"


class FaceRequired:
    """Refuse a photo in which no face could be found (after the thorough search, if enabled):
    hiding a face from the detector must not be a way around consent and screening."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        if request.faces:
            return RuleResult()
        return RuleResult.of([Finding("no-face", "no face could be found in the photo, so "
                                      "consent and public-figure screening cannot be checked")])


class EyesVisible:
    """Refuse a face whose eyes are painted over, blurred out or otherwise without detail.
    Both the consent match and the public-figure screen compare face embeddings, and with the
    eyes hidden those stop telling people apart (docs/faces.md): the gate cannot tell who this
    is, so it refuses rather than guess."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        hidden = [_face(i) for i, face in enumerate(request.faces, start=1) if face.eyes_hidden]
        return RuleResult.of([Finding("eyes-hidden", f"the eyes of {subject} are painted over, "
                                      "blurred out or otherwise hidden, so it cannot be matched "
                                      "to a consent record or screened for public figures",
                                      subject) for subject in hidden], eyes_hidden=hidden)


class ExactlyOneFace:
    def evaluate(self, request: GateRequest) -> RuleResult:
        n = len(request.faces)
        if n > 1:
            return RuleResult.of([Finding("multiple-faces", f"the photo shows {n} faces; "
                                          "exactly one is allowed")])
        return RuleResult()


@dataclass
class ConsentCoversEveryFace:
    """Each face must match a consent record that verifies, is in force, covers the requested
    uses and (if required) names its evidence."""

    match_distance: float
    default_uses: tuple[str, ...]
    require_evidence: bool = False

    def evaluate(self, request: GateRequest) -> RuleResult:
        uses = request.uses or self.default_uses
        findings: list[Finding] = []
        known = {c.id for c in request.consents}
        for cid in request.named_consent_ids:
            if cid not in known:
                findings.append(Finding("consent-unknown", f"no consent record with id {cid}", cid))
        by_face: dict[str, str] = {}
        for i, face in enumerate(request.faces, start=1):
            subject = _face(i)
            matching = [c for c in request.consents
                        if face.distance(c.template) <= self.match_distance]
            if not matching:
                if request.named_consent_ids:
                    findings.append(Finding(
                        "consent-face-mismatch",
                        f"{subject} does not match the face of the given consent record(s)",
                        subject))
                else:
                    findings.append(Finding("no-consent", f"no consent record covers {subject}",
                                            subject))
                continue
            problems = {c.id: self._problems(c, request, uses) for c in matching}
            valid = [c for c in matching if not problems[c.id]]
            if valid:
                by_face[subject] = valid[0].id
                continue
            for c in matching:
                for code, message in problems[c.id]:
                    findings.append(Finding(code, f"{message} (matches {subject})", c.id))
        return RuleResult.of(findings, uses=list(uses), consents_by_face=by_face,
                             consent_ids=list(dict.fromkeys(by_face.values())))

    def _problems(self, c: ConsentRecord, request: GateRequest,
                  uses: tuple[str, ...]) -> list[tuple[str, str]]:
        check = request.consent_checks.get(c.id)
        if check is None or not check.signature_ok:
            # Nothing else in a record that does not verify can be believed.
            return [("consent-tampered", f"consent {c.id} does not verify against the operator "
                     "key (edited in the database, or issued by another key)")]
        if not check.log_ok:
            return [("consent-tampered", f"consent {c.id} does not match the signed audit log: "
                     f"{check.problem}")]
        out = []
        if c.revoked_at is not None:
            out.append(("consent-revoked", f"consent {c.id} was revoked"))
        expires = as_utc(c.expires_at)
        if expires is not None and expires <= request.now:
            out.append(("consent-expired", f"consent {c.id} expired on {expires.date()}"))
        valid_from = as_utc(c.valid_from)
        if valid_from is not None and valid_from > request.now:
            out.append(("consent-not-yet-valid",
                        f"consent {c.id} is valid from {valid_from.date()}"))
        missing = sorted(set(uses) - set(c.scope))
        if missing:
            out.append(("consent-out-of-scope", f"consent {c.id} does not cover "
                        f"{', '.join(missing)} (it covers {', '.join(c.scope) or 'nothing'})"))
        if self.require_evidence and not c.evidence_sha256:
            out.append(("consent-no-evidence", f"consent {c.id} names no evidence (release form "
                        "or consent video)"))
        return out


@dataclass
class PublicFiguresRefused:
    """Screen every face against the public-figure gallery. A match refuses the request, even
    when a consent record covers the face — unless ``allow_with_own_consent`` and the covering
    record is that public figure's own (its template matches the same gallery identity)."""

    match_distance: float
    allow_with_own_consent: bool = False

    def evaluate(self, request: GateRequest) -> RuleResult:
        gallery = request.gallery
        if gallery is None:
            return RuleResult.of([Finding("gallery-unavailable", "the policy screens for public "
                                          "figures but no gallery was given to the gate")])
        matches, findings = [], []
        consents = {c.id: c for c in request.consents}
        for i, face in enumerate(request.faces, start=1):
            subject = _face(i)
            hit = gallery.match(face.embedding, self.match_distance)
            if hit is None:
                continue
            matches.append({"face": subject, **hit.to_dict()})
            if self.allow_with_own_consent:
                cid = dict(request.established.get("consents_by_face", {})).get(subject)
                own = consents.get(cid) if cid else None
                if own is not None:
                    same = gallery.match(own.template, self.match_distance)
                    if same is not None and same.identity_id == hit.identity_id:
                        matches[-1]["allowed_by_own_consent"] = cid
                        continue
                findings.append(Finding(
                    "public-figure", f"{subject} matches public figure {hit.name}; this policy "
                    "allows it only with that person's own consent record", subject))
            else:
                findings.append(Finding(
                    "public-figure", f"{subject} matches public figure {hit.name}; public "
                    "figures are refused under this policy, consent or not", subject))
        return RuleResult.of(findings, gallery_size=len(gallery), public_figures=matches)


class AudioRightsAttested:
    """The requester states that they hold the rights to the voice or song."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        text = (request.audio_rights_attestation or "").strip()
        if not text:
            return RuleResult.of([Finding("no-audio-rights-attestation", "this policy requires "
                                          "a statement that you hold the rights to the voice or "
                                          "song (--audio-rights)")])
        return RuleResult.of(audio_rights_attestation_sha256=hashlib.sha256(
            text.encode()).hexdigest())


class AudioNotice:
    """The output's audio opens with the tonal "AI-generated" notice (the pipeline adds it)."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        return RuleResult.of(audio_notice="tone")


class ImplicitLabel:
    """The output carries GB 45438-2025's implicit label, the AIGC metadata field (the
    pipeline writes it). It cannot be turned off by the request."""

    def evaluate(self, request: GateRequest) -> RuleResult:
        return RuleResult.of(implicit_label="gb45438-2025")


class VisibleDisclosure:
    """The output carries a visible "AI-generated" label (the pipeline draws it), in
    ``languages`` (one line each, the first on top)."""

    def __init__(self, languages: tuple[str, ...] = ("en",)) -> None:
        self.languages = tuple(languages)

    def evaluate(self, request: GateRequest) -> RuleResult:
        if request.visible_disclosure is False:
            return RuleResult.of([Finding("no-visible-disclosure", "this policy requires the "
                                          "visible AI-generated label; it cannot be turned off")])
        return RuleResult.of(disclosure="visible-label", label_languages=list(self.languages))
