"""The verification service (extra ``serve``): ``create_app(workspace)`` and the settings of its
limits. ``emo-safe serve`` runs it on uvicorn; docs/service.md says how to run it in front of
strangers."""

from emo_safe.service.app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app"]
