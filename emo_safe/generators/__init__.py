"""Generators turn a portrait and audio into frames. Only the pipeline calls them.

The protocol (:class:`Generator`, :class:`GenerationInput`, :class:`GeneratedVideo`) is public
API; :func:`get_generator` resolves a name or ``PREFIX:ARGUMENT`` through the registry.
"""

from emo_safe.generators.base import GeneratedVideo, GenerationInput, Generator
from emo_safe.generators.options import Option
from emo_safe.generators.registry import adapters, available, get_generator

__all__ = ["GeneratedVideo", "GenerationInput", "Generator", "Option", "adapters", "available",
           "get_generator"]
