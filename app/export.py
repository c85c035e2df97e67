"""Static export: one self-contained HTML file that opens from disk with no server and no network.

Panel 1.9's ``save(..., resources=INLINE)`` inlines the JavaScript of plain layouts but still
links stylesheets on cdn.holoviz.org: as ``<link>`` tags in the page head and as
``ImportedStyleSheet`` models inside the Bokeh document JSON (holoviz/panel#6759; templates
also link scripts there). Every one of those files ships inside the installed panel and bokeh
packages, so :func:`make_offline` rewrites the saved page: each remote ``<script src>``,
``<link href>``, CSS ``@import`` and ``url()``, and each imported stylesheet model is replaced by
the local file's content (or a ``data:`` URI for fonts and images). Web fonts from
fonts.googleapis.com are dropped: the page falls back to system fonts.

Then :func:`app.export_lazy.defer_hidden` leaves only the open page in the document the browser
builds on load (the other tabs and the hidden per-feature views are drawn when first shown), so a
file of six pages draws its first chart in about 2 s instead of 20-50 s.
"""

from __future__ import annotations

import base64
import functools
import html as html_lib
import io
import json
import logging
import mimetypes
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import bokeh
import panel as pn
from bokeh.document import Document
from bokeh.resources import INLINE
from panel.io.state import set_curdoc
from panel.template.base import BaseTemplate

from app.export_lazy import defer_hidden

__all__ = [
    "export_html",
    "export_pages",
    "make_offline",
    "without_unused_webgl",
    "external_references",
    "render_html",
    "render_pages",
]

log = logging.getLogger(__name__)

PANEL_DIST = Path(pn.__file__).parent / "dist"
BOKEH_JS = Path(bokeh.__file__).parent / "server" / "static" / "js"
# How Panel names its dist folder when a page is served rather than saved.
LOCAL_DIST = "static/extensions/panel/"
# Hosts whose files are dropped rather than inlined: fonts the page can do without.
DROPPED_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com")

_REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)
_TAG = re.compile(r"<(script|style|link)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_CSS_IMPORT = re.compile(
    r"""@import\s+(?:url\(\s*)?(?:"([^"]*)"|'([^']*)'|([^\s'")]+))\s*\)?[^;]*;""", re.IGNORECASE
)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^\s'")]*))\s*\)""", re.IGNORECASE)
_MODULE_IMPORT = re.compile(
    r"""(?:\bfrom|\bimport)\s*\(?\s*(?:"([^"]+)"|'([^']+)')""", re.IGNORECASE
)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.IGNORECASE)
_BOKEH_CDN = re.compile(
    r"/bokeh/(?:release|dev)/(bokeh(?:-(?:widgets|tables|gl|mathjax|api))?)-\d[^/]*?(\.min)?\.js$"
)
_WEBGL_BUNDLE = "/* BEGIN bokeh-gl.min.js */"
_WEBGL_BACKEND = re.compile(r'"output_backend"\s*:\s*"webgl"')
_STYLESHEET_MODELS = {
    "ImportedStyleSheet": "InlineStyleSheet",
    "GlobalImportedStyleSheet": "GlobalInlineStyleSheet",
}
_MIME = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".svg": "image/svg+xml"}


