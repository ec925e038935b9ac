"""The audit report's compliance checklist: what an auditor asks, answered from the signed log.

Every item is computed from the log's entries (the record the signed heads cover), never
assumed from configuration: "every output carried both marks" is a count of logged
generations with a watermark payload and a manifest id, "revocations were honoured" a search
for a generation logged after its consent's revocation. Each item names the obligations it
evidences (docs/compliance.md has the tables); ``framework`` keeps only one framework's items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# framework id -> its title in the report
FRAMEWORKS = {
    "eu": "EU AI Act Article 50 and the Code of Practice on marking and labelling",
    "cn": "China: Measures for Labelling AI-Generated Content and GB 45438-2025",
    "c2pa": "C2PA 2.x Content Credentials",
}

# obligation id -> what it asks (docs/compliance.md quotes the texts)
OBLIGATIONS = {
    "eu:art50(2)": "outputs marked in a machine-readable format, detectable as AI-generated",
    "eu:art50(4)": "deep fakes disclosed as artificially generated or manipulated",
    "eu:cop-watermark": "an imperceptible watermark interwoven with the content",
    "eu:cop-metadata": "signed metadata declaring the content AI-generated",
    "eu:cop-logging": "records kept that let the provider show what it generated",
    "cn:measures-art4": "explicit labels (visible at the start and during playback)",
    "cn:measures-art5": "implicit labels in the file metadata (attribute, producer, content id)",
    "cn:gb45438-metadata": "the AIGC metadata field with Label, ContentProducer, ProduceID",
    "cn:measures-art9": "logs of generation kept (for the labelling duties)",
    "c2pa:claim-signature": "a signed manifest on every asset",
    "c2pa:soft-binding": "a soft binding (watermark) so a stripped copy finds its manifest",
    "gdpr:art7": "consent of the depicted person, withdrawable at any time",
}


@dataclass(frozen=True)
class CheckItem:
    """One question of the checklist and the log's answer."""

    id: str
    title: str
    status: str  # "pass", "fail" or "info"
    evidence: str  # one plain sentence with the counts
    obligations: tuple[str, ...]
    details: tuple[dict, ...] = ()  # the offending generations/consents (ids only)

    def frameworks(self) -> set[str]:
        return {o.split(":", 1)[0] for o in self.obligations}

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status,
                "evidence": self.evidence, "obligations": list(self.obligations),
                "details": [dict(d) for d in self.details]}


@dataclass
class _Logged:
    generations: list[dict] = field(default_factory=list)  # with "time"
    revoked: dict[str, str] = field(default_factory=dict)  # consent id -> logged time
    consents: set[str] = field(default_factory=set)
    decisions: dict[str, dict] = field(default_factory=dict)  # id -> the decision event
    policies: dict[str, dict] = field(default_factory=dict)  # sha256 -> name, first/last use
    key_events: list[dict] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)


def _read(entries) -> _Logged:
    logged = _Logged()
    for _, event in entries:
        kind, t, data = event.get("kind"), event.get("time", ""), event.get("data") or {}
        if not isinstance(data, dict):
            continue
        if kind == "generation":
            # The log's order is the evidence: consents already revoked when this generation
            # was logged (consent times have one-second resolution; the log's order is exact).
            used_revoked = [c for c in data.get("consent_ids") or [] if c in logged.revoked]
            logged.generations.append({**data, "time": t, "_revoked_consents": used_revoked})
        elif kind == "consent-added":
            logged.consents.add(data.get("id"))
        elif kind == "consent-revoked":
            logged.consents.add(data.get("id"))
            logged.revoked.setdefault(data.get("id"), data.get("revoked_at") or t)
        elif kind == "decision":
            logged.decisions[data.get("id")] = data
            p = logged.policies.setdefault(data.get("policy_sha256", "?"),
                                           {"name": data.get("policy_name"), "first_used": t,
                                            "decisions": 0})
            p["decisions"] += 1
            p["last_used"] = t
            if not data.get("allowed"):
                for code in sorted({r.get("code", "?") for r in data.get("reasons") or []}):
                    logged.refusals[code] = logged.refusals.get(code, 0) + 1
        elif kind == "keys":
            logged.key_events.append({"time": t, **data})
    return logged


def _item(id_, title, failures, ok_text, bad_text, obligations, details=()) -> CheckItem:
    return CheckItem(id_, title, "fail" if failures else "pass",
                     bad_text if failures else ok_text, tuple(obligations), tuple(details))


