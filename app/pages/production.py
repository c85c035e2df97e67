"""Production Data: row counts and freshness, recent rows paged from DuckDB, and a
distribution explorer for any feature.

Served, each page of rows is read from DuckDB when it is opened, and each feature's distribution
when it is picked. A static export has no server to ask: it holds the ``EXPORT_ROWS`` newest rows
(one query with that limit, never the whole table) and pages through them in the browser, and it
draws the distributions of the most drifted features (``EXPORT_FEATURES``), switched in the
browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

import holoviews.plotting.bokeh  # noqa: F401 - the Bokeh backend draws every plot
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource

from app import theme
from app.feature_drift import Cardinality, FeatureDrift
from app.pages import blocks, charts
from app.pages.base import MonitorPage, data_report
from app.pages.cards import (
    TABLE_CSS,
    KpiCard,
    empty_state,
    hidden_cards,
    missing_production,
    note_pane,
    plain_titles,
    refill,
    section,
    table_cells,
)
from app.pages.distribution_figures import DistributionFigure
from app.pages.drifted_features import (
    EXPORT_FEATURES,
    distribution_failed,
    distributions,
    drift_order,
    show_chosen_in_browser,
)
from app.report_types import Status

PAGE_SIZE = 25
MOST_CARDS = 5
"""Cards of an explored feature at most (cardinality ratio, new-value share, rows per side, a note)."""
KEPT_PAGES = 6
"""Pages of rows a served table keeps (the newest read): going back shows them at once."""
EXPORT_ROWS = 500
"""Rows of the window a static export holds (the newest), paged in the browser."""
DATA_COMPONENTS = ("reference", "inputs", "predictions", "labels")
COMPONENT_TITLES = {
    "reference": "Reference",
    "inputs": "Production inputs",
    "predictions": "Predictions",
    "labels": "Delayed labels",
}


class PagedTabulator(pn.widgets.Tabulator):
    """A Tabulator whose ``value`` is only the page on screen, out of ``total`` rows.

    Panel's ``pagination='remote'`` sends one page at a time to the browser but slices a
    DataFrame that holds every row in Python. Here the owner fetches each page from DuckDB
    when ``page`` changes and sets it as ``value``; the page count comes from ``total``.
    Sorting and header filters would apply to one page only, so the owner disables them.
    """

    total = param.Integer(default=0, bounds=(0, None), doc="""Rows in all pages.""")

    _rename: ClassVar[dict[str, str | None]] = {**pn.widgets.Tabulator._rename, "total": None}

    @property
    def _length(self) -> int:
        return self.total

    def _update_cds(self, *events: param.parameterized.Event) -> None:
        # A new page number alone would send the page still held (the one before) to the browser
        # again; the owner sets the new page's rows as ``value``, which sends them once.
        if events and all(e.name == "page" for e in events):
            return
        super()._update_cds(*events)

    def _get_data(self) -> tuple[pd.DataFrame, dict]:
        if self.pagination != "remote" or self.value is None:
            return super()._get_data()
        page = self.value
        data = ColumnDataSource.from_df(page).items()
        return page, {
            k if isinstance(k, str) else str(k): self._process_column(v, k, page) for k, v in data
        }


class ProductionData(MonitorPage):
    """Freshness of every data file, the newest production rows and per-feature distributions."""

    title: ClassVar[str] = "Production Data"

    page_size = param.Integer(default=PAGE_SIZE, bounds=(1, 500), doc="""Rows per table page.""")

    static = param.Boolean(
        default=False,
        doc="""Drawn for a static file with no server behind it (the export): the table holds the
        newest ``EXPORT_ROWS`` rows and pages through them in the browser, and the explorer holds
        the distributions of the most drifted features and shows the one picked.""",
    )

    def _build(self) -> list[Any]:
        counts, self.counts_body = section(
            "Row counts and freshness",
            note="Every file Driftdeck reads: rows, newest timestamp and its age (now minus the "
            "newest row).",
        )
        rows, self.rows_body = section(
            "Recent inputs and predictions",
            note=(
                "The newest production rows of the time window, as they were when this file "
                "was exported."
                if self.static
                else "The newest production rows of the time window; each page is read from "
                "the parquet files when you open it."
            ),
            min_height=300,
        )
        explorer, self.explorer_body = section(
            "Feature distribution explorer",
            note="Pick a feature to compare its production distribution (time window) with the "
            "reference.",
            min_height=charts.HEIGHT,
        )
        self.table: pn.widgets.Tabulator | None = None
        self._pages: dict[int, pd.DataFrame] = {}  # rows read, by offset, of the table shown
        self._first_columns: list[str] = []
        self.count_cards: dict[str, KpiCard] = {}
        self.feature = pn.widgets.Select(label="Feature", options={}, width=300, margin=(5, 10))
        self.feature.param.watch(self._feature_changed, "value")
        self.distribution = pn.Column(sizing_mode="stretch_width", min_height=charts.HEIGHT)
        # Drawn once, redrawn in place for each feature picked (no new plot per choice).
        self.distribution_figure = DistributionFigure()
        # As many cards as a feature has at most (hidden until refilled): no new children.
        self.feature_cards = pn.FlexBox(*hidden_cards(MOST_CARDS), sizing_mode="stretch_width")
        self._features: dict[str, FeatureDrift] = {}
        self._choosing = False
        # Static export: each explored feature's distribution, shown one at a time in the browser.
        self.explorer_views: dict[str, pn.Column] = {}  # by feature name
        self._explorer_callback: Any = None
        return [counts, rows, explorer]

    def reload(self) -> None:
        self.load("counts", self._read_counts, self._draw_counts, self.counts_body)
        self.load("rows", self._read_first_page, self._draw_table, self.rows_body)
        self.load("features", self._read_features, self._draw_features, self.explorer_body)

    # -- counts and freshness -------------------------------------------------------------
    def _read_counts(self) -> dict:
        report = data_report(self.monitor)
        return {"status": report.status, "rows": report.rows}

    def _draw_counts(self, result: dict) -> None:
        self.count_cards, self.counts_body.objects = freshness(result["status"], result["rows"])

    # -- paged rows -----------------------------------------------------------------------
    def _read_first_page(self) -> dict:
        engine = self.monitor.engine
        total = (engine.window_rows(self.monitor.window) or {}).get("inputs")
        limit = EXPORT_ROWS if self.static else self.page_size
        page = self.monitor.production_rows(0, limit) if total else None
        roles = engine.roles()
        first = [roles.timestamp.get("inputs"), roles.id, roles.prediction]
        return {"total": total, "page": page, "first": [c for c in first if c]}

    def _draw_table(self, result: dict) -> None:
        total, page = result["total"], result["page"]
        if total is None or page is None and not total:
            self.table = None
            whole = self.monitor.at_all_rows
            self.rows_body.objects = (
                # No window to widen: the files hold no row at all yet.
                [missing_production(self.monitor)]
                if total is None or whole
                else [
                    empty_state(
                        "No production rows in this time window.",
                        "Widen the window"
                        + ("." if self.static else ", or press “All rows” to see every row."),
                    )
                ]
            )
            return
        self._first_columns = result["first"]
        frame = display_page(page, 0, self._first_columns)
        if self.static:
            table = pn.widgets.Tabulator(frame, pagination="local", **self._table_options(frame))
        else:
            table = PagedTabulator(
                frame, total=int(total), pagination="remote", **self._table_options(frame)
            )
            table.param.watch(self._page_changed, "page")
        self.table = table
        self._pages = {0: page}
        if not self.static:
            self._read_ahead(table, self.page_size)
        note = (
            f"{theme.format_count(total)} production rows in the window, newest first, "
            f"{self.page_size} per page."
        )
        if self.static and len(frame) < total:
            note += (
                f" This file holds the {theme.format_count(len(frame))} most recent of them; "
                "the live dashboard pages through every row."
            )
        self.rows_body.objects = [note_pane(note), table]

    def _table_options(self, frame: pd.DataFrame) -> dict[str, Any]:
        """How the rows table looks, served or static."""
        return dict(
            page_size=self.page_size,
            show_index=False,
            disabled=True,
            sortable=False,
            selectable=False,
            formatters=table_cells(frame),
            title_formatters=plain_titles(frame.columns),
            frozen_columns=self._first_columns[:1],
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            margin=(5, 10),
            stylesheets=[TABLE_CSS],
        )

    def _page_changed(self, event: param.parameterized.Event) -> None:
        table = event.obj
        if table is not self.table:
            return
        offset = (int(event.new) - 1) * self.page_size
        if offset in self._pages:  # read ahead while the user read the page before
            self._show_page(table, offset, self._pages[offset])
            return

        def fetch() -> pd.DataFrame | None:
            return self.monitor.production_rows(offset, self.page_size)

        def draw(page: pd.DataFrame | None) -> None:
            self._keep_page(table, offset, page)
            self._show_page(table, offset, page)

        self.load("page", fetch, draw, table)

    def _show_page(
        self, table: pn.widgets.Tabulator, offset: int, page: pd.DataFrame | None
    ) -> None:
        if table is self.table and page is not None:
            table.value = display_page(page, offset, self._first_columns)
            self._read_ahead(table, offset + self.page_size)

    def _keep_page(
        self, table: pn.widgets.Tabulator, offset: int, page: pd.DataFrame | None
    ) -> None:
        if table is self.table and page is not None:
            self._pages[offset] = page
            while len(self._pages) > KEPT_PAGES:
                self._pages.pop(next(iter(self._pages)))

    def _read_ahead(self, table: pn.widgets.Tabulator, offset: int) -> None:
        """Served: read the page after the one shown while the user reads it, so that "next"
        shows it at once (no query, no loading indicator)."""
        if not self.background or offset in self._pages or offset >= getattr(table, "total", 0):
            return
        monitor, size = self.monitor, self.page_size
        self.load(
            "next page",
            lambda: monitor.production_rows(offset, size),
            partial(self._keep_page, table, offset),
        )

    # -- distribution explorer ------------------------------------------------------------
    def _read_features(self) -> dict:
        features = data_report(self.monitor).features
        if self.static:
            explored = drift_order(features)[:EXPORT_FEATURES]
            kept = {name: f for name, f in features.items() if name in explored}
            return {
                "features": kept,
                "chosen": next(iter(kept), None),
                "distributions": distributions(self.monitor, list(kept)),
                "total": len(features),
            }
        wanted = (
            self.feature.value if self.feature.value in features else next(iter(features), None)
        )
        return {
            "features": features,
            "chosen": wanted,
            "distribution": self.monitor.distribution(wanted) if wanted else None,
        }

    def _draw_features(self, result: dict) -> None:
        features = result["features"]
        self._features = features
        if not features:
            self.explorer_body.objects = [
                empty_state(
                    "No features to explore.",
                    "Driftdeck found no feature columns shared by the reference and the production "
                    "inputs; check [data] and [columns] in driftdeck.toml (README, Configuration).",
                )
            ]
            return
        options = {f"{name} ({entry.kind or '?'})": name for name, entry in features.items()}
        self._choosing = True  # new options are not the user's choice
        try:
            self.feature.param.update(options=options, value=result["chosen"])
        finally:
            self._choosing = False
        if self.static:
            self._draw_explorer_views(result, options)
            return
        self._draw_distribution(result["distribution"])
        self.explorer_body.objects = [self.feature, self.distribution]

    def _draw_explorer_views(self, result: dict, options: dict[str, str]) -> None:
        """Static export: one view per explored feature, the one picked shown by the browser."""
        self.explorer_views = {}
        for name in options.values():
            dist = result["distributions"][name]
            objects = (
                [distribution_failed(dist)]
                if isinstance(dist, Exception)
                else distribution_view(dist, self._features[name], DistributionFigure())
            )
            self.explorer_views[name] = pn.Column(
                *objects, sizing_mode="stretch_width", min_height=charts.HEIGHT
            )
        self._show_explored()
        notes = []
        if result["total"] > len(options):
            notes.append(
                note_pane(
                    f"This file holds the distributions of the {len(options)} most drifted of the "
                    f"{result['total']} features; the live dashboard explores any feature."
                )
            )
        self.explorer_body.objects = [self.feature, *notes, *self.explorer_views.values()]
        if self._explorer_callback is not None:
            self._explorer_callback.unwatch()
        self._explorer_callback = show_chosen_in_browser(self.feature, self.explorer_views)

    def _show_explored(self) -> None:
        """Static export: show the picked feature's view (the browser does the same on a change)."""
        for name, view in self.explorer_views.items():
            view.visible = name == self.feature.value

    def _feature_changed(self, event: param.parameterized.Event) -> None:
        if self.static:
            self._show_explored()
            return
        if self._choosing or event.new not in self._features:
            return
        name = event.new
        self.load(
            "distribution",
            lambda: self.monitor.distribution(name),
            self._draw_distribution,
            self.distribution,
            cached=True,
        )

    def _draw_distribution(self, result: dict | None) -> None:
        name = (result or {}).get("feature")
        view = distribution_view(
            result or {},
            self._features.get(name),
            self.distribution_figure,
            self.feature_cards,
        )
        refill(self.distribution, view)


