"""``emo-safe tsa serve``: the development time-stamping authority and OCSP responder of the
workspace CA, over plain HTTP on loopback (the standard library's threading HTTP server; no
extra is needed).

Routes: ``POST /tsa`` (``application/timestamp-query`` -> ``application/timestamp-reply``,
RFC 3161 section 3.4), ``POST /ocsp/`` and ``GET /ocsp/{base64 request}``
(``application/ocsp-response``, RFC 6960 appendix A; c2pa-rs uses the GET form),
``GET /healthz``. Bodies over 64 KiB get 413; anything else malformed gets the protocol's own
error answer (a TSA rejection, an OCSP ``malformedRequest``) or 400/404/405.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from emo_safe.provenance.ocsp import OcspResponder
from emo_safe.provenance.timestamp import TimeStampAuthority

MAX_REQUEST_BYTES = 64 * 1024


class DevAuthorities:
    """The two responders a development workspace serves (either may be absent)."""

    def __init__(self, tsa: TimeStampAuthority | None, ocsp: OcspResponder | None) -> None:
        self.tsa, self.ocsp = tsa, ocsp
        self.answered = {"tsa": 0, "ocsp": 0}
        self._lock = threading.Lock()

    def count(self, kind: str) -> None:
        with self._lock:
            self.answered[kind] += 1


def make_server(authorities: DevAuthorities, host: str = "127.0.0.1",
                port: int = 0, log: bool = True) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (0: a free port; read ``server.server_address``).
    ``log``: one JSON line per request on stderr (route and status, never the bodies)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "emo-safe-dev-authorities"
        sys_version = ""

        def log_message(self, fmt, *args):  # one structured line per request, on stderr
            import sys

            if not log:
                return
            print(json.dumps({"route": self.path.split("?")[0][:40], "status": args[1]
                              if len(args) > 1 else None}), file=sys.stderr, flush=True)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": {"code": status, "message": message}})
                       .encode(), "application/json")

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._error(411, "a Content-Length is required")
                return None
            if length < 0 or length > MAX_REQUEST_BYTES:
                self._error(413, f"requests are limited to {MAX_REQUEST_BYTES} bytes")
                return None
            return self.rfile.read(length)

        def do_GET(self):
            if self.path == "/healthz":
                return self._send(200, b'{"status": "ok"}', "application/json")
            if self.path.startswith("/ocsp/") and authorities.ocsp is not None:
                encoded = urllib.parse.unquote(self.path[len("/ocsp/"):])
                if len(encoded) > MAX_REQUEST_BYTES:
                    return self._error(414, "request too long")
                try:
                    request = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    return self._error(400, "the OCSP request is not base64")
                return self._ocsp(request)
            if self.path in ("/tsa", "/ocsp", "/ocsp/"):
                return self._error(405, "use POST")
            return self._error(404, "no such route")

        def do_POST(self):
            route = self.path.split("?")[0]
            if route == "/tsa" and authorities.tsa is not None:
                body = self._body()
                if body is not None:
                    authorities.count("tsa")
                    self._send(200, authorities.tsa.respond(body),
                               "application/timestamp-reply")
            elif route in ("/ocsp", "/ocsp/") and authorities.ocsp is not None:
                body = self._body()
                if body is not None:
                    self._ocsp(body)
            else:
                self._error(404, "no such route")

        def _ocsp(self, request: bytes) -> None:
            authorities.count("ocsp")
            self._send(200, authorities.ocsp.respond(request), "application/ocsp-response")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
