"""Real emo-safe processes: the command line (as an operator runs it) and `emo-safe serve`
servers on free loopback ports, for the service, cluster and replica tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def clean_env() -> dict:
    """This environment without emo-safe's own settings (a passphrase, a database URL)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EMO_SAFE_")}


@contextmanager
def emo_safe_settings_removed() -> Iterator[None]:
    """Inside: this process as :func:`clean_env` leaves the CLI processes it starts, so a
    module fixture's workspace matches what those processes see."""
    old = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("EMO_SAFE_")}
    try:
        yield
    finally:
        os.environ.update(old)


def consented_sample_workspace(root: Path):
    """An initialised workspace at ``root`` with the bundled sample portrait consented."""
    from emo_safe import ConsentRegistry, Workspace
    from emo_safe._resources import sample_path

    ws = Workspace(root)
    ws.init()
    ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
    return ws


def cli_argv(workspace_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "emo_safe.cli", "--workspace", str(workspace_root), *args]


def run_cli(workspace_root: Path, *args: str) -> subprocess.CompletedProcess:
    """`emo-safe --workspace ROOT ARGS...` in its own process."""
    return subprocess.run(cli_argv(workspace_root, *args), capture_output=True, text=True,
                          timeout=600, env=clean_env())


def json_rows(stdout: str) -> list[dict]:
    """The JSON lines a command printed."""
    import json

    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path
    tmpdir: Path  # the server's TMPDIR: where its upload folder lives

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)

    def log_text(self) -> str:
        return self.log.read_text()

    def upload_files(self) -> list[Path]:
        return [p for d in self.tmpdir.glob("emo-safe-uploads-*") for p in d.iterdir()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workspace_root: Path, folder: Path, *args: str) -> Server:
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    tmpdir = folder / "tmp"
    tmpdir.mkdir(exist_ok=True)
    log = folder / "server.log"
    env = clean_env()
    env["TMPDIR"] = str(tmpdir)
    proc = subprocess.Popen([sys.executable, "-m", "emo_safe.cli", "--workspace",
                             str(workspace_root), "serve", "--port", str(port), *args],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log, "the server")
    return Server(url, proc, log, tmpdir)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    """Until ``url``/healthz answers 200; the process's log in the error if it never does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{what} did not start: {log.read_text()[-2000:]}")


def stop_server(server: Server) -> int:
    return _terminate(server.proc)


def _terminate(proc: subprocess.Popen) -> int:
    """SIGTERM, then its exit code (killed, and an error, after 30 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def run_cli_with(workspace_root: Path, env: dict, *args: str,
                 prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`emo-safe` in its own process with ``env`` added to :func:`clean_env` (a PIN, a token
    configuration), behind ``prefix`` (e.g. ``faketime +3d``)."""
    return subprocess.run([*prefix, *cli_argv(workspace_root, *args)], capture_output=True,
                          text=True, timeout=600, env={**clean_env(), **env})


@dataclass
class DevAuthorities:
    """A running `emo-safe tsa serve`: the development TSA and OCSP responder."""

    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def tsa_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    @property
    def ocsp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ocsp/"


def reserve_dev_authorities_port() -> int:
    """The port a workspace's certificates will name before its responder runs."""
    return free_port()


def start_dev_authorities(workspace_root: Path, folder: Path, port: int) -> DevAuthorities:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "tsa.log"
    proc = subprocess.Popen(cli_argv(workspace_root, "tsa", "serve", "--port", str(port)),
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=clean_env())
    _wait_healthy(f"http://127.0.0.1:{port}", proc, log, "tsa serve")
    return DevAuthorities(port, proc, log)


def stop_dev_authorities(authorities: DevAuthorities) -> int:
    return _terminate(authorities.proc)