def export_html(content: Any, out: Path | str, title: str = "Driftdeck") -> Path:
    """Write ``content`` (a Panel viewable, or a mapping of tab title to viewable) to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(content, title), encoding="utf-8")
    return out


def render_html(content: Any, title: str = "Driftdeck") -> str:
    """The self-contained HTML text of ``content`` (see :func:`export_html`).

    Templates are refused: Panel's save leaves out their scripts (Bootstrap's JS) and the Fast
    templates load ES modules by relative path, so export the layout inside them instead.
    """
    if isinstance(content, BaseTemplate):
        raise TypeError("export a layout (e.g. the template's main area), not a Panel template")
    with standalone():
        if isinstance(content, Mapping):
            viewable = pn.Tabs(*((str(name), pn.panel(item)) for name, item in content.items()))
        else:
            viewable = pn.panel(content)
        buffer = io.StringIO()
        viewable.save(buffer, resources=INLINE, title=title)
    return without_unused_webgl(defer_hidden(make_offline(buffer.getvalue())))


@contextmanager
def standalone() -> Iterator[None]:
    """Build and save outside any browser session, even when called from one (the download
    button): Panel caches stylesheets and settings per current document, and a save switches
    resources to CDN URLs, which must not leak into the live session. Pages built here also
    see that they are not served, so they compute their content before it is saved."""
    with set_curdoc(Document()):
        yield


def make_offline(page: str) -> str:
    """Rewrite a saved Panel/Bokeh page so it loads nothing from outside the file."""
    inliner = _Inliner()
    result = inliner.rewrite(page)
    for url in sorted(inliner.dropped):
        log.info("export: dropped %s (no local copy; the page works without it)", url)
    return result


def without_unused_webgl(page: str) -> str:
    """The page without BokehJS's WebGL bundle when no plot in it draws with WebGL (Driftdeck's
    charts draw on a canvas): 190 kB the browser would parse for nothing."""
    if _WEBGL_BACKEND.search(page):
        return page
    for m in _TAG.finditer(page):
        if m.group(1).lower() != "script":
            continue
        close = re.compile(r"</script\s*>", re.IGNORECASE).search(page, m.end())
        if close and page[m.end() : close.start()].lstrip().startswith(_WEBGL_BUNDLE):
            return page[: m.start()] + page[close.end() :]
    return page


def external_references(page: str) -> list[str]:
    """Everything the page would fetch rather than find in itself: script and link URLs, CSS
    imports and ``url()``s, ES module imports, and stylesheet models in the Bokeh documents,
    remote or relative alike (``data:`` and ``blob:`` URIs are in the file). Links and text
    inside the data are content, not fetched, and not counted."""
    found: list[str] = []
    for kind, attrs, body in _elements(page):
        if kind == "link" and _fetched(attrs.get("href", "")):
            found.append(attrs["href"])
        elif kind == "script" and _fetched(attrs.get("src", "")):
            found.append(attrs["src"])
        elif kind == "script" and attrs.get("type") == "module":
            found += [ref for ref in _module_imports(body) if _fetched(ref)]
        elif kind == "style":
            found += _css_references(body)
        elif kind == "script" and attrs.get("type") == "application/json":
            for sheet_url, css in _stylesheets(json.loads(html_lib.unescape(body))):
                if sheet_url is not None and _fetched(sheet_url):
                    found.append(sheet_url)
                if css:
                    found += _css_references(css)
    return found


def _fetched(url: str) -> bool:
    url = url.strip()
    return bool(url) and not url.startswith(("data:", "blob:", "#"))


def _module_imports(code: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _MODULE_IMPORT.finditer(code)]


def _is_remote(url: str) -> bool:
    return bool(_REMOTE.match(url.strip()))


def _attrs(text: str) -> dict[str, str]:
    return {
        m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
        for m in _ATTR.finditer(text)
    }


def _elements(page: str):
    """(tag, attributes, body) for every script, style and link element, skipping script and
    style bodies the way a browser does (so markup inside JavaScript strings is not matched)."""
    pos = 0
    while m := _TAG.search(page, pos):
        kind = m.group(1).lower()
        attrs = _attrs(m.group(2))
        if kind == "link":
            yield kind, attrs, ""
            pos = m.end()
            continue
        close = re.compile(rf"</{kind}\s*>", re.IGNORECASE).search(page, m.end())
        end = close.start() if close else len(page)
        yield kind, attrs, page[m.end() : end]
        pos = close.end() if close else len(page)


def _css_references(css: str) -> list[str]:
    refs = [next(g for g in m.groups() if g is not None) for m in _CSS_IMPORT.finditer(css)]
    refs += [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(css)]
    return [r for r in refs if _fetched(r)]


def _stylesheets(node: Any):
    """(url or None, css or None) of every stylesheet in a Bokeh document JSON."""
    if isinstance(node, dict):
        if node.get("type") == "object" and str(node.get("name", "")).endswith("StyleSheet"):
            attrs = node.get("attributes", {})
            yield attrs.get("url"), attrs.get("css")
        for key, value in node.items():
            if key == "stylesheets" and isinstance(value, list):
                yield from ((None, v) for v in value if isinstance(v, str))
            yield from _stylesheets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _stylesheets(value)


def local_file(url: str) -> Path | None:
    """The file inside the installed panel or bokeh package that a CDN URL points at."""
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    if url.startswith(LOCAL_DIST):
        return _inside(PANEL_DIST, url[len(LOCAL_DIST) :].split("?")[0])
    parts = urlsplit(url)
    host, path = parts.netloc.lower(), unquote(parts.path)
    if host == "cdn.holoviz.org":
        m = re.match(r"/panel/[^/]+/dist/(.+)", path)
        return _inside(PANEL_DIST, m.group(1)) if m else None
    if host == "cdn.bokeh.org":
        m = _BOKEH_CDN.search(path)
        return _inside(BOKEH_JS, f"{m.group(1)}{m.group(2) or ''}.js") if m else None
    if host in ("cdn.jsdelivr.net", "unpkg.com"):
        spec = path.removeprefix("/npm/").lstrip("/")
        bundled = PANEL_DIST / "bundled"
        for folder in [bundled, *(p for p in bundled.iterdir() if p.is_dir())]:
            found = _inside(folder, spec)
            if found:
                return found
    return None


@functools.cache
def _dist_files() -> dict[str, list[Path]]:
    """Panel's dist files by file name."""
    index: dict[str, list[Path]] = {}
    for path in sorted(PANEL_DIST.rglob("*")):
        if path.is_file():
            index.setdefault(path.name, []).append(path)
    return index


