"""Small building blocks shared by the pages: KPI cards, section frames and empty states.

Everything that puts text into HTML escapes it here: feature names and category values come
from the user's data, and an HTML or Markdown pane would otherwise run them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from app import theme

CARD_CSS = """
.kpi {
  border: 1px solid var(--neutral-stroke-rest, rgba(128, 128, 128, 0.35));
  border-left: 6px solid var(--kpi-color);
  border-radius: 6px;
  padding: 10px 14px;
  min-height: 92px;
  box-sizing: border-box;
  color: inherit;
}
.kpi .label { font-size: 0.85em; opacity: 0.75; text-transform: uppercase; letter-spacing: 0.03em; }
.kpi .value { font-size: 1.9em; font-weight: 650; line-height: 1.25; margin-top: 4px; }
.kpi .caption { font-size: 0.85em; opacity: 0.8; margin-top: 2px; }
.kpi .detail { font-size: 0.8em; opacity: 0.75; margin-top: 1px; }
"""


def _rgb(color: str) -> str:
    """``#0f6e8c`` as ``15, 110, 140`` (for a translucent tint in CSS)."""
    return ", ".join(str(int(color[i : i + 2], 16)) for i in (1, 3, 5))


TABLE_CSS = f"""
.tabulator-row.tabulator-selected,
.tabulator-row.tabulator-selected:hover,
.tabulator-row.tabulator-selected .tabulator-cell {{
  background-color: rgba({_rgb(theme.ACCENT)}, 0.18) !important;
}}
.tabulator-row.tabulator-selected {{ color: inherit !important; }}
.tabulator-row.tabulator-selected .tabulator-cell:first-child {{
  box-shadow: inset 4px 0 0 {theme.ACCENT};
}}
"""
"""Every live table: a selected row is tinted with the accent, not filled with it, so the
severity colours of its cells (red "critical", green "ok") stay readable on light and dark."""

METRIC_CELL = NumberFormatter(
    format="0." + "0" * theme.METRIC_DIGITS, nan_format=theme.NO_VALUE, null_format=theme.NO_VALUE
)
"""A table cell of a drift measure or score, as ``theme.format_metric`` writes it."""
NUMBER_CELL = NumberFormatter(
    format="0,0." + "0" * theme.NUMBER_DIGITS, nan_format=theme.NO_VALUE, null_format=theme.NO_VALUE
)
"""A table cell of a float value or statistic, as ``theme.format_number`` writes it."""


def table_cells(frame: Any) -> dict[str, NumberFormatter]:
    """Formatters for every float column of ``frame`` (a DataFrame) as ``theme.format_number``."""
    return {c: NUMBER_CELL for c in frame.columns if frame[c].dtype.kind == "f"}


NOTE_CSS = """
.note { font-size: 0.9em; opacity: 0.8; margin: 0; }
.state {
  border: 1px dashed var(--neutral-stroke-rest, rgba(128, 128, 128, 0.5));
  border-radius: 6px;
  padding: 14px 16px;
  color: inherit;
}
.state .what { font-weight: 600; }
.state .how { opacity: 0.85; margin-top: 4px; }
.state.error { border-color: #d1342f; border-style: solid; }
.state.warning { border-color: #e8a33d; border-style: solid; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip {
  border: 1px solid var(--chip-color);
  border-radius: 12px;
  padding: 2px 10px;
  font-size: 0.9em;
}
.chip b { color: var(--chip-color); }
table.stats { border-collapse: collapse; width: 100%; font-size: 0.92em; }
table.stats th, table.stats td {
  text-align: right;
  padding: 3px 8px;
  border-bottom: 1px solid var(--neutral-stroke-rest, rgba(128, 128, 128, 0.25));
}
table.stats th:first-child, table.stats td:first-child { text-align: left; }
.sev { font-weight: 600; }
"""


def escape(value: Any) -> str:
    """Data as HTML text: ``<script>`` shows as the characters, never runs."""
    return html.escape(str(value), quote=True)


def plain_titles(columns: Iterable[Any]) -> dict[str, str]:
    """Tabulator ``title_formatters`` showing each column title as text: Tabulator inserts a
    title as HTML, and column names come from the data (or from MLflow metric and param names)."""
    return {str(column): "plaintext" for column in columns}


