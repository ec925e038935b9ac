"""The package's layers hold: every import under emo_safe/ (function-level ones included) goes
to the same layer or a lower one, no module imports a name from the package root (it would
pull in the front doors), and there is no import cycle. Read from the source, not by importing
it, so a lazy import cannot hide. Imports under ``if TYPE_CHECKING:`` are for type checkers
only and do not count."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "emo_safe"

# Lowest first. A module may import its own layer and the ones below it, never one above.
LAYERS = [
    ("foundations", ["emo_safe._version", "emo_safe.errors", "emo_safe._fs",
                     "emo_safe._resources", "emo_safe._toml", "emo_safe._signals"]),
    ("primitives", ["emo_safe.media", "emo_safe.keys", "emo_safe.fingerprint",
                    "emo_safe.disclosure", "emo_safe.faces", "emo_safe.ledger.merkle",
                    "emo_safe.ledger.types", "emo_safe.ledger.events",
                    "emo_safe.watermark._codec", "emo_safe.watermark._ecc"]),
    ("records, marks and credentials", ["emo_safe.ledger", "emo_safe.watermark",
                                        "emo_safe.provenance"]),
    ("the gate, generators and the workspace", ["emo_safe.gate", "emo_safe.generators",
                                                "emo_safe.workspace"]),
    ("the front doors", ["emo_safe.pipeline", "emo_safe.verify", "emo_safe.report",
                         "emo_safe.batch", "emo_safe.service"]),
    ("the command line", ["emo_safe.cli"]),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(name: str) -> int:
    """The most specific layer prefix that names ``name``."""
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def imports_of(name: str) -> list[tuple[str, int, str]]:
    """(imported module, line, how) for every emo_safe import in the module's source."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for stmt in block.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "emo_safe" or alias.name.startswith("emo_safe."):
                    found.append((alias.name, node.lineno, "import"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base != "emo_safe" and not base.startswith("emo_safe."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in MODULES else base, node.lineno,
                              f"from {base} import {alias.name}"))
    return found


def test_every_module_is_in_a_layer():
    for name in MODULES:
        if name != "emo_safe":
            layer_of(name)


def test_no_module_imports_the_package_root():
    bad = [(name, line, how) for name in MODULES if name != "emo_safe"
           for target, line, how in imports_of(name) if target == "emo_safe"]
    assert not bad, bad


def test_no_module_imports_a_layer_above_its_own():
    bad = []
    for name in MODULES:
        if name == "emo_safe":
            continue
        mine = layer_of(name)
        for target, line, how in imports_of(name):
            if target != "emo_safe" and layer_of(target) > mine:
                bad.append(f"{name}:{line} ({LAYERS[mine][0]}) imports {target} "
                           f"({LAYERS[layer_of(target)][0]}): {how}")
    assert not bad, "\n".join(bad)


def test_there_is_no_import_cycle():
    graph = {name: {t for t, _, _ in imports_of(name) if t in MODULES and t != name}
             for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name)
            assert cycle is None, " -> ".join(cycle)


def test_the_package_root_imports_nothing_eagerly():
    """``import emo_safe`` costs only the version: the public names load on first use."""
    import subprocess
    import sys

    code = ("import sys, emo_safe; "
            "print(sorted(m for m in sys.modules if m.startswith('emo_safe')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['emo_safe', 'emo_safe._version']"
