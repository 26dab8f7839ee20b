"""The shape of the code base (issue 22): no import circle within ``api/`` or ``geo/``, no module there over 600
lines (but the one another change is splitting), ``geo/`` free of web and database code, and ``api/core`` the
ground floor (it imports nothing else of ``api``). Read with the standard library's ``ast``: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "geo")
MAX_LINES = 600
#: api/core modules that still reach up, each late (inside a function) and for one list, with the reason:
#: the settings check the wall's window names, and the OpenAPI post-processing documents the windows and case
#: statuses. Both name a domain's one list rather than copy it.
GROUND_FLOOR_EXCEPTIONS = {"api.core.config": ["api.wall.filters"],
                           "api.core.openapi": ["api.cases.workflow", "api.wall.filters"]}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _annotation_only(tree: ast.AST) -> set[int]:
    """The import statements under ``if TYPE_CHECKING:``: names for annotations, never imported at run time."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of api/ and geo/ it imports, at any depth of the file (function-level imports too:
    a circle closed inside a function is still a circle of concepts), but for annotation-only imports."""
    files = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _annotation_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package: str) -> None:
    graph = _graph()
    circles = [c for c in _cycles(graph) if any(m.split(".")[0] == package for m in c)]
    assert circles == []


def test_the_ground_floor_imports_nothing_above_it() -> None:
    """api/core is imported by every domain; a domain imported back from it would make each a part of all."""
    above = {m: sorted(d for d in deps if d.startswith("api.") and not d.startswith("api.core"))
             for m, deps in _graph().items() if m.startswith("api.core")}
    assert {m: d for m, d in above.items() if d} == GROUND_FLOOR_EXCEPTIONS


def test_geo_is_pure() -> None:
    """geo/ is numpy/shapely/pyproj: no web framework, no database, nothing of api/."""
    banned = ("api", "fastapi", "starlette", "sqlalchemy", "psycopg", "geoalchemy2")
    found = {}
    for path in (ROOT / "geo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = [n for n in names if n.split(".")[0] in banned]
            if bad:
                found.setdefault(str(path.relative_to(ROOT)), []).extend(bad)
    assert found == {}


def test_no_module_over_the_limit() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}