def checklist(entries, integrity, framework: str | None = None) -> list[CheckItem]:
    """The checklist over ``entries`` ((entry, event) pairs, as the report reads them) and the
    log's ``integrity`` (:class:`~emo_safe.ledger.audit.AuditResult`)."""
    if framework is not None and framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r} (one of {', '.join(FRAMEWORKS)})")
    logged = _read(entries)
    gens = logged.generations
    n = len(gens)
    items = [CheckItem(
        "log-integrity", "The audit log verifies (every entry, head and row)",
        "pass" if integrity.ok else "fail",
        f"{integrity.size} entries recomputed to the signed root {integrity.root[:16]}..."
        if integrity.ok else f"the log does not verify: {integrity.problems[0]}",
        ("eu:cop-logging", "cn:measures-art9", "c2pa:claim-signature"))]

    unmarked = [g for g in gens if not g.get("watermark_payload")]
    items.append(_item(
        "outputs-watermarked", "Every output carried the invisible watermark", unmarked,
        f"all {n} generations logged a watermark payload",
        f"{len(unmarked)} of {n} generations logged no watermark payload",
        ("eu:art50(2)", "eu:cop-watermark", "cn:measures-art5", "c2pa:soft-binding"),
        [{"generation_id": g.get("id"), "time": g["time"]} for g in unmarked]))

    unsigned = [g for g in gens if not g.get("manifest_id")]
    items.append(_item(
        "outputs-signed", "Every output carried a signed C2PA manifest", unsigned,
        f"all {n} generations logged a manifest id",
        f"{len(unsigned)} of {n} generations logged no manifest id",
        ("eu:art50(2)", "eu:cop-metadata", "c2pa:claim-signature"),
        [{"generation_id": g.get("id"), "time": g["time"]} for g in unsigned]))

    def facts(g: dict) -> dict:
        matched = (logged.decisions.get(g.get("decision_id")) or {}).get("matched") or {}
        return matched if isinstance(matched, dict) else {}

    # (item id, title, the decision fact that requires it, the generation setting that shows
    # it was done, what it is, the obligations)
    for item_id, title, required, done, what, obligations in (
            ("implicit-label", "Outputs whose policy asks for it carry the GB 45438 implicit "
             "label", "implicit_label", "implicit_label", "the AIGC metadata label",
             ("cn:measures-art5", "cn:gb45438-metadata")),
            ("visible-label", "Outputs whose policy asks for it carry the visible AI-generated "
             "label", "disclosure", "visible_label", "the visible label",
             ("eu:art50(4)", "cn:measures-art4")),
            ("audio-notice", "Outputs whose policy asks for it open with the audio notice",
             "audio_notice", "audio_notice", "the audio notice", ("cn:measures-art4",))):
        missing = [g for g in gens if facts(g).get(required)
                   and not (g.get("settings") or {}).get(done)]
        carried = sum(1 for g in gens if (g.get("settings") or {}).get(done))
        items.append(_item(
            item_id, title, missing,
            f"{carried} of {n} generations carried {what}; none that had to went without",
            f"{len(missing)} generations whose policy required {what} logged none",
            obligations, [{"generation_id": g.get("id"), "time": g["time"]} for g in missing]))

    without_consent = [g for g in gens if not g.get("consent_ids")]
    after_revocation = [
        {"generation_id": g.get("id"), "consent_id": cid, "generated": g["time"],
         "revoked": logged.revoked[cid]}
        for g in gens for cid in g["_revoked_consents"]]
    items.append(_item(
        "consent-recorded", "Every generation names the consent of the person depicted",
        without_consent, f"all {n} generations name a consent record",
        f"{len(without_consent)} of {n} generations name no consent record", ("gdpr:art7",),
        [{"generation_id": g.get("id"), "time": g["time"]} for g in without_consent]))
    items.append(_item(
        "revocations-honoured", "No generation after its consent was revoked", after_revocation,
        f"{len(logged.revoked)} revocations; no generation used a consent after it was revoked",
        f"{len(after_revocation)} generations used a consent after its revocation",
        ("gdpr:art7", "eu:art50(4)"), after_revocation))

    items.append(CheckItem(
        "refusals", "Refusals were recorded with their reasons", "info",
        (", ".join(f"{code}: {count}" for code, count in sorted(logged.refusals.items()))
         or "no refusals") + " (every decision is logged, allowed or not)",
        ("eu:cop-logging", "cn:measures-art9")))
    items.append(CheckItem(
        "policies-in-force", "Which policies decided", "info",
        "; ".join(f"{p['name']} (sha256 {sha[:12]}..., {p['decisions']} decisions, "
                  f"{p['first_used'][:10]} to {p['last_used'][:10]})"
                  for sha, p in logged.policies.items()) or "no decisions in the period",
        ("eu:cop-logging", "cn:measures-art9"),
        tuple({"sha256": sha, **p} for sha, p in logged.policies.items())))
    items.append(CheckItem(
        "key-changes", "Key creations, rotations and revocations", "info",
        f"{len(logged.key_events)} key events: " + "; ".join(
            _describe_key_event(e) for e in logged.key_events) if logged.key_events
        else "no key events in the period",
        ("eu:cop-metadata", "c2pa:claim-signature"),
        tuple({"time": e["time"], **{k: v for k, v in e.items() if k != "time"}}
              for e in logged.key_events)))
    if framework is not None:
        items = [i for i in items if framework in i.frameworks()]
    return items


def _describe_key_event(event: dict) -> str:
    when = event["time"][:19]
    if "rotated" in event:
        r = event["rotated"]
        return f"{when} {r.get('key')} key rotated {r.get('old_id')} -> {r.get('new_id')}"
    if "revoked" in event:
        return f"{when} certificate {event['revoked']} revoked ({event.get('reason')})"
    if "created" in event:
        return f"{when} created {', '.join(event['created'])}"
    return f"{when} {json.dumps(event, sort_keys=True)[:80]}"
