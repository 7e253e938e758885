"""The layers hold: read every module's imports (with ``ast``, nothing is imported) and fail on an
import that runs the wrong way (see docs/architecture.md, "Layers")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "escalation_flow"
NAME = "escalation_flow"


def module_imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute (``from . import x`` resolved), lazily or not."""
    package = ".".join((NAME, *path.relative_to(PACKAGE).with_suffix("").parts[:-1]))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module:
                yield node.module


def imports_of(folder: str, root: Path = PACKAGE) -> dict[str, set[str]]:
    """``{file under folder: modules it imports}``."""
    base = root / folder if folder else root
    return {
        str(path.relative_to(root)): set(module_imports_at(path, root))
        for path in sorted(base.rglob("*.py"))
    }


def module_imports_at(path: Path, root: Path) -> Iterator[str]:
    if root == PACKAGE:
        yield from module_imports(path)
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def offending(found: dict[str, set[str]], bad: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{file} imports {module}"
        for file, modules in found.items()
        for module in modules
        if any(module == b or module.startswith(b + ".") for b in bad)
    )


def test_core_imports_nothing_of_the_package_outside_it_but_errors() -> None:
    ours = {
        file: {m for m in modules if m.startswith(NAME + ".") or m == NAME}
        for file, modules in imports_of("core").items()
    }
    allowed = (f"{NAME}.core", f"{NAME}.errors")
    wrong = sorted(
        f"{file} imports {m}"
        for file, modules in ours.items()
        for m in modules
        if not any(m == a or m.startswith(a + ".") for a in allowed)
    )
    assert not wrong, wrong


def test_the_service_does_not_import_sqlalchemy() -> None:
    assert not offending(imports_of("service"), ("sqlalchemy",))


def test_the_pages_do_not_import_sqlalchemy() -> None:
    assert not offending(imports_of("web"), ("sqlalchemy",))


def test_the_store_does_not_import_the_auditors_code() -> None:
    assert not offending(imports_of("adapters/store"), (f"{NAME}.audit", f"{NAME}.service"))


def package_of(file: str) -> str:
    """The top-level part a file belongs to: ``service/days.py`` -> ``service``;
    ``adapters/store/x.py`` -> ``adapters.store``; ``ports.py`` -> ``ports``."""
    parts = Path(file).with_suffix("").parts
    if parts[0] == "adapters" and len(parts) > 2:
        return "adapters." + parts[1]
    return ".".join(parts[:1]) if len(parts) > 1 else parts[0]


def package_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != NAME or len(parts) < 2:
        return None
    if parts[1] == "adapters" and len(parts) > 3:
        return "adapters." + parts[2]
    return parts[1]


def package_graph(found: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for file, modules in found.items():
        source = package_of(file)
        for module in modules:
            target = package_of_module(module)
            if target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once (from its smallest member)."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                found.append(list(path))
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for start in sorted(graph):
        walk([start])
    return found


#: Circles that exist today, each to be broken by its owner; a new one fails the test.
KNOWN_CIRCLES: list[list[str]] = []


def test_no_import_circle_between_packages() -> None:
    found = [c for c in cycles(package_graph(imports_of(""))) if c not in KNOWN_CIRCLES]
    assert not found, found


def test_the_circle_check_finds_a_planted_circle() -> None:
    planted = {"service/a.py": {f"{NAME}.web.x"}, "web/b.py": {f"{NAME}.service.y"}}
    assert cycles(package_graph(planted)) == [["service", "web"]]


def test_the_layer_checks_find_planted_imports(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "bad.py").write_text("from sqlalchemy import select\n")
    assert offending(imports_of("service", tmp_path), ("sqlalchemy",)) == [
        "service/bad.py imports sqlalchemy"
    ]
