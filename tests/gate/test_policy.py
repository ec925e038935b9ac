"""Policies: composable rules gather every finding; malformed files are precise errors."""

import pytest
from factories import gate_request

from emo_safe.errors import PolicyError
from emo_safe.gate.decision import Finding, RuleResult
from emo_safe.gate.policy import AllOf, UnsafeNoOp, load_policy


class Fails:
    def __init__(self, code):
        self.code = code

    def evaluate(self, request):
        return RuleResult.of([Finding(self.code, self.code)])


def test_all_of_gathers_every_failure_not_just_the_first():
    with pytest.warns(UserWarning, match="UnsafeNoOp"):
        result = AllOf(Fails("a"), UnsafeNoOp(), Fails("b")).evaluate(gate_request())
    assert [f.code for f in result.findings] == ["a", "b"]


def test_empty_all_of_refuses():
    assert [f.code for f in AllOf().evaluate(gate_request()).findings] == ["empty-policy"]


def test_bundled_default_loads_with_its_hash():
    p = load_policy()
    assert p.name == "default" and len(p.sha256) == 64
    assert p.image_limits.max_pixels == 40_000_000


@pytest.mark.parametrize("body,needle", [
    ('name = "x"\n[limits]\nmax_image_pixels = 3\n', "unknown key 'limits.max_image_pixels'"),
    ('name = "x"\n[consent]\nrequired = "yes"\n', "key 'consent.required'"),
    ('description = "no name"\n', "missing required key 'name'"),
    ('name = "x"\n[limits\n', "invalid TOML"),
])
def test_malformed_policy_names_file_and_key(tmp_path, body, needle):
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(PolicyError) as exc:
        load_policy(path)
    assert needle in str(exc.value) and str(path) in str(exc.value)


def test_missing_policy_file():
    with pytest.raises(PolicyError, match="not found"):
        load_policy("/nonexistent/policy.toml")


def _rule_names(policy):
    return [type(r).__name__ for r in policy.rule.rules]


def test_bundled_policies_build_the_rules_they_promise():
    base = ["FaceRequired", "ExactlyOneFace", "EyesVisible", "ConsentCoversEveryFace",
            "PublicFiguresRefused"]
    default, strict, research = (load_policy(n) for n in ("default", "strict", "research"))
    assert _rule_names(default) == base
    assert _rule_names(strict) == [*base, "AudioRightsAttested", "VisibleDisclosure"]
    assert _rule_names(research) == [*base, "VisibleDisclosure"]
    assert not default.rule.rules[4].allow_with_own_consent
    assert research.rule.rules[4].allow_with_own_consent
    assert strict.rule.rules[3].require_evidence
    assert len({default.sha256, strict.sha256, research.sha256}) == 3


def test_a_policy_that_turns_every_rule_off_refuses_everything(tmp_path):
    path = tmp_path / "off.toml"
    path.write_text('name = "off"\n[faces]\nrequire_face = false\nexactly_one = false\n'
                    'refuse_hidden_eyes = false\n[consent]\nrequired = false\n'
                    '[public_figures]\nscreen = false\n')
    assert [f.code for f in load_policy(path).rule.evaluate(gate_request()).findings] == [
        "empty-policy"]


def test_uses_must_be_lower_case_words(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name = "x"\n[consent]\ndefault_uses = ["Talking Head"]\n')
    with pytest.raises(PolicyError, match="consent.default_uses.0"):
        load_policy(path)
