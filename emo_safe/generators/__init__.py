"""Generators turn a portrait and audio into frames. Only the pipeline calls them."""

from emo_safe.generators.base import GeneratedVideo, GenerationInput, Generator, get_generator

__all__ = ["GeneratedVideo", "GenerationInput", "Generator", "get_generator"]
