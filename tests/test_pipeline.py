"""SafeGenerator: gate -> generate -> mark -> sign -> record, and every refusal."""

import json

import av
import pytest

from emo_safe import GenerationRefused, SafeGenerator
from emo_safe.provenance.read import TRUSTED, read_manifest


def decisions(ws):
    return ws.store().list_decisions()


def test_consented_generation_is_signed_recorded_and_plays(workspace, consented, portrait,
                                                           speech, tmp_path):
    out = tmp_path / "out.mp4"
    result = SafeGenerator(workspace).generate(portrait, speech, out)
    assert out.exists() and result.output == out
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(out)) as c:
        audio_samples = sum(f.samples for f in c.decode(audio=0))
    assert frames == result.frames > 150 and audio_samples > 44100 * 7
    ev = read_manifest(out, workspace.trust_anchors_pem())
    assert ev.state == TRUSTED and ev.ai_generated
    assert ev.generation["generation_id"] == result.generation_id
    assert ev.generation["consent_ids"] == [consented.id]
    row = workspace.store().get_generation(result.generation_id)
    assert row.output_sha256 == result.output_sha256 and row.manifest_id == ev.manifest_label
    assert decisions(workspace)[-1].allowed
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temp files left behind


def refused(workspace, photo, audio, tmp_path, consent_ids=None):
    out = tmp_path / "refused.mp4"
    with pytest.raises(GenerationRefused) as exc:
        SafeGenerator(workspace).generate(photo, audio, out, consent_ids=consent_ids)
    assert not out.exists()
    assert list(tmp_path.glob(".emo-safe-*")) == []
    row = decisions(workspace)[-1]
    assert not row.allowed and row.id == exc.value.decision.id
    return {r["code"] for r in json.loads(row.reasons)}


def test_refused_without_any_consent(workspace, portrait, speech, tmp_path):
    assert refused(workspace, portrait, speech, tmp_path) == {"no-consent"}


def test_refused_when_consent_is_for_another_face(workspace, consents, data_dir, speech,
                                                  tmp_path):
    other = consents.add("Lin", data_dir / "lin-manuel-miranda.png")
    codes = refused(workspace, data_dir / "alex-lacamoire.png", speech, tmp_path, [other.id])
    assert codes == {"consent-face-mismatch"}
    assert refused(workspace, data_dir / "alex-lacamoire.png", speech, tmp_path) == {"no-consent"}


def test_refused_with_two_faces(workspace, consents, data_dir, speech, tmp_path):
    consents.add("Biden", data_dir / "biden.jpg")
    codes = refused(workspace, data_dir / "two_people.jpg", speech, tmp_path)
    assert "multiple-faces" in codes and "no-consent" in codes  # every reason, not the first


def test_refused_with_no_face(workspace, speech, tmp_path):
    import cv2
    import numpy as np

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    assert refused(workspace, blank, speech, tmp_path) == {"no-face"}


def test_refused_after_revocation(workspace, consents, consented, portrait, speech, tmp_path):
    consents.revoke(consented.id)
    assert refused(workspace, portrait, speech, tmp_path, [consented.id]) == {"consent-revoked"}


def test_refused_when_expired(workspace, consents, portrait, speech, tmp_path):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    row = consents.add("x", portrait, expires=now + dt.timedelta(days=30))
    later = SafeGenerator(workspace, clock=lambda: now + dt.timedelta(days=31))
    out = tmp_path / "late.mp4"
    with pytest.raises(GenerationRefused) as exc:
        later.generate(portrait, speech, out, consent_ids=[row.id])
    assert {f.code for f in exc.value.decision.findings} == {"consent-expired"}
    assert not out.exists()
    assert SafeGenerator(workspace, clock=lambda: now + dt.timedelta(days=29)).check(
        portrait, [row.id]).allowed


def test_failing_generator_publishes_nothing(workspace, consented, portrait, speech, tmp_path):
    from emo_safe.errors import GeneratorError

    class Broken:
        name, version = "broken", "1"

        def generate(self, inp):
            from emo_safe.generators.base import GeneratedVideo

            def frames():
                yield from ()
                raise RuntimeError("model crashed")

            return GeneratedVideo(frames(), 25, inp.audio, 10)

    out = tmp_path / "x.mp4"
    with pytest.raises(GeneratorError):
        SafeGenerator(workspace, generator=Broken()).generate(portrait, speech, out)
    assert list(tmp_path.iterdir()) == []
    assert workspace.store().list_generations() == []
