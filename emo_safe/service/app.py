"""The verification service: the detector behind HTTP, for anyone who needs to check a clip.

``create_app(workspace)`` builds the ASGI app (FastAPI); ``emo-safe serve`` runs it on uvicorn.
The watermark key, the ledger and the trust anchors stay in the server; uploads are streamed to
a private folder and deleted when the answer is sent. Routes (all under ``/v1`` answer errors
as ``{"error": {"code", "message"}}``):

- ``POST /v1/verify``: the ``emo-safe verify --json`` object for one upload, with
  ``recovered_manifest``;
- the C2PA Soft Binding Resolution API: ``GET|POST /v1/matches/byBinding``,
  ``POST /v1/matches/byContent``, ``GET /v1/manifests/{manifestId}`` (``application/c2pa``),
  ``GET /v1/services/supportedAlgorithms``;
- ``GET /`` the verification page (a plain form: no script needed), ``POST /`` its result;
- ``GET /healthz``; the OpenAPI document at ``/openapi.json``.

Nothing here changes state: no route adds manifests or bindings, and a verification never
writes to the audit log. docs/service.md has the limits and how to run it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emo_safe.errors import EmoSafeError
from emo_safe.service.uploads import Upload, UploadError, receive

log = logging.getLogger("emo_safe.service")
_MANIFEST_ID = re.compile(r"^urn:c2pa:[0-9a-fA-F-]{36}(:[A-Za-z0-9._-]{1,64})?$")


@dataclass(frozen=True)
class ServiceSettings:
    max_upload_mb: float = 200.0
    max_in_flight: int = 2  # verifications at once per process; more get 503 + Retry-After
    request_timeout_s: float = 120.0
    retry_after_s: int = 5
    max_results: int = 100  # the most matches a query may ask for


class _Busy(Exception):
    pass


class Verifier:
    """The detector and its bounds, shared by the routes of one process."""

    def __init__(self, workspace, profile, settings: ServiceSettings) -> None:
        from emo_safe.verify import Detector

        self.workspace = workspace
        self.detector = Detector(workspace, profile=profile)
        self.settings = settings
        self.store = next((s.store for s in self.detector.sources if hasattr(s, "store")), None)
        self.algorithms = sorted({scheme.scheme_id for src in self.detector.sources
                                  for scheme in getattr(src, "schemes", [])})
        self._slots = threading.BoundedSemaphore(settings.max_in_flight)
        # Uploads live here until their answer is sent; nothing else is written.
        self.upload_dir = Path(tempfile.mkdtemp(prefix="emo-safe-uploads-"))

    def acquire(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise _Busy()

    def release(self) -> None:
        self._slots.release()

    def verify(self, upload: Upload) -> dict:
        verdict = self.detector.verify(upload.path)
        row = verdict.to_dict()
        row["file"] = "upload"  # never the server's temporary path
        return row, verdict

    def manifest_matches(self, alg: str, payload_hex: str, limit: int) -> list[dict]:
        if self.store is None:
            return []
        return [{"manifestId": m, "similarityScore": 100}
                for m in self.store.manifests_by_binding(alg, payload_hex, limit)]


def _style_hash(css: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def create_app(workspace, profile=None, settings: ServiceSettings | None = None):
    """The ASGI app over ``workspace`` (its detector profile by default)."""
    from emo_safe._version import __version__
    from emo_safe.service import page

    settings = settings or ServiceSettings()
    verifier = Verifier(workspace, profile, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        shutil.rmtree(verifier.upload_dir, ignore_errors=True)  # nothing outlives the server

    app = FastAPI(title="emo-safe verification service", version=__version__,
                  description="Does a video come from this deployment? The detector, and the "
                              "C2PA Soft Binding Resolution API.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  lifespan=lifespan)
    app.state.verifier = verifier
    max_bytes = int(settings.max_upload_mb * 1e6)
    csp = ("default-src 'none'; img-src data:; style-src " + _style_hash(page.CSS)
           + "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

    def error(status: int, code: str, message: str, headers: dict | None = None):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                            headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        start = time.perf_counter()
        request.state.outcome = None
        request.state.bytes = 0
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - a bug must not leak a traceback to a stranger
            log.exception("internal error on %s", request.url.path)
            response = error(500, "internal", "internal error")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["Cache-Control"] = "no-store"
        log.info(json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "route": request.url.path, "method": request.method,
            "status": response.status_code, "outcome": request.state.outcome,
            "ms": round((time.perf_counter() - start) * 1000, 1),
            "bytes": request.state.bytes}))
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error(400, "bad-request", f"invalid request ({where or 'parameters'})")

    async def checked(request: Request, work, html: bool = False):
        """Receive the upload, run ``work(upload)`` within the bounds, map every failure to
        one status and message; the upload is deleted before the answer is sent."""
        try:
            verifier.acquire()
        except _Busy:
            return error(503, "busy", "too many verifications in progress; retry shortly",
                         {"Retry-After": str(settings.retry_after_s)})
        released, upload = False, None
        try:
            upload = await receive(request, verifier.upload_dir, max_bytes)
            request.state.bytes = upload.size
            future = asyncio.get_running_loop().run_in_executor(None, work, upload)

            def finished(_):
                # The slot and the upload are held until the work ends, even when the answer
                # went out on timeout: the bound stays true and nothing is deleted under it.
                # On the normal path this runs before the answer is sent.
                upload.delete()
                verifier.release()

            future.add_done_callback(finished)
            released = True
            try:
                return await asyncio.wait_for(asyncio.shield(future),
                                              settings.request_timeout_s)
            except TimeoutError:
                return error(504, "timeout", "the verification took longer than "
                             f"{settings.request_timeout_s:g} s")
        except UploadError as exc:
            request.state.outcome = "refused"
            return (page.error_page(exc.status, exc.message) if html
                    else error(exc.status, exc.code, exc.message))
        except EmoSafeError as exc:  # unreadable, truncated, over a limit: the file's fault
            request.state.outcome = "error"
            # The server's own paths are nobody's business: the file is "the upload".
            message = exc.message.replace(str(upload.path), "the upload") if upload \
                else exc.message
            return (page.error_page(422, message) if html
                    else error(422, "unreadable", message))
        finally:
            if not released:
                verifier.release()

    # ------------------------------------------------------------------------- /v1/verify
    @app.post("/v1/verify", summary="Verify one video (multipart field 'file', or the body)")
    async def verify(request: Request):
        def work(upload: Upload):
            row, _ = verifier.verify(upload)
            return row

        result = await checked(request, work)
        if isinstance(result, dict):
            request.state.outcome = result["outcome"]
            return JSONResponse(result)
        return result

    # ------------------------------------------------------------ the soft binding API
    def _matches(alg: str, value: str, max_results: int):
        if alg not in verifier.algorithms:
            return error(400, "unsupported-algorithm", f"unsupported soft binding algorithm "
                         f"{alg!r}; see /v1/services/supportedAlgorithms")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return error(400, "bad-value", "value must be base64")
        if not 1 <= max_results <= settings.max_results:
            return error(400, "bad-request", f"maxResults must be 1-{settings.max_results}")
        return JSONResponse({"matches": verifier.manifest_matches(alg, raw.hex(), max_results)})

    @app.get("/v1/matches/byBinding", summary="Manifest ids for a soft binding value")
    async def by_binding(alg: str, value: str, maxResults: int = 10):  # noqa: N803
        return _matches(alg, value, maxResults)

    @app.post("/v1/matches/byBinding", summary="Manifest ids for a soft binding value")
    async def by_binding_post(request: Request, maxResults: int = 10):  # noqa: N803
        try:
            body = json.loads(await request.body())
            alg, value = body["alg"], body["value"]
            if not isinstance(alg, str) or not isinstance(value, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return error(400, "bad-request", "the body must be JSON {\"alg\": ..., "
                         "\"value\": base64}")
        return _matches(alg, value, maxResults)

    @app.post("/v1/matches/byContent", summary="Manifest ids for an asset (the server reads "
                                                "its watermark)")
    async def by_content(request: Request, alg: str | None = None,
                         maxResults: int = 10):  # noqa: N803
        if alg is not None and alg not in verifier.algorithms:
            return error(400, "unsupported-algorithm", f"unsupported soft binding algorithm "
                         f"{alg!r}")
        if not 1 <= maxResults <= settings.max_results:
            return error(400, "bad-request", f"maxResults must be 1-{settings.max_results}")

        def work(upload: Upload):
            evidence = verifier.detector.gather(upload.path)
            # the frames' mark, and the audio's (an audio file, a dub): each decoded payload
            found = [wm for wm in (evidence.watermark, evidence.audio)
                     if wm is not None and wm.detected and wm.payload is not None
                     and (alg is None or wm.scheme == alg)]
            matches: list[dict] = []
            for wm in found:
                for match in verifier.manifest_matches(wm.scheme, wm.payload, maxResults):
                    if match not in matches:
                        matches.append(match)
            return matches[:maxResults]

        result = await checked(request, work)
        return JSONResponse({"matches": result}) if isinstance(result, list) else result

    @app.get("/v1/manifests/{manifestId:path}", summary="A stored manifest store",
             response_class=Response)
    async def manifest(manifestId: str, returnActiveManifest: bool = False):  # noqa: N803
        if not _MANIFEST_ID.match(manifestId):
            return error(400, "bad-manifest-id", "not a C2PA manifest identifier "
                         "(urn:c2pa:UUID)")
        row = verifier.store.get_manifest(manifestId) if verifier.store is not None else None
        if row is None:
            return error(404, "not-found", f"no manifest {manifestId} in this repository")
        # Each stored store holds exactly the output's own (active) manifest, so the store and
        # the active manifest are the same bytes.
        return Response(row.store, media_type="application/c2pa",
                        headers={"Content-Disposition": "attachment; filename=manifest.c2pa"})

    @app.get("/v1/services/supportedAlgorithms", summary="The soft binding algorithms")
    async def supported():
        return {"watermarks": [{"alg": a} for a in verifier.algorithms], "fingerprints": []}

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok", "version": __version__}

    # ------------------------------------------------------------------------- the page
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page.index_page(settings.max_upload_mb))

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def index_result(request: Request):
        def work(upload: Upload):
            row, verdict = verifier.verify(upload)
            return page.result_page(row, verdict, upload.path)

        result = await checked(request, work, html=True)
        if isinstance(result, str):
            request.state.outcome = "page"
            return HTMLResponse(result)
        return result

    return app


def app_from_environment():
    """For ``uvicorn --factory`` with several workers: the workspace from $EMO_SAFE_HOME,
    the profile and limits from $EMO_SAFE_SERVICE_* (set by ``emo-safe serve``)."""
    import os

    from emo_safe.workspace import Workspace

    ws = Workspace.locate(os.environ.get("EMO_SAFE_HOME"))
    settings = ServiceSettings(**json.loads(os.environ.get("EMO_SAFE_SERVICE_SETTINGS", "{}")))
    return create_app(ws, os.environ.get("EMO_SAFE_SERVICE_PROFILE") or None, settings)
