"""A forked process (a --jobs pool process, a forked cluster worker) never talks to the ledger
through its parent's connections: one PostgreSQL socket or SQLite handle used by two processes
corrupts both."""

from __future__ import annotations

import os


def test_a_forked_process_opens_its_own_ledger_connections(workspace):
    store = workspace.store()
    store.list_generations()  # leaves a pooled connection in this process
    assert store.engine.pool.checkedin() >= 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        try:
            inherited = store.engine.pool.checkedin()
            store.list_generations()  # through a connection of its own
            os.write(w, b"clean" if inherited == 0 else b"inherited")
        except BaseException:
            os.write(w, b"failed")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 16) == b"clean"
    store.list_generations()  # the parent's own connection still works
