"""Every module-level cache of ``app`` is reset between tests or said to be safe to keep
(tests/caches.py), and the reset empties it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.single_flight import SingleFlight
from tests.caches import KEPT, RESET_PER_MODULE, RESET_PER_TEST, cache, clear

ROOT = Path(__file__).resolve().parents[1]
CACHE_DECORATORS = {"cache", "lru_cache"}
CONTAINERS = {
    "dict",
    "OrderedDict",
    "WeakValueDictionary",
    "WeakKeyDictionary",
    "defaultdict",
    "SingleFlight",
}


def _is_container(value: ast.expr | None) -> bool:
    """A new, empty mutable mapping: a cache starts empty (a mapping written out is a table)."""
    if isinstance(value, ast.Dict):
        return not value.keys
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        return (
            name in CONTAINERS
            and not value.keywords
            and all(
                isinstance(a, ast.Name | ast.Attribute)
                for a in value.args  # defaultdict(list)
            )
        )
    return False


def _decorator_name(node: ast.expr) -> str | None:
    node = node.func if isinstance(node, ast.Call) else node
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _assigned(body: list[ast.stmt], class_vars: bool = False):
    """Names bound to a new mutable mapping (in a class body: only those annotated ``ClassVar``,
    as other class-level mappings are declarations for Panel and Bokeh)."""
    for node in body:
        if isinstance(node, ast.Assign) and _is_container(node.value) and not class_vars:
            yield from (t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and _is_container(node.value):
            is_class_var = "ClassVar" in ast.unparse(node.annotation)
            if isinstance(node.target, ast.Name) and is_class_var == class_vars:
                yield node.target.id


def _is_cache_name(name: str) -> bool:
    """Private and not a constant (``_SPAN_UNITS`` is a table, never written to)."""
    return name.startswith("_") and not name.lstrip("_").isupper()


def module_caches(source: str) -> set[str]:
    """Names of the caches a module keeps: module-level (and class-level) mutable mappings that
    are private, and functions memoised with ``functools.cache`` / ``lru_cache``."""
    tree = ast.parse(source)
    found = {name for name in _assigned(tree.body) if _is_cache_name(name)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = _assigned(node.body, class_vars=True)
            found |= {f"{node.name}.{name}" for name in names if _is_cache_name(name)}
        if isinstance(node, ast.FunctionDef) and any(
            _decorator_name(d) in CACHE_DECORATORS for d in node.decorator_list
        ):
            found.add(node.name)
    return found


def app_caches() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((ROOT / "app").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found |= {(module, name) for name in module_caches(path.read_text(encoding="utf-8"))}
    return found


def test_every_module_level_cache_is_reset_or_kept_on_purpose():
    listed = set(RESET_PER_TEST) | set(RESET_PER_MODULE) | set(KEPT)
    unlisted = sorted(app_caches() - listed)
    assert not unlisted, f"module-level caches listed nowhere in tests/caches.py: {unlisted}"


@pytest.mark.parametrize("listed", [*RESET_PER_TEST, *RESET_PER_MODULE, *KEPT], ids=str)
def test_every_listed_cache_exists(listed):
    assert cache(*listed) is not None


def test_clearing_empties_the_caches(monkeypatch):
    for listed in (*RESET_PER_TEST, *RESET_PER_MODULE):
        found = cache(*listed)
        if isinstance(found, SingleFlight):
            found.get(("planted", listed), object)
        else:
            monkeypatch.setitem(found, ("planted", listed), object())
        assert ("planted", listed) in found
        clear((listed,))
        assert ("planted", listed) not in found


def test_the_scan_finds_each_kind_of_cache():
    source = """
import functools
from functools import cache
_results: dict[str, int] = {}
_seen = dict()
PUBLIC = {}
_UNITS = {"d": 1}
class Reader:
    _shared: ClassVar[dict] = {}
    _rename: ClassVar[dict] = {"value": None}
@cache
def fingerprint(): ...
@functools.lru_cache(maxsize=8)
def parsed(text): ...
def plain(): ...
"""
    assert module_caches(source) == {
        "_results", "_seen", "Reader._shared", "fingerprint", "parsed",
    }  # fmt: skip
