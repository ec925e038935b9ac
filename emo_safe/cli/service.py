"""``emo-safe serve``: the verification service (extra ``serve``)."""

from __future__ import annotations

import json
import os

import click

from emo_safe.cli._app import _workspace, handle_errors, main, say


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (put a reverse proxy in front for the internet).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (each verifies up to --max-in-flight files at once).")
@click.option("--profile", help="Detector profile [default: the workspace's].")
@click.option("--max-upload-mb", default=200.0, show_default=True,
              type=click.FloatRange(0.001, 100_000), help="Larger uploads get 413.")
@click.option("--max-in-flight", default=2, show_default=True, type=click.IntRange(1, 1024),
              help="Verifications at once per process; more get 503 with Retry-After.")
@click.option("--timeout", "request_timeout_s", default=120.0, show_default=True,
              type=click.FloatRange(0.1, 3600), help="Seconds one verification may take (504).")
@click.pass_context
@handle_errors
def serve(ctx, host, port, workers, profile, max_upload_mb, max_in_flight, request_timeout_s):
    """Run the verification service: a page and an HTTP API that let anyone check a video
    against this deployment, and the C2PA Soft Binding Resolution API (docs/service.md).
    Stops cleanly on Ctrl-C or SIGTERM."""
    from emo_safe.errors import InstallationError

    try:
        import uvicorn
    except ImportError:
        raise InstallationError("emo-safe serve needs the serve extra: pip install "
                                "'emo-safe[serve]'") from None
    import logging

    from emo_safe.service.app import ServiceSettings, create_app

    ws = _workspace(ctx).require()
    settings = ServiceSettings(max_upload_mb=max_upload_mb, max_in_flight=max_in_flight,
                               request_timeout_s=request_timeout_s)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    say("emo-safe verification service on [bold]http://{}:{}/[/] (workspace {})", host, port,
        ws.root)
    if workers == 1:
        app = create_app(ws, profile, settings)  # a bad profile fails here, before listening
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    create_app(ws, profile, settings)  # check the profile once, in this process
    os.environ["EMO_SAFE_HOME"] = str(ws.root)
    os.environ["EMO_SAFE_SERVICE_PROFILE"] = profile or ""
    os.environ["EMO_SAFE_SERVICE_SETTINGS"] = json.dumps(settings.__dict__)
    uvicorn.run("emo_safe.service.app:app_from_environment", factory=True, host=host,
                port=port, workers=workers, log_level="warning")