class KpiCard:
    """One headline number with a label, a caption and a severity colour on its left edge."""

    def __init__(self, label: str, width: int = 200) -> None:
        self.label = label
        self.value: Any = None
        """The raw number shown (tests compare it with the report)."""
        self.text = theme.NO_VALUE
        """The formatted value as displayed."""
        self.caption = ""
        self.details: tuple[str, ...] = ()
        """Further caption lines, smaller (the Overview's accuracy: realized, baseline, drop)."""
        self.severity: str | None = None
        self.pane = pn.pane.HTML(
            self._html(),
            stylesheets=[CARD_CSS],
            min_width=width,
            max_width=int(width * 1.6),
            styles={"flex": f"1 1 {width}px"},
            margin=(5, 6),
        )

    def show(
        self,
        value: Any,
        text: str,
        caption: str = "",
        severity: str | None = None,
        tooltip: str = "",
        details: Sequence[str] = (),
    ) -> None:
        """Display ``text`` (already formatted) for ``value``; caption, details (one line each)
        and tooltip are escaped here."""
        self.value, self.text, self.caption, self.severity = value, text, caption, severity
        self.details = tuple(details)
        self.pane.object = self._html(tooltip)

    def _html(self, tooltip: str = "") -> str:
        color = theme.severity_color(self.severity) if self.severity else theme.ACCENT
        title = f' title="{escape(tooltip)}"' if tooltip else ""
        return (
            f'<div class="kpi" style="--kpi-color: {color}"{title}>'
            f'<div class="label">{escape(self.label)}</div>'
            f'<div class="value">{escape(self.text)}</div>'
            f'<div class="caption">{escape(self.caption)}</div>'
            + "".join(f'<div class="detail">{escape(line)}</div>' for line in self.details)
            + "</div>"
        )


def hidden_cards(count: int) -> list[pn.pane.HTML]:
    """The panes of ``count`` hidden cards: a live page's row of cards starts with as many as it
    may show, and ``refill`` gives them each feature's texts."""
    panes = [KpiCard("").pane for _ in range(count)]
    for pane in panes:
        show(pane, False)
    return panes


def section(title: str, *objects: Any, note: str = "", **params: Any) -> tuple[pn.Card, pn.Column]:
    """A titled card and its body (the column a loading task fills)."""
    body = pn.Column(
        *objects, sizing_mode="stretch_width", min_height=params.pop("min_height", 120)
    )
    header = [body]
    if note:
        header.insert(0, note_pane(note))
    card = pn.Card(
        *header,
        title=title,
        collapsible=False,
        sizing_mode="stretch_width",
        margin=(6, 6),
        **params,
    )
    return card, body


MIN_SECTION_WIDTH = 420
"""Narrowest a section or chart set beside another may get, in pixels: below it, a chart's axes,
labels and legend leave its data no room, so the row wraps and they stack instead."""


def show(obj: Any, shown: bool) -> None:
    """Show or hide ``obj`` (a Panel object or a Bokeh model) in place, by its inline style.

    Not by ``visible``: in a served page BokehJS answers each changed ``visible`` (as it does a
    changed CSS class, size, margin or list of children) by laying out the session's whole
    document again there and then, every page of it and every plot measuring its axes, which
    costs a tenth of a second and more per change. A changed inline style only restyles the
    element; the browser then lays out what moved once, at the next frame."""
    styles = dict(obj.styles or {})
    if shown:
        if styles.get("display") != "none":
            return
        styles["display"] = ""  # an empty inline value removes the property
    elif styles.get("display") == "none":
        return
    else:
        styles["display"] = "none"
    obj.styles = styles


def is_shown(obj: Any) -> bool:
    """Whether ``obj`` is shown: visible, and not hidden by ``show``."""
    return bool(obj.visible) and (obj.styles or {}).get("display") != "none"


def refill(body: pn.layout.ListLike, objects: Sequence[Any]) -> None:
    """Show ``objects`` in ``body``, in place where it can: an object ``body`` already holds at
    that position stays, an HTML pane there takes the new one's text and settings, and HTML panes
    left over are hidden (kept for the next refill). Only when that fails (another kind of object,
    or more objects than before) does ``body`` get new children: in a served page a new list of
    children makes Bokeh walk the whole document again and the browser build new elements, where
    a changed text is one small patch. Panes are shown and hidden with ``show``."""
    current = list(body.objects)
    reused = []
    for index, new in enumerate(objects):
        old = current[index] if index < len(current) else None
        if old is not new and not _is_html(old, new):
            body.objects = list(objects)
            return
        reused.append(old)
    left = current[len(objects) :]
    if not all(_is_html(old) for old in left):
        body.objects = list(objects)
        return
    for old, new in zip(reused, objects, strict=True):
        if old is not new:
            changed = {
                name: value
                for name, value in new.param.values().items()
                if name not in ("name", "visible", "styles") and getattr(old, name) != value
            }
            styles = {**new.styles, **_display(old)}
            if styles != old.styles:
                changed["styles"] = styles
            old.param.update(changed)
        show(old, is_shown(new))
    for old in left:
        show(old, False)


