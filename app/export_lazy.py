"""Draw on demand in a static export: what the file does not show when it opens is not built when
it opens.

A saved Panel page is one Bokeh document, and BokehJS builds a view for every model in its layout,
hidden or not: the pages of the other tabs, and the per-feature views that a feature list switches
in the browser (they are only ``visible: false``). With every page and feature in it, the file took
20-50 s to draw its first chart. :func:`defer_hidden` rewrites the saved document so it holds
only what is shown: the children of every hidden layout and of every tab not open are moved out of
it, each into its own ``<script type="application/json">`` holding a Bokeh document patch, and one
``CustomJS`` applies that patch to the document the first time the layout is shown (its
``visible`` turns true, or its tab is chosen). The patch refers to models already in the document
by id, so data, stylesheets and the JavaScript are in the file once; a model two deferred parts
share is kept in the document itself (in the loader's ``args``), so neither repeats it.

Nothing is fetched: the patches are in the file, and a ``<script type="application/json">`` costs
the browser nothing until it is parsed.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFERRED_PREFIX", "LOADER_ID", "deferred_parts", "defer_hidden", "restored_documents"]

DEFERRED_PREFIX = "driftdeck-deferred-"
"""The id of the script holding the deferred children of layout ``X`` is ``DEFERRED_PREFIX + X``."""
LOADER_ID = "driftdeck-deferred-loader"
STYLESHEET_PREFIX = "driftdeck-stylesheet-"

# Runs as a js_property_callback: on ``change:visible`` of a hidden layout, and on
# ``change:active`` of a Tabs. The script text is HTML-escaped like Bokeh's own document script.
LOADER_JS = """
const load = (model) => {
  if (model == null || model.document == null) return
  const script = document.getElementById(prefix + model.id)
  if (script == null || script.dataset.loaded) return
  script.dataset.loaded = "yes"
  const entities = {amp: "&", lt: "<", gt: ">"}
  const text = script.textContent.replace(/&(amp|lt|gt);/g, (_, name) => entities[name])
  model.document.apply_json_patch(JSON.parse(text))
}
if (cb_obj.tabs !== undefined) {
  const panel = cb_obj.tabs[cb_obj.active]
  if (panel != null) load(panel.child)
} else if (cb_obj.visible) {
  load(cb_obj)
}
"""

# Layouts whose view draws its children and nothing else, so they can start empty (a Card's first
# child is its header, which its view needs).
LAYOUTS = frozenset({"panel.models.layout.Column", "Column", "Row"})

_DOCS_SCRIPT = re.compile(
    r"""(<script\b[^>]*\btype=["']application/json["'][^>]*>)(.*?)(</script\s*>)""",
    re.IGNORECASE | re.DOTALL,
)


def defer_hidden(page: str) -> str:
    """``page`` (a saved Bokeh/Panel HTML page) with its hidden layouts and closed tabs drawn on
    demand (see the module's doc)."""
    out: list[str] = []
    pos = 0
    for m in _DOCS_SCRIPT.finditer(page):
        if DEFERRED_PREFIX in m.group(1):
            continue
        out.append(page[pos : m.start()])
        docs = json.loads(html_lib.unescape(m.group(2)))
        if not _is_docs_json(docs):
            out.append(m.group(0))
            pos = m.end()
            continue
        scripts: list[str] = []
        for doc in docs.values():
            parts = _Deferral(doc["roots"])
            doc["roots"] = parts.main()
            scripts += [
                f'<script type="application/json" id="{DEFERRED_PREFIX}{cid}">{_escape(patch)}'
                "</script>"
                for cid, patch in parts.patches()
            ]
        out.append(f"{m.group(1)}{_escape(docs)}{m.group(3)}")
        out.extend(scripts)
        pos = m.end()
    out.append(page[pos:])
    return "".join(out)


def deferred_parts(page: str) -> dict[str, dict]:
    """The deferred patches of a page written by :func:`defer_hidden`, by layout id."""
    found = {}
    for m in _DOCS_SCRIPT.finditer(page):
        ident = re.search(r"""\bid=["']([^"']*)["']""", m.group(1))
        if ident and ident.group(1).startswith(DEFERRED_PREFIX):
            found[ident.group(1).removeprefix(DEFERRED_PREFIX)] = json.loads(
                html_lib.unescape(m.group(2))
            )
    return found


def restored_documents(page: str) -> dict[str, Any]:
    """The Bokeh documents of ``page`` as if every deferred part had been shown: each deferred
    layout holds its children again (the file's content, for tests and checks)."""
    (docs,) = [
        json.loads(html_lib.unescape(m.group(2)))
        for m in _DOCS_SCRIPT.finditer(page)
        if DEFERRED_PREFIX not in m.group(1)
        and _is_docs_json(json.loads(html_lib.unescape(m.group(2))))
    ]
    patches = deferred_parts(page)
    reps: dict[str, dict] = {}

    def index(node: Any) -> None:
        for rep in _walk_models(node):
            reps.setdefault(rep["id"], rep)

    index(docs)
    pending = dict(patches)
    while pending:
        ready = [cid for cid in pending if cid in reps]
        if not ready:
            raise ValueError(f"deferred parts of unknown layouts: {sorted(pending)}")
        for cid in ready:
            (event,) = pending.pop(cid)["events"]
            reps[cid]["attributes"][event["attr"]] = event["new"]
            index(event["new"])
    return docs


# -- the rewrite -------------------------------------------------------------------------------


@dataclass
class _Part:
    """A layout whose children are deferred, and the part it is inside (None: the document)."""

    container: str
    children: list[Any]
    parent: str | None
    known: set[str] = field(default_factory=set)


class _Deferral:
    """One document's roots, split into what is drawn on load and the deferred parts."""

    def __init__(self, roots: list[Any]) -> None:
        self.roots = roots
        self.reps: dict[str, dict] = {}
        for rep in _walk_models(roots):
            self.reps.setdefault(rep["id"], rep)
        self._share_stylesheets()
        self.parts: dict[str, _Part] = {}
        self.triggers: dict[str, str] = {}  # model id -> the property that loads a part
        self._find()
        self.shared: list[str] = []
        self._split()

    def _share_stylesheets(self) -> None:
        """Write each stylesheet given as text to many models once: Panel gives every pane its
        own copy (the loading spinner's CSS ~600 times), BokehJS makes the same style sheet of a
        text or of an ``InlineStyleSheet`` model, and a model is written once and shared by id."""
        uses: dict[str, int] = {}
        for rep in self.reps.values():
            for sheet in rep.get("attributes", {}).get("stylesheets") or []:
                if isinstance(sheet, str):
                    uses[sheet] = uses.get(sheet, 0) + 1
        shared = {
            css: f"{STYLESHEET_PREFIX}{i}"
            for i, css in enumerate(c for c, n in uses.items() if n > 1)
        }
        for css, ident in shared.items():
            self.reps[ident] = {
                "type": "object",
                "name": "InlineStyleSheet",
                "id": ident,
                "attributes": {"css": css},
            }
        for rep in list(self.reps.values()):
            sheets = rep.get("attributes", {}).get("stylesheets")
            if isinstance(sheets, list) and any(isinstance(s, str) and s in shared for s in sheets):
                rep["attributes"]["stylesheets"] = [
                    {"id": shared[s]} if isinstance(s, str) and s in shared else s for s in sheets
                ]

    # -- what is deferred ----------------------------------------------------------------------
    def _find(self) -> None:
        """Find the deferred layouts, walking the document from its roots (depth first, in the
        order BokehJS reads it), each model once, knowing which part it is inside."""
        seen: set[str] = set()
        stack: list[tuple[str, str | None]] = [(r["id"], None) for r in reversed(self.roots)]
        while stack:
            ident, part = stack.pop()
            if ident in seen or ident not in self.reps:
                continue
            seen.add(ident)
            rep = self.reps[ident]
            attrs = rep.get("attributes", {})
            later: list[tuple[str, str | None]] = []
            if _is_tabs(rep):
                active = attrs.get("active", 0)
                shown = {self._tab_child(p) for i, p in enumerate(attrs["tabs"]) if i == active}
                for i, panel in enumerate(attrs["tabs"]):
                    child = self.reps.get(self._tab_child(panel), {})
                    # A child already walked or shown by the open tab is drawn now: it stays.
                    if (
                        i != active
                        and child.get("id") not in shown
                        and self._deferrable(child, seen)
                    ):
                        self.triggers[ident] = "active"
                        later += self._defer(child, part, seen)
            if attrs.get("visible") is False and self._deferrable(rep, seen - {ident}):
                self.triggers[ident] = "visible"
                later += self._defer(rep, part, seen)
            else:
                later += [(ref, part) for ref in _refs(attrs)]
            stack.extend(reversed(later))

    def _tab_child(self, panel: Any) -> str:
        ident = panel.get("id", "") if isinstance(panel, dict) else ""
        child = self.reps.get(ident, {}).get("attributes", {}).get("child")
        return child.get("id", "") if isinstance(child, dict) else ""

    def _deferrable(self, rep: dict, seen: set[str]) -> bool:
        children = rep.get("attributes", {}).get("children")
        return (
            rep.get("name") in LAYOUTS
            and rep["id"] not in seen
            and isinstance(children, list)
            and bool(children)
            and all(isinstance(c, dict) and "id" in c for c in children)
        )

    def _defer(self, rep: dict, part: str | None, seen: set[str]) -> list[tuple[str, str | None]]:
        """Move ``rep``'s children to a part of their own; return what is left to walk."""
        ident = rep["id"]
        self.parts[ident] = _Part(ident, rep["attributes"]["children"], part)
        rep["attributes"] = {**rep["attributes"], "children": []}
        seen.add(ident)
        # Its children are inside the new part; whatever else it refers to stays where it is.
        return [(child["id"], ident) for child in self.parts[ident].children] + [
            (ref, part) for ref in _refs(rep["attributes"])
        ]

    # -- who holds which model -----------------------------------------------------------------
    def _split(self) -> None:
        for ident, prop in self.triggers.items():
            attrs = self.reps[ident]["attributes"]
            attrs["js_property_callbacks"] = _add_callback(
                attrs.get("js_property_callbacks"), f"change:{prop}", LOADER_ID
            )
        self.reps[LOADER_ID] = {
            "type": "object",
            "name": "CustomJS",
            "id": LOADER_ID,
            "attributes": {
                "args": {"type": "map", "entries": [["prefix", DEFERRED_PREFIX]]},
                "code": LOADER_JS,
            },
        }
        if self.parts:
            root = self.reps[self.roots[0]["id"]]["attributes"]
            root["js_property_callbacks"] = _add_callback(
                root.get("js_property_callbacks"), "change:visible", LOADER_ID
            )
        main = self._closure([r["id"] for r in self.roots], set())
        # Models two parts would both bring (neither inside the other) go to the document.
        while True:
            counts: dict[str, int] = {}
            for part in self._ordered():
                part.known = self._known(part, main)
                for ident in self._closure([c["id"] for c in part.children], part.known):
                    counts[ident] = counts.get(ident, 0) + 1
            shared = sorted(ident for ident, n in counts.items() if n > 1)
            if not shared:
                break
            self.shared += shared
            self.reps[LOADER_ID]["attributes"]["args"]["entries"] = [
                ["prefix", DEFERRED_PREFIX],
                ["shared", [{"id": i} for i in self.shared]],
            ]
            main = self._closure([r["id"] for r in self.roots], set())
        self._main_known = main

    def _ordered(self) -> list[_Part]:
        """Parts, each after the part it is inside."""
        done: list[_Part] = []
        placed: set[str] = set()
        while len(done) < len(self.parts):
            for part in self.parts.values():
                if part.container not in placed and (part.parent is None or part.parent in placed):
                    done.append(part)
                    placed.add(part.container)
        return done

    def _known(self, part: _Part, main: set[str]) -> set[str]:
        """What the document holds when ``part`` is loaded: its own and the enclosing parts'."""
        known = set(main)
        parent = part.parent
        while parent is not None:
            enclosing = self.parts[parent]
            known |= self._closure([c["id"] for c in enclosing.children], enclosing.known)
            parent = enclosing.parent
        return known

    def _closure(self, start: list[str], known: set[str]) -> set[str]:
        found: set[str] = set()
        stack = list(reversed(start))
        while stack:
            ident = stack.pop()
            if ident in known or ident in found or ident not in self.reps:
                continue
            found.add(ident)
            stack.extend(_refs(self.reps[ident].get("attributes", {})))
        return found

    # -- the output ----------------------------------------------------------------------------
    def main(self) -> list[Any]:
        return _emit(self.roots, self.reps, set())

    def patches(self) -> Iterator[tuple[str, dict]]:
        for part in self._ordered():
            new = _emit(part.children, self.reps, set(part.known))
            event = {"kind": "ModelChanged", "model": {"id": part.container}}
            yield part.container, {"events": [{**event, "attr": "children", "new": new}]}


def _emit(value: Any, reps: dict[str, dict], known: set[str]) -> Any:
    """``value`` serialized as Bokeh does: a model's first occurrence in full, then by id."""
    if isinstance(value, list):
        return [_emit(v, reps, known) for v in value]
    if not isinstance(value, dict):
        return value
    ident = value.get("id")
    if isinstance(ident, str) and (value.get("type") == "object" or set(value) == {"id"}):
        if ident in known or ident not in reps:
            return {"id": ident}
        known.add(ident)
        rep = reps[ident]
        out = {k: v for k, v in rep.items() if k != "attributes"}
        if "attributes" in rep:
            out["attributes"] = _emit(rep["attributes"], reps, known)
        return out
    return {k: _emit(v, reps, known) for k, v in value.items()}


def _walk_models(node: Any) -> Iterator[dict]:
    """Every model written in full under ``node``."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            if item.get("type") == "object" and isinstance(item.get("id"), str) and "name" in item:
                yield item
            stack.extend(reversed(list(item.values())))


def _refs(value: Any) -> list[str]:
    """The ids of the models ``value`` refers to directly (not those they refer to)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            ident = item.get("id")
            if isinstance(ident, str) and (item.get("type") == "object" or set(item) == {"id"}):
                found.append(ident)
            else:
                stack.extend(reversed(list(item.values())))
    return found


def _is_tabs(rep: dict) -> bool:
    tabs = rep.get("attributes", {}).get("tabs")
    return str(rep.get("name", "")).endswith("Tabs") and isinstance(tabs, list)


def _add_callback(callbacks: Any, event: str, ident: str) -> dict:
    """A ``js_property_callbacks`` map with CustomJS ``ident`` added for ``event``."""
    entries = [list(e) for e in (callbacks or {}).get("entries", [])]
    for entry in entries:
        if entry[0] == event:
            entry[1] = [*entry[1], {"id": ident}]
            break
    else:
        entries.append([event, [{"id": ident}]])
    return {"type": "map", "entries": entries}


def _is_docs_json(docs: Any) -> bool:
    return isinstance(docs, dict) and all(
        isinstance(d, dict) and isinstance(d.get("roots"), list) for d in docs.values()
    )


def _escape(value: Any) -> str:
    return html_lib.escape(json.dumps(value, separators=(",", ":")), quote=False)
