"""The package's import graph: data flows one way (no cycles) and no module borrows another's private names.

The graph is read from the source (function-level imports included, since a late import is still a dependency),
so it holds whatever a test happens to import.
"""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "analysis"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[tuple[str, str, str, int]]:
    """(importer, imported module, name, line) for every import of analysis.* inside the package."""
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        current = _module_name(path)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(current, is_package, node)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # `from . import bt` imports the module analysis.bt
                        found.append((current, sub, "", node.lineno))
                    elif target.startswith("analysis"):
                        found.append((current, target, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("analysis"):
                        found.append((current, alias.name, "", node.lineno))
    return found


def _owner(module: str) -> str:
    """The module itself; a package's __init__ stands for the package."""
    return module


def test_no_import_cycles():
    graph = nx.DiGraph()
    for importer, imported, _, _ in _imports():
        # A package importing its own submodules (its public face) is not a cycle of the data flow.
        if imported.startswith(importer + ".") or importer.startswith(imported + "."):
            continue
        graph.add_edge(importer, imported)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_no_private_names_across_modules():
    private = [(importer, imported, name, line) for importer, imported, name, line in _imports()
               if name.startswith("_") and not name.startswith("__") and imported != importer]
    assert not private, "private names imported across modules: " + "; ".join(
        f"{i} line {line} imports {n} from {m}" for i, m, n, line in private)
