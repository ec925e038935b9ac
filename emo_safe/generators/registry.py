"""The generator registry: names and adapter prefixes, both from entry points.

- ``emo_safe.generators``: a name -> a zero-argument callable returning a generator. The
  built-ins (``puppet``, ``still``) are registered here exactly as a third party's would be.
- ``emo_safe.generator_adapters``: a prefix -> a callable taking the text after
  ``PREFIX:`` and returning a generator (``command:``, ``diffusers:``, and the presets for
  upstream projects such as ``sadtalker:/path/to/SadTalker``).

A new generator or adapter is a package with an entry point (examples/custom_generator/); the
pipeline never changes for it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from emo_safe.errors import GeneratorError, InputError, InstallationError
from emo_safe.generators.base import Generator

ENTRY_POINT_GROUP = "emo_safe.generators"
ADAPTER_GROUP = "emo_safe.generator_adapters"
BUILTIN = ("puppet", "still")


def _entries(group: str) -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=group)}
    if group == ENTRY_POINT_GROUP and not set(BUILTIN) <= set(found):
        raise InstallationError("emo-safe's built-in generators are not registered (its "
                                "package metadata is missing): reinstall emo-safe, e.g. "
                                "`pip install -e .`")
    return found


def available() -> list[str]:
    """Every registered generator name."""
    return sorted(_entries(ENTRY_POINT_GROUP))


def adapters() -> list[str]:
    """Every registered adapter prefix (used as ``PREFIX:ARGUMENT``)."""
    return sorted(_entries(ADAPTER_GROUP))


def _load(ep: EntryPoint, what: str):
    try:
        return ep.load()
    except Exception as exc:  # a third-party package may fail to import in any way
        raise GeneratorError(f"the {what} {ep.name!r} registered by {ep.value} cannot be "
                             f"loaded: {type(exc).__name__}: {exc}") from None


def get_generator(spec: str) -> Generator:
    """``NAME`` (a registered generator) or ``PREFIX:ARGUMENT`` (a registered adapter)."""
    names = _entries(ENTRY_POINT_GROUP)
    if spec in names:
        gen = _load(names[spec], "generator")()
    else:
        prefix, sep, argument = spec.partition(":")
        found = _entries(ADAPTER_GROUP).get(prefix) if sep else None
        if found is None:
            raise InputError(f"unknown generator {spec!r}; available: "
                             f"{', '.join(available())}, or "
                             f"{', '.join(p + ':...' for p in adapters())}")
        gen = _load(found, "generator adapter")(argument)
    if not isinstance(gen, Generator):
        raise InputError(f"{spec!r} did not give a generator (it needs name, version and "
                         "generate())")
    return gen
