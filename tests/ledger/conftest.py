"""The ledger tests run against both backends: SQLite and a real PostgreSQL server."""

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_backend(request) -> str:
    return request.param