# -- blocks ---------------------------------------------------------------------------------


def freshness(status: list[Status], rows: dict) -> tuple[dict[str, KpiCard], list]:
    """One card per data file (rows, newest row, age), rows in the window, and the details.

    Returns the cards by name (data role, or ``window`` for the rows in the time window) and the
    objects to show.
    """
    entries = {s.component: s for s in status if s.component in DATA_COMPONENTS}
    if not entries:
        return {}, [empty_state("No data status available.", "The report returned no status.")]
    cards: dict[str, KpiCard] = {}
    table_rows, colors = [], []
    for component in DATA_COMPONENTS:
        check = entries.get(component)
        if check is None:
            continue
        ok, entry = bool(check.ok), check.details
        count = entry.get("rows") if theme.is_number(entry.get("rows")) else None
        optional_missing = component == "labels" and ok and count is None
        severity = None if optional_missing else "ok" if ok else "critical"
        age = entry.get("age_seconds")
        age_text = theme.format_duration(max(age, 0.0)) if theme.is_number(age) else theme.NO_VALUE
        newest = theme.format_timestamp(entry["newest"]) if entry.get("newest") else theme.NO_VALUE
        if component == "reference":
            caption = "the training-time baseline"
        elif entry.get("newest"):
            caption = f"newest {newest} · {age_text} old"
        else:
            caption = "optional, none yet" if optional_missing else check.message or "no rows"
        text = theme.format_count(count) if count is not None else "none"
        cards[component] = blocks.kpi(
            f"{COMPONENT_TITLES[component]} rows", count, text, caption, severity
        )
        table_rows.append(
            [
                blocks.pill("ok" if ok else "failed", theme.severity_color(severity)),
                COMPONENT_TITLES[component],
                text,
                newest,
                age_text,
                entry.get("location") or "",
                check.message or "",
            ]
        )
        colors.append(theme.severity_color(severity))
    inputs, predictions = rows.get("inputs"), rows.get("predictions")
    cards["window"] = blocks.kpi(
        "Rows in time window",
        inputs,
        theme.format_count(inputs),
        f"inputs · {theme.format_count(predictions)} predictions",
    )
    markup = blocks.table(
        ["Status", "File", "Rows", "Newest row", "Age", "Location", "Details"],
        table_rows,
        numeric=[2],
        colors=colors,
        raw=[0],
    )
    return cards, [blocks.kpi_row(cards.values()), blocks.html_pane(markup)]


