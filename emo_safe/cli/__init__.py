"""The ``emo-safe`` command line. Thin: parse, call the library, render.

Exit codes: 0 success (for ``verify``: evidence that the file came from this deployment);
1 ``verify`` found no such evidence / ``check`` denied / ``generate`` refused by policy;
2 usage or input error; 3 integrity failure (tampered manifest or audit log); 128 + N when
stopped by signal N (130 Ctrl-C, 143 SIGTERM), after cleaning up.

``_app`` holds the group and the shared rendering; the commands live by subject in
``people``, ``generation``, ``keys``, ``audit`` and ``service``. This package is the only part of
emo-safe that knows about terminals.
"""

from emo_safe.cli import (  # noqa: F401 - importing them registers the commands
    audit,
    generation,
    keys,
    people,
    service,
)
from emo_safe.cli._app import main

__all__ = ["main"]
