"""Internal, for the test suite and the benchmarks: throwaway databases on a real PostgreSQL
server on loopback. Not part of the product."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-test-server"


def postgres_admin_url() -> str:
    """$EMO_SAFE_TEST_POSTGRES_URL (set by .ci/run), else the URL of the server that
    scripts/postgres-test-server starts (or finds running). Raises RuntimeError if neither."""
    url = os.environ.get("EMO_SAFE_TEST_POSTGRES_URL")
    if url:
        return url
    r = subprocess.run([str(SERVER_SCRIPT)], capture_output=True, text=True, check=False)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError("no PostgreSQL: set EMO_SAFE_TEST_POSTGRES_URL or make "
                           f"{SERVER_SCRIPT} work ({r.stderr.strip()[-300:]})")
    return r.stdout.strip().splitlines()[-1]


@contextmanager
def scratch_database(admin_url: str, prefix: str = "emo_safe_scratch") -> Iterator[str]:
    """A fresh, empty database; dropped (with the store's cached engine) on exit."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from emo_safe.ledger.store import LedgerStore

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            engine = LedgerStore._engines.pop(url, None)
            if engine is not None:
                engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