def display_page(page: pd.DataFrame, offset: int, first: Sequence[str] = ()) -> pd.DataFrame:
    """One page of rows ready for the table: the ``first`` columns (time, id, prediction) in
    front, times as text, index = position in the window."""
    leading = [c for c in dict.fromkeys(first) if c in page.columns]
    frame = page[leading + [c for c in page.columns if c not in leading]].copy()
    for column in frame.columns:
        kind = frame[column].dtype.kind
        if kind == "M":
            values = frame[column]
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert(None)
            frame[column] = values.dt.strftime("%Y-%m-%d %H:%M:%S").fillna(theme.NO_VALUE)
        elif kind == "O" or str(frame[column].dtype) in ("str", "string"):
            # A missing value reads as on every other page and in the export (not a blank cell).
            frame[column] = (
                frame[column].astype(object).where(frame[column].notna(), theme.NO_VALUE)
            )
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def distribution_view(
    result: dict,
    feature: FeatureDrift | None,
    figure: DistributionFigure,
    cards: pn.FlexBox | None = None,
) -> list:
    """Drift figures of one feature, then its reference vs production distribution drawn in
    ``figure``. A live page passes its own row of ``cards`` (refilled in place) and keeps both of
    the figure's panes (the one not drawn hidden), so the next feature only changes their data."""
    name = result.get("feature")
    panes = [
        card.pane for card in feature_cards(feature or FeatureDrift(name=name or "", kind=None))
    ]
    live = cards is not None
    if cards is None:
        cards = pn.FlexBox(*panes, sizing_mode="stretch_width")
    else:
        refill(cards, panes)
    shown = figure.show(result or {})
    kept = list(figure.panes) if live else []  # hidden while they draw nothing
    if shown is None:
        return [
            cards,
            empty_state(
                f"No values of {name} to plot." if name else "No distribution to plot.",
                "The feature has no non-missing values on either side in this time window.",
            ),
            *kept,
        ]
    return [cards, *(kept or [shown])]


