"""No two parts of janitor import each other: the imports between its top-level packages and
modules (``janitor.cli``, ``janitor.engine``, ``janitor.service``, ``janitor.reporting``, ...)
form a graph without cycles. Every import counts, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "janitor"


def _part(module: str) -> str | None:
    """The top-level part of janitor that ``module`` belongs to (None: janitor itself)."""
    parts = module.split(".")
    if parts[0] != "janitor" or len(parts) < 2:
        return None
    name = parts[1]
    if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file():
        return name
    return None  # a name of janitor/__init__.py, such as __version__


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_of(path))
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = _part(name)
                if target is not None and target != source:
                    graph.setdefault(source, set()).add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_two_parts_of_janitor_import_each_other() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle between parts of janitor: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"cli": {"service"}, "service": {"engine", "cli"}}) in (
        ["cli", "service", "cli"],
        ["service", "cli", "service"],
    )
    assert find_cycle({"cli": {"engine", "service"}, "service": {"engine"}}) is None


def test_the_run_path_and_its_lease_live_outside_the_cli_and_the_service() -> None:
    graph = import_graph()
    assert "cli" not in graph.get("service", set())
    assert not {"cli", "service"} & graph.get("engine", set())
