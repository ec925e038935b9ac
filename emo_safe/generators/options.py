"""Generator options: one mapping per generation, declared and validated by the generator.

A generator that takes options has an ``options`` attribute: option name -> :class:`Option`.
Values arrive typed (from Python) or as strings (``--generator-option KEY=VALUE``); each is
parsed and range-checked here, so an unknown key or a bad value is one clear input error and a
new adapter never edits the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from emo_safe.errors import InputError


@dataclass(frozen=True)
class Option:
    kind: type  # int, float, bool or str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def parse(self, name: str, value) -> object:
        try:
            if self.kind is bool:
                parsed = value if isinstance(value, bool) else \
                    {"true": True, "1": True, "yes": True, "false": False, "0": False,
                     "no": False}[str(value).strip().lower()]
            elif self.kind is str:
                parsed = str(value)
            elif isinstance(value, bool):
                raise ValueError
            else:
                parsed = self.kind(value)
        except (ValueError, KeyError, TypeError):
            raise InputError(f"generator option {name}: {value!r} is not a "
                             f"{self.kind.__name__}") from None
        if self.minimum is not None and parsed < self.minimum:
            raise InputError(f"generator option {name}: {parsed} is below {self.minimum:g}")
        if self.maximum is not None and parsed > self.maximum:
            raise InputError(f"generator option {name}: {parsed} is above {self.maximum:g}")
        if self.choices is not None and parsed not in self.choices:
            raise InputError(f"generator option {name}: {parsed!r} is not one of "
                             + ", ".join(self.choices))
        return parsed


def parse_pairs(pairs) -> dict[str, str]:
    """``KEY=VALUE`` strings (the CLI's repeated ``--generator-option``) as a mapping."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--generator-option needs KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def validate(generator, raw: Mapping[str, object]) -> dict[str, object]:
    """``raw`` checked against what ``generator`` declares; unknown keys are an error."""
    declared: Mapping[str, Option] = getattr(generator, "options", {}) or {}
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        takes = ", ".join(sorted(declared)) if declared else "no options"
        raise InputError(f"generator {generator.name!r} does not take option(s) "
                         f"{', '.join(unknown)} (it takes {takes})")
    return {key: declared[key].parse(key, value) for key, value in raw.items()}
