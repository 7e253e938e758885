"""The staff pages' modules in layers: pages depend on shared helpers, never the other way round,
and ``web/`` reaches the database only through what the composition hands in."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "src" / "escalation_flow" / "web"
PACKAGE = "escalation_flow.web"


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at the top or inside a function (``TYPE_CHECKING`` too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            if node.module == PACKAGE:  # from escalation_flow.web import pages_case
                yield from (f"{PACKAGE}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    """web's modules (``__init__`` aside: it only defers to ``app``) and those each imports."""
    modules = {p.stem: p for p in WEB.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = {m.removeprefix(PACKAGE + ".") for m in _imports(path)}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None (depth-first search)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_pages_modules_import_no_circle() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_sees_a_planted_circle() -> None:
    graph = _graph()
    graph["filters"] = {*graph["filters"], "pages_case"}
    assert _cycle(graph) is not None


@pytest.mark.parametrize("path", sorted(WEB.glob("*.py")), ids=lambda p: p.name)
def test_no_page_module_imports_another_page_module_or_the_app(path: Path) -> None:
    """Pages depend on helpers; only ``app`` composes them."""
    if path.stem == "app" or path.stem == "__init__":
        return
    imported = _graph()[path.stem]
    assert not {m for m in imported if m.startswith("pages_") or m == "app"}


@pytest.mark.parametrize("path", sorted(WEB.glob("*.py")), ids=lambda p: p.name)
def test_web_imports_no_sqlalchemy_and_no_store_adapter(path: Path) -> None:
    """The store's read models come through ``ports.PageReads``, handed in by the composition."""
    bad = [
        m
        for m in _imports(path)
        if m.split(".")[0] == "sqlalchemy" or m.startswith("escalation_flow.adapters.store")
    ]
    assert bad == []
