"""The ledger tests run against both backends: SQLite and a real PostgreSQL server."""

import pytest

from emo_safe import SafeGenerator


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_backend(request) -> str:
    return request.param


@pytest.fixture
def history(workspace, consents, portrait, speech, tmp_path, data_dir):
    """A real history: consents, allowed and refused decisions, a generation, a revocation."""
    c = consents.add("sample", portrait)
    gen = SafeGenerator(workspace, generator="still")
    result = gen.generate(portrait, speech, tmp_path / "a.mp4")
    gen.check(data_dir / "lin-manuel-miranda.png")
    other = consents.add("Alex", data_dir / "alex-lacamoire.png")
    consents.revoke(other.id)
    gen.check(portrait, [c.id])
    return result