def _dist_file_ending(relative: str) -> Path | None:
    """The file in Panel's dist whose path ends like ``relative`` (``../webfonts/x.woff2`` →
    ``bundled/font-awesome/webfonts/x.woff2``; of vendored copies, the least nested)."""
    parts = [p for p in relative.split("/") if p not in ("", ".", "..")]
    if not parts:
        return None
    matches = [
        p for p in _dist_files().get(parts[-1], []) if p.parts[-len(parts) :] == tuple(parts)
    ]
    return min(matches, key=lambda p: len(p.parts)) if matches else None


def _inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it is an existing file that stays inside ``root``."""
    if not relative:
        return None
    candidate = (root / relative).resolve()
    if candidate.is_file() and candidate.is_relative_to(root.resolve()):
        return candidate
    return None


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime or 'application/octet-stream'};base64,{data}"


def _woff2_only(css: str) -> str:
    """Keep only the woff2 sources of an @font-face (every current browser reads woff2), so the
    inlined fonts are embedded once rather than in five formats."""

    def shrink(block: re.Match) -> str:
        text = block.group(0)
        if ".woff2" not in text:
            return text
        body = text[text.index("{") + 1 : -1]
        kept = []
        for decl in body.split(";"):
            name = decl.split(":", 1)[0].strip().lower()
            if name == "src":
                if ".woff2" not in decl:
                    continue
                value = decl.split(":", 1)[1]
                sources = [s for s in re.split(r",(?![^(]*\))", value) if ".woff2" in s]
                decl = "src:" + ",".join(sources)
            kept.append(decl)
        return "@font-face{" + ";".join(kept) + "}"

    return _FONT_FACE.sub(shrink, css)


class _Inliner:
    """One rewrite of one page; caches each file's inlined text."""

    def __init__(self) -> None:
        self.dropped: set[str] = set()
        self._css: dict[str, str | None] = {}

    # -- resolving -----------------------------------------------------------------
    def _resolve(self, ref: str, base: str | None) -> str:
        ref = ref.strip()
        if base and not _is_remote(ref) and not ref.startswith(LOCAL_DIST):
            return urljoin(base, ref)
        return ref

    def css_file(self, url: str) -> str | None:
        """The inlined text of the stylesheet at ``url``, or None when it has no local copy."""
        if url not in self._css:
            self._css[url] = None  # guards against @import cycles
            path = local_file(url)
            if path is None:
                self.dropped.add(url)
            else:
                self._css[url] = self.css(path.read_text(encoding="utf-8"), base=url)
        return self._css[url]

    def css(self, css: str, base: str | None = None) -> str:
        """CSS with every import inlined and every url() turned into a data URI."""

        def do_import(m: re.Match) -> str:
            ref = next(g for g in m.groups() if g is not None)
            url = self._resolve(ref, base)
            if not (_is_remote(url) or url.startswith(LOCAL_DIST)):
                return m.group(0)
            inlined = self.css_file(url)
            return inlined if inlined is not None else ""

        def do_url(m: re.Match) -> str:
            ref = next(g for g in m.groups() if g is not None)
            if not _fetched(ref):
                return m.group(0)
            url = self._resolve(ref, base)
            if _is_remote(url) or url.startswith(LOCAL_DIST):
                path = local_file(url.split("#")[0])
            else:
                # Panel inlines some package CSS as text, leaving its relative url()s behind.
                path = _dist_file_ending(url.split("#")[0].split("?")[0])
            if path is None:
                self.dropped.add(url)
                return "none"
            return f'url("{_data_uri(path)}")'

        # An unresolvable url() becomes ``none``: a background goes blank, an @font-face
        # loses its src and is ignored; either way nothing is fetched.
        css = _woff2_only(_CSS_IMPORT.sub(do_import, css))
        return _CSS_URL.sub(do_url, css)

    # -- the page ------------------------------------------------------------------
    def rewrite(self, page: str) -> str:
        out: list[str] = []
        pos = 0
        while m := _TAG.search(page, pos):
            out.append(page[pos : m.start()])
            kind = m.group(1).lower()
            attrs = _attrs(m.group(2))
            if kind == "link":
                out.append(self._link(m.group(0), attrs))
                pos = m.end()
                continue
            close = re.compile(rf"</{kind}\s*>", re.IGNORECASE).search(page, m.end())
            body_end = close.start() if close else len(page)
            end = close.end() if close else len(page)
            body = page[m.end() : body_end]
            if kind == "style":
                out.append(f"{m.group(0)}{self.css(body)}</style>")
            elif attrs.get("src") and (
                _is_remote(attrs["src"]) or attrs["src"].startswith(LOCAL_DIST)
            ):
                out.append(self._script(attrs))
            elif attrs.get("type") == "application/json":
                out.append(f"{m.group(0)}{self._document(body)}</script>")
            else:
                out.append(page[m.start() : end])
            pos = end
        out.append(page[pos:])
        return "".join(out)

    def _link(self, tag: str, attrs: dict[str, str]) -> str:
        href = attrs.get("href", "")
        rel = attrs.get("rel", "").lower()
        if "icon" in rel and _fetched(href) and not _is_remote(href):
            # Panel's templates point at ./favicon.ico, which only a server has.
            href = f"{LOCAL_DIST}images/favicon.ico"
        if not (_is_remote(href) or href.startswith(LOCAL_DIST)):
            return tag
        if "stylesheet" in rel:
            css = self.css_file(href)
            return f"<style>{css}</style>" if css is not None else ""
        if "icon" in rel:
            path = local_file(href)
            if path is not None:
                return f'<link rel="{rel}" href="{_data_uri(path)}">'
        if "preconnect" not in rel and "dns-prefetch" not in rel:
            self.dropped.add(href)
        return ""

    def _script(self, attrs: dict[str, str]) -> str:
        src = attrs.pop("src")
        path = local_file(src)
        if path is None:
            self.dropped.add(src)
            return ""
        code = re.sub(
            r"</(script)", r"<\\/\1", path.read_text(encoding="utf-8"), flags=re.IGNORECASE
        )
        kept = "".join(
            f' {k}="{html_lib.escape(v)}"'
            for k, v in attrs.items()
            if k not in ("integrity", "crossorigin", "defer", "async")
        )
        return f"<script{kept}>{code}</script>"

    def _document(self, body: str) -> str:
        docs = json.loads(html_lib.unescape(body))
        self._walk(docs)
        return html_lib.escape(json.dumps(docs, separators=(",", ":")), quote=False)

    def _walk(self, node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("name")
            attrs = node.get("attributes")
            if node.get("type") == "object" and isinstance(attrs, dict):
                if name in _STYLESHEET_MODELS and isinstance(attrs.get("url"), str):
                    url = attrs["url"]
                    if _is_remote(url) or url.startswith(LOCAL_DIST):
                        node["name"] = _STYLESHEET_MODELS[name]
                        node["attributes"] = {"css": self.css_file(url) or ""}
                elif name in _STYLESHEET_MODELS.values() and isinstance(attrs.get("css"), str):
                    attrs["css"] = self.css(attrs["css"])
            for key, value in node.items():
                if key == "stylesheets" and isinstance(value, list):
                    node[key] = [self.css(v) if isinstance(v, str) else v for v in value]
                self._walk(node[key])
        elif isinstance(node, list):
            for value in node:
                self._walk(value)


def pages_layout(monitor: Any, page: str | None = None, title: str = "Driftdeck") -> Any:
    """What the export shows: a header naming the window, then one page or all six as tabs."""
    from app import theme
    from app.pages import PAGES

    slugs = [page] if page else list(PAGES)
    window = monitor.window_label()
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    header = pn.pane.HTML(
        f'<div style="background:{theme.ACCENT};color:#fff;padding:12px 18px;border-radius:4px;'
        f'font-family:{html_lib.escape(theme.SYSTEM_FONTS)}">'
        f'<div style="font-size:22px;font-weight:600">{html_lib.escape(title)}</div>'
        f'<div style="opacity:.85">Time window: {html_lib.escape(window)} · exported {stamp}</div>'
        "</div>",
        sizing_mode="stretch_width",
    )
    views = {PAGES[slug].title: static_page(slug, monitor) for slug in slugs}
    body = next(iter(views.values())) if len(views) == 1 else pn.Tabs(*views.items())
    return pn.Column(header, body, sizing_mode="stretch_width")


def static_page(slug: str, monitor: Any) -> Any:
    """The page at ``slug`` drawn for a file with no server behind it: pages with controls
    that would ask the server (a feature's detail, the next page of rows) draw their content up
    front and switch in the browser instead, and controls only a server can answer (resetting
    the time window, reloading from MLflow, the hint to select a time range) are left out."""
    from app.pages import build_page

    page = build_page(slug, monitor)
    if "static" in page.param:
        page.static = True
    return page


def render_pages(monitor: Any, page: str | None = None, title: str = "Driftdeck") -> str:
    """The self-contained HTML of one page or all six, for the Monitor's current window."""
    with standalone():
        return render_html(pages_layout(monitor, page, title), title)


def export_pages(
    config: Any,
    out: Path | str,
    page: str | None = None,
    window: tuple[Any, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """``driftdeck export``: write one page (or all six) over ``window`` (start, end; None for
    the monitoring window, (None, None) for every row) to ``out``."""
    from app.monitor import Monitor

    report = progress or (lambda _message: None)
    monitor = Monitor(config)
    if window is not None:
        monitor.set_window(*window)
    report("computing pages")
    html = render_pages(monitor, page)
    report(f"writing {out}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