def feature_cards(feature: FeatureDrift) -> list:
    """PSI (or cardinality growth) in its severity colour, then rows and missing share per side."""
    kind = feature.kind
    cards = []
    if kind == "high_cardinality":
        growth = feature.cardinality or Cardinality()
        ratio = growth.ratio
        cards.append(
            blocks.kpi(
                "Cardinality ratio",
                ratio,
                theme.format_ratio(ratio),
                "distinct production / reference",
                feature.severity,
            )
        )
        share = growth.new_value_share
        cards.append(
            blocks.kpi(
                "New-value share",
                share,
                theme.format_share(share),
                "rows with values unseen in the reference",
            )
        )
    else:
        psi = feature.psi
        cards.append(
            blocks.kpi(
                "PSI", psi, theme.format_metric(psi), "reference vs production", feature.severity
            )
        )
    summary = feature.summary
    for side in ("reference", "production"):
        side_summary = summary.get(side) or {}
        caption = f"{theme.format_share(side_summary.get('missing_share'))} missing"
        if kind == "numerical":
            caption += f" · median {theme.format_number(side_summary.get('median'))}"
        else:
            caption += f" · {theme.format_count(side_summary.get('distinct'))} distinct"
        rows = side_summary.get("rows")
        cards.append(blocks.kpi(f"{side.title()} rows", rows, theme.format_count(rows), caption))
    if feature.reason:
        cards.append(blocks.kpi("Note", None, theme.NO_VALUE, str(feature.reason)))
    return cards
