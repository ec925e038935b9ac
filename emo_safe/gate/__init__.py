"""The policy gate: every generation request is evaluated into a :class:`Decision`."""

from emo_safe.gate.decision import Decision, Finding
from emo_safe.gate.policy import AllOf, Policy, Rule, UnsafeNoOp, load_policy

__all__ = ["AllOf", "Decision", "Finding", "Policy", "Rule", "UnsafeNoOp", "load_policy"]