def _display(obj: Any) -> dict[str, str]:
    """The display style ``show`` gave ``obj`` (none when it never hid it)."""
    return {"display": obj.styles["display"]} if "display" in (obj.styles or {}) else {}


def _is_html(*panes: Any) -> bool:
    return all(type(pane) is pn.pane.HTML for pane in panes)


def wrapping_row(*objects: Any, min_width: int | Sequence[int] = MIN_SECTION_WIDTH) -> pn.Row:
    """``objects`` side by side, sharing the width, while each can have ``min_width`` pixels
    (one value, or one per object); stacked on narrower screens.

    A Bokeh row allowed to wrap, not a ``pn.FlexBox``: plots drawn inside a FlexBox of the served
    dashboard laid their toolbar out across the whole figure, leaving the data no room.
    """
    widths = [min_width] * len(objects) if isinstance(min_width, int) else list(min_width)
    for obj, width in zip(objects, widths, strict=True):
        # The basis lets wide screens share the row evenly, the minimum forces a wrap; an object
        # of fixed width (a small table) keeps it. CSS only: given ``min_width``, Panel would make
        # the row as wide as all its objects together and the page would scroll sideways.
        grow = 0 if obj.sizing_mode in (None, "fixed") and obj.width is not None else 1
        obj.styles = {**obj.styles, "flex": f"{grow} 1 {width}px", "min-width": f"{width}px"}
    return pn.Row(*objects, sizing_mode="stretch_width", styles={"flex-wrap": "wrap"})


def note_pane(text: str) -> pn.pane.HTML:
    """A one-line explanation under a section title (plain text, escaped)."""
    return pn.pane.HTML(
        f'<p class="note">{escape(text)}</p>',
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(0, 10),
    )


def empty_state(what: str, how: str = "") -> pn.pane.HTML:
    """What is missing and how to fix it, in place of a chart that has nothing to draw."""
    how_html = f'<div class="how">{escape(how)}</div>' if how else ""
    return pn.pane.HTML(
        f'<div class="state"><div class="what">{escape(what)}</div>{how_html}</div>',
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(5, 10),
    )


def error_state(what: str, detail: str, kind: str = "error") -> pn.pane.HTML:
    """A section that failed: what happened, and the (escaped) reason."""
    return pn.pane.HTML(
        f'<div class="state {kind}"><div class="what">{escape(what)}</div>'
        f'<div class="how">{escape(detail)}</div></div>',
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(5, 10),
    )


def severity_label(level: str | None) -> str:
    """A severity as HTML text in its colour (``—`` when unknown)."""
    if not level:
        return theme.NO_VALUE
    return f'<span class="sev" style="color: {theme.severity_color(level)}">{escape(level)}</span>'


def chips(items: list[tuple[str, str]], color: str) -> pn.pane.HTML:
    """Values with a figure each (e.g. new categories and their share), as escaped chips."""
    body = "".join(
        f'<span class="chip" style="--chip-color: {color}">{escape(label)} <b>{escape(figure)}</b></span>'
        for label, figure in items
    )
    return pn.pane.HTML(
        f'<div class="chips">{body}</div>',
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(5, 10),
    )


def stats_table(
    header: list[str], rows: list[list[str]], raw_html_columns: tuple[int, ...] = ()
) -> pn.pane.HTML:
    """A small read-only table; cells are escaped unless their column is listed as pre-built HTML."""

    def cell(i: int, value: str) -> str:
        return value if i in raw_html_columns else escape(value)

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(i, v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return pn.pane.HTML(
        f'<table class="stats"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(5, 10),
    )


def data_problems(monitor: Any, *roles: str) -> str:
    """Why the files of ``roles`` cannot be read, one sentence each naming the file ('' if they can)."""
    problems = ((role, monitor.data_problem(role)) for role in roles)
    return "".join(f"{role.capitalize()}: {problem}. " for role, problem in problems if problem)


def missing_production(monitor: Any) -> pn.pane.HTML:
    """The empty state of every production chart when no inputs could be read."""
    config = monitor.config
    return empty_state(
        "No production data yet.",
        f"{data_problems(monitor, 'inputs', 'predictions')}"
        f"Driftdeck reads {config.inputs} (and predictions from {config.predictions}), "
        f"relative to {config.base_dir}. Point [data] inputs in driftdeck.toml at your logged "
        "model inputs, or run `driftdeck demo` — see README.",
    )
