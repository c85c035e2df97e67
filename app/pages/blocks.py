"""Tables, pills and notes for the Performance, Production Data and Alerts pages.

KPI cards, section frames and empty states come from ``app.pages.cards`` (shared by all pages);
these are the extra blocks those three pages need: tables whose rows carry a severity stripe,
severity pills, bullet lists and boxed notes in any severity colour.

Every block is HTML built here, with every value escaped (``html.escape``): category values,
file names and messages come from the user's data, and a value such as
``<script>alert(1)</script>`` must show as text. Colours are neutral greys with alpha so that
the same markup reads on the light theme and on the dark toggle; severities use ``app.theme``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import panel as pn

from app import theme
from app.pages.cards import KpiCard

BLOCK_CSS = """
:host { width: 100%; }
.dd-note {
  padding: 10px 14px; border-radius: 6px; border: 1px solid rgba(127, 127, 127, 0.3);
  border-left: 5px solid var(--dd-color); background: rgba(127, 127, 127, 0.05);
}
.dd-note .dd-title { font-weight: 600; margin-bottom: 2px; }
.dd-note .dd-body { opacity: 0.85; }
.dd-table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.dd-table th { text-align: left; font-weight: 600; opacity: 0.8; }
.dd-table th, .dd-table td {
  padding: 6px 10px; border-bottom: 1px solid rgba(127, 127, 127, 0.25); vertical-align: top;
}
.dd-scroll { max-width: 100%; overflow-x: auto; }
.dd-table th.dd-num { text-align: right; }
.dd-table td.dd-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.dd-table td.dd-nowrap { white-space: nowrap; }
.dd-table td.dd-text { min-width: 13em; }
.dd-table tr.dd-row td:first-child { border-left: 4px solid var(--dd-color); }
.dd-pill {
  display: inline-block; padding: 1px 9px; border-radius: 10px; color: #fff;
  background: var(--dd-color); font-size: 0.8em; font-weight: 600; white-space: nowrap;
}
.dd-muted { opacity: 0.7; }
.dd-flag {
  display: inline-block; margin: 1px 4px 1px 0; padding: 0 7px; border-radius: 10px;
  border: 1px solid var(--dd-color); font-size: 0.85em; white-space: nowrap;
}
.dd-flag b { color: var(--dd-color); }
.dd-flag.dd-insignificant { opacity: 0.6; border-style: dashed; }
.dd-list { margin: 4px 0 0 0; padding-left: 20px; }
.dd-list li { margin: 3px 0; }
"""

NOTE_COLORS = {
    "info": theme.ACCENT,
    "missing": theme.MISSING_COLOR,
    "error": theme.SEVERITY_COLORS["critical"],
    "critical": theme.SEVERITY_COLORS["critical"],
    "warning": theme.SEVERITY_COLORS["warning"],
    "ok": theme.SEVERITY_COLORS["ok"],
}


def esc(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape("" if value is None else str(value), quote=True)


def html_pane(markup: str, **params: Any) -> pn.pane.HTML:
    """An HTML pane carrying the block stylesheet (panes render in their own shadow root)."""
    params.setdefault("sizing_mode", "stretch_width")
    params.setdefault("margin", (5, 10))
    return pn.pane.HTML(markup, stylesheets=[BLOCK_CSS], **params)


def note_markup(title: str, body: str = "", kind: str = "info") -> str:
    color = NOTE_COLORS.get(kind, theme.ACCENT)
    out = (
        f'<div class="dd-note" style="--dd-color: {color}"><div class="dd-title">{esc(title)}</div>'
    )
    if body:
        out += f'<div class="dd-body">{esc(body)}</div>'
    return out + "</div>"


def note(title: str, body: str = "", kind: str = "info", **params: Any) -> pn.pane.HTML:
    """A boxed message: empty states (``missing``), failures (``error``) and hints (``info``)."""
    return html_pane(note_markup(title, body, kind), **params)


def pill(text: str, color: str) -> str:
    return f'<span class="dd-pill" style="--dd-color: {esc(color)}">{esc(text)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    colors: Sequence[str | None] | None = None,
    raw: Sequence[int] = (),
    nowrap: Sequence[int] = (),
    text: Sequence[int] = (),
) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (already-built markup).

    ``colors`` gives each row a coloured left stripe (severity); ``numeric`` right-aligns columns
    (values on one line); ``nowrap`` keeps other columns (dates) on one line and
    ``text`` columns (names) wide enough to wrap onto two lines, not four. A table wider than its
    card scrolls inside it instead of overflowing it.
    """
    head = "".join(
        f'<th class="dd-num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for i, row in enumerate(rows):
        color = colors[i] if colors else None
        attrs = f' class="dd-row" style="--dd-color: {esc(color)}"' if color else ""
        cells = []
        for j, value in enumerate(row):
            content = value if j in raw else esc(value)
            cls = (
                ' class="dd-num"'
                if j in numeric
                else ' class="dd-nowrap"'
                if j in nowrap
                else ' class="dd-text"'
                if j in text
                else ""
            )
            cells.append(f"<td{cls}>{content}</td>")
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    return (
        f'<div class="dd-scroll"><table class="dd-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def bullet_list(items: Iterable[str]) -> str:
    """An escaped bullet list."""
    return '<ul class="dd-list">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def kpi(
    label: str, value: Any, text: str, caption: str = "", severity: str | None = None
) -> KpiCard:
    """A shown KPI card (``value`` is the raw number, ``text`` what the card displays)."""
    card = KpiCard(label)
    card.show(value, text, caption, severity)
    return card


def kpi_row(cards: Iterable[KpiCard]) -> pn.FlexBox:
    """KPI cards side by side, wrapping on narrow screens."""
    return pn.FlexBox(*(c.pane for c in cards), sizing_mode="stretch_width")


def subheading(text: str) -> pn.pane.HTML:
    """A bold label above a table inside a section (``text`` is escaped)."""
    return html_pane(
        f'<div style="font-weight: 600; margin-top: 6px">{esc(text)}</div>', margin=(0, 10)
    )
