"""No import cycles in the ``app`` package (docs/architecture.md: data flows one way).

The graph is read from the source with :mod:`ast`, nothing is imported. Every ``import`` that
can run counts, at module level **and** inside functions: an import moved into a function to
dodge a circular-import error still ties the two modules into one, and the loop comes back as
soon as someone lifts the import (or the function runs during the other module's import). Only
imports under ``if TYPE_CHECKING:`` are left out, as they never run. ``from app.pages import
charts`` is an edge to the submodule ``app.pages.charts``; a module is not said to import its
own parent package (Python runs the parent's ``__init__`` first, which is not a choice of the
module's author).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "app"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of ``package`` under ``root``."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Import nodes that can run: everything but the body of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module → the package modules it imports."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from pkg import sub`` imports the submodule when there is one.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                found = _resolve(target, modules)
                if found and found != name:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_shortest_cycle(graph, component) for component in components]


def _shortest_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    best: list[str] = []
    for start in sorted(component):
        paths = {start: [start]}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for nxt in sorted(graph[node] & component):
                    if nxt == start and (not best or len(paths[node]) + 1 < len(best)):
                        best = [*paths[node], start]
                    elif nxt not in paths:
                        paths[nxt] = [*paths[node], nxt]
                        following.append(nxt)
            frontier = following
    return best


def test_the_app_package_has_no_import_cycle():
    found = [" → ".join(cycle) for cycle in cycles(import_graph())]
    assert not found, "import cycles in app/:\n" + "\n".join(found)


def _write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # module level, both ways
            {
                "app/__init__.py": "",
                "app/a.py": "import app.b\n",
                "app/b.py": "from app import a\n",
            },
            [["app.a", "app.b", "app.a"]],
        ),
        (  # closed inside a function, through three modules and a relative import
            {
                "app/__init__.py": "",
                "app/a.py": "from app.b import x\n",
                "app/b.py": "from . import c\nx = 1\n",
                "app/c.py": "def f():\n    from app.a import y\n",
            },
            [["app.a", "app.b", "app.c", "app.a"]],
        ),
        (  # a package's __init__ importing a page that imports from another page
            {
                "app/__init__.py": "",
                "app/pages/__init__.py": "from app.pages.one import One\nPAGES = [One]\n",
                "app/pages/one.py": "def f():\n    from app.pages import PAGES\n",
            },
            [["app.pages", "app.pages.one", "app.pages"]],
        ),
    ],
)
def test_a_cycle_is_found_and_named(tmp_path, files, expected):
    _write_package(tmp_path, files)
    assert cycles(import_graph(tmp_path)) == expected


@pytest.mark.parametrize(
    "files",
    [
        {  # only for type checkers
            "app/__init__.py": "",
            "app/a.py": "import app.b\n",
            "app/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.a\n",
        },
        {  # a package importing its submodules, which use a sibling through the package
            "app/__init__.py": "",
            "app/pages/__init__.py": "from app.pages.one import One\n",
            "app/pages/one.py": "from app.pages import two\nOne = 1\n",
            "app/pages/two.py": "",
        },
    ],
)
def test_what_is_not_a_cycle(tmp_path, files):
    _write_package(tmp_path, files)
    assert cycles(import_graph(tmp_path)) == []


def test_no_page_imports_another():
    """What pages share lives in modules of its own (docs/architecture.md, The dashboard)."""
    from app.pages import PAGES

    graph = import_graph()
    pages = {f"app.pages.{entry.view.__module__.rsplit('.', 1)[1]}" for entry in PAGES.values()}
    sideways = sorted((page, other) for page in pages for other in graph[page] & pages)
    assert not sideways, f"pages importing other pages: {sideways}"
