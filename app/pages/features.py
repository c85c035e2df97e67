"""Feature Statistics: every feature's statistics on both sides with its drift and quality status,
and a detail view of one feature (distributions, ECDF, new categories, data-quality findings).

With segments configured, the page can show the rows of one segment alone (reference and
production both): every number, chart and status is then that segment's.

Served, the detail of the chosen feature is computed when it is chosen. In a static export there is
no server to ask: the page draws the detail of every feature (up to ``EXPORT_FEATURES``, most
drifted first) and the feature list and the table's rows switch between them in the browser.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from app import theme
from app.feature_drift import Cardinality, TestResult
from app.pages import charts
from app.pages.base import MonitorPage, data_report
from app.pages.cards import (
    TABLE_CSS,
    KpiCard,
    data_problems,
    empty_state,
    error_state,
    hidden_cards,
    missing_production,
    note_pane,
    refill,
    section,
    show,
)
from app.pages.distribution_figures import DistributionFigure, EcdfFigure
from app.pages.drifted_features import (
    EXPORT_FEATURES,
    METRIC,
    distribution_failed,
    distributions,
    drift_order,
    show_chosen_in_browser,
)
from app.pages.feature_detail import (
    detail_layout,
    heading,
    new_categories,
    quality_findings,
    side_summary,
    summary_statistics,
)
from app.pages.segments import ALL_ROWS, Segment, segment_choices, segment_window
from app.pages.significance import (
    NOT_SIGNIFICANT,
    not_significant_text,
    status_style,
)
from app.report_types import Report
from app.window import Window

log = logging.getLogger(__name__)

DRIFT_METRICS = ("psi", "cardinality_ratio", "ks")
QUALITY_METRICS = ("missing_share_increase", "unseen_share")
RANK = {"critical": 0, "warning": 1, "ok": 2}
MOST_CARDS = 5
"""Cards of a feature's detail at most (numerical: status, quality, PSI, KS, Wasserstein)."""
GREY = f"color: {theme.MISSING_COLOR}"
KIND_LABELS = {
    "numerical": "numerical",
    "categorical": "categorical",
    "high_cardinality": "high cardinality",
}
# A click on a table row chooses its feature (``rows[i]`` names the feature of data row ``i``).
CHOOSE_ROW_JS = """
const row = cb_obj.indices[0]
if (row !== undefined && names.includes(rows[row])) select.value = rows[row]
"""


def worst(levels: list[str | None]) -> str | None:
    """The most severe of some severities (None when there are none)."""
    known = [level for level in levels if level in RANK]
    return min(known, key=RANK.__getitem__) if known else None


def _top(summary: dict) -> str:
    top = summary.get("top") or []
    if not top:
        return theme.NO_VALUE
    first = top[0]
    return f"{first['value']} ({theme.format_share(first.get('share'))})"


def _float(value: Any) -> float:
    return float(value) if theme.is_number(value) else float("nan")


class FeatureStatistics(MonitorPage):
    """A table of every feature, and the details of the one selected."""

    title: ClassVar[str] = "Feature Statistics"

    static = param.Boolean(
        default=False,
        doc="""Drawn for a static file with no server behind it (the export): the details of the
        most drifted features are all drawn, and the browser shows the one chosen.""",
    )

    def _build(self) -> list[Any]:
        # One segment's rows instead of all (served only: a static file has no server to ask).
        self.segment = pn.widgets.Select(
            label="Segment", options={ALL_ROWS: None}, value=None, width=280
        )
        self.segment.param.watch(self._segment_changed, "value")
        self.segment_note = note_pane(
            "Every number on this page for the reference and production rows of one segment "
            "([columns] segments)."
        )
        self.segment_row = pn.Row(
            self.segment,
            pn.Column(pn.Spacer(height=22), self.segment_note, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        self._choosing = False  # while the page itself sets the segment choice
        table_card, self.table_body = section(
            "Every feature",
            note="Summary statistics of the reference and of production in the window, the drift test of "
            "each feature (KS for numerical, chi-square for categorical) and its drift and data-quality "
            "status. Click a row for its details.",
            min_height=200,
        )
        self.feature = pn.widgets.Select(label="Feature", options=[], width=280)
        self.feature.param.watch(self._feature_changed, "value")
        # Drawn once, redrawn in place for each feature chosen (no new plot per choice), in
        # bodies that hold from the start as many panes as any feature needs (hidden while
        # unused), so that no choice gives them new children.
        self.detail_cards = pn.FlexBox(*hidden_cards(MOST_CARDS), sizing_mode="stretch_width")
        self.distribution_figure = DistributionFigure()
        self.ecdf_figure = EcdfFigure()
        self._headings = (heading("Distribution"), heading("Cumulative distribution (ECDF)"))
        self.distribution_body = pn.Column(
            self._headings[0],
            *self.distribution_figure.panes,
            sizing_mode="stretch_width",
            min_height=charts.HEIGHT,
        )
        self.ecdf_body = pn.Column(
            self._headings[1],
            self.ecdf_figure.pane,
            *new_categories(None, hidden=True),
            sizing_mode="stretch_width",
            min_height=charts.HEIGHT,
        )
        self.summary_body = pn.Column(sizing_mode="stretch_width")
        self.quality_body = pn.Column(sizing_mode="stretch_width")
        self._detail_objects = [
            self.feature,
            *detail_layout(
                self.detail_cards,
                self.distribution_body,
                self.ecdf_body,
                self.summary_body,
                self.quality_body,
            ),
        ]
        # Static export: each feature's detail, shown one at a time in the browser.
        self.details: dict[str, pn.Column] = {}
        self._browser_callbacks: list[Any] = []
        detail_card, self.detail_body = section(
            "Feature detail", *self._detail_objects, min_height=charts.HEIGHT
        )
        self.table: pn.widgets.Tabulator | None = None
        self._report: Report = Report()
        # Absent from a static file, and for a config without segments.
        segments = bool(self.monitor.config.columns.segments) and not self.static
        return [*([self.segment_row] if segments else []), table_card, detail_card]

    def reload(self) -> None:
        monitor, segment = self.monitor, self.segment.value
        self.load(
            "report",
            lambda: reports(monitor, segment),
            self._draw_reports,
            self.table_body,
            self.detail_body,
        )
        if not self.static:
            self._load_distribution()

    # -- the segment ---------------------------------------------------------------------------
    def window(self) -> Window:
        """The rows the page shows: the Monitor's window, inside the chosen segment if any."""
        return segment_window(self.monitor.window, self.segment.value)

    def _segment_changed(self, _event: Any) -> None:
        if not self._choosing:
            self.reload()

    def _draw_reports(self, found: tuple[Report, Report | None]) -> None:
        """The segments to choose from (the report of all rows), then the chosen rows' report."""
        whole, chosen = found
        choices = segment_choices(whole)
        self.segment_row.visible = len(choices) > 1 and not self.static
        segment = self.segment.value
        if segment not in choices.values() or chosen is None:
            # The segment is not in this window (or none is chosen): every row.
            segment, chosen = None, None
        self._choosing = True
        try:
            moved = segment != self.segment.value
            self.segment.param.update(options=choices, value=segment)
        finally:
            self._choosing = False
        if moved:
            self._load_distribution()
        self._draw_report(chosen if chosen is not None else whole)

    # -- the table -----------------------------------------------------------------------------
    def feature_status(self, name: str) -> tuple[str | None, str | None]:
        """(drift status, data-quality status) of a feature from the report's alerts."""
        report = self._report
        feature = report.features.get(name)
        alerts = [a for a in report.alerts if a.feature == name]
        drift = worst([a.severity for a in alerts if a.metric in DRIFT_METRICS])
        quality = worst([a.severity for a in alerts if a.metric in QUALITY_METRICS])
        measured = feature is not None and (
            theme.is_number(feature.psi) or theme.is_number(feature.score)
        )
        schema_issue = report.data_quality.schema_severity(name)
        if drift is None and feature is not None and feature.significant is False:
            # Under its sample-size floor the PSI is noise: neither ok nor an alert.
            drift = NOT_SIGNIFICANT
        return (
            drift or ("ok" if measured else None),
            quality or schema_issue or ("ok" if measured else None),
        )

    def rows(self) -> pd.DataFrame:
        """The table: one row per feature, most drifted first."""
        features = self._report.features
        rows = []
        for name in drift_order(features):
            f = features[name]
            ref, prod = side_summary(f, "reference"), side_summary(f, "production")
            drift, quality = self.feature_status(name)
            kind = f.kind
            if kind == "numerical":
                ks = f.ks or TestResult()
                test, stat, pvalue = "KS", ks.statistic, ks.pvalue
            elif kind == "categorical":
                chi2 = f.chi2 or TestResult()
                test, stat, pvalue = "χ²", chi2.statistic, chi2.pvalue
            else:
                test, stat, pvalue = "cardinality ratio", f.score, None
            numeric = kind == "numerical"
            rows.append(
                {
                    "feature": name,
                    "type": KIND_LABELS.get(kind, str(kind)),
                    "drift": not_significant_text(f.psi_floor)
                    if drift == NOT_SIGNIFICANT
                    else drift or theme.NO_VALUE,
                    "quality": quality or theme.NO_VALUE,
                    "psi": _float(f.psi),
                    "test": test,
                    "statistic": _float(stat),
                    "pvalue": theme.format_pvalue(pvalue),
                    "rows_ref": theme.format_count(ref.get("rows")),
                    "missing_ref": theme.format_share(ref.get("missing_share")),
                    "distinct_ref": theme.format_count(ref.get("distinct")),
                    "mean_ref": theme.format_number(ref.get("mean")) if numeric else theme.NO_VALUE,
                    "std_ref": theme.format_number(ref.get("std")) if numeric else theme.NO_VALUE,
                    "median_ref": theme.format_number(ref.get("median"))
                    if numeric
                    else theme.NO_VALUE,
                    "top_ref": theme.NO_VALUE if numeric else _top(ref),
                    "rows_prod": theme.format_count(prod.get("rows")),
                    "missing_prod": theme.format_share(prod.get("missing_share")),
                    "distinct_prod": theme.format_count(prod.get("distinct")),
                    "mean_prod": theme.format_number(prod.get("mean"))
                    if numeric
                    else theme.NO_VALUE,
                    "std_prod": theme.format_number(prod.get("std")) if numeric else theme.NO_VALUE,
                    "median_prod": theme.format_number(prod.get("median"))
                    if numeric
                    else theme.NO_VALUE,
                    "top_prod": theme.NO_VALUE if numeric else _top(prod),
                }
            )
        return pd.DataFrame(rows)

    def _draw_report(self, report: Report) -> None:
        self._report = report
        frame = self.rows()
        if frame.empty:
            self.table = None
            self.table_body.objects = [
                empty_state(
                    "No features found.",
                    f"{data_problems(self.monitor, 'reference', 'inputs')}Driftdeck reads the feature "
                    "columns of the reference file; see README, section Data.",
                )
            ]
            self.detail_body.objects = [self.feature]
            return
        frame = frame.drop(columns=["rows_ref", "rows_prod"])
        side = ("missing", "distinct", "mean", "std", "median", "top")
        titles = {
            "feature": "Feature",
            "type": "Type",
            "drift": "Drift",
            "quality": "Quality",
            "psi": "PSI",
            "test": "Test",
            "statistic": "Statistic",
            "pvalue": "p-value",
            **{
                f"{s}_{k}": s.capitalize() if s != "top" else "Top value"
                for s in side
                for k in ("ref", "prod")
            },
        }
        self.table = pn.widgets.Tabulator(
            frame,
            titles=titles,
            groups={
                "Reference": [f"{s}_ref" for s in side],
                "Production (window)": [f"{s}_prod" for s in side],
            },
            formatters={"psi": METRIC, "statistic": METRIC},
            text_align={
                c: "right"
                for c in frame.columns
                if c not in ("feature", "type", "drift", "quality", "test", "top_ref", "top_prod")
            },
            frozen_columns=["feature"],
            disabled=True,
            show_index=False,
            selectable=1,
            layout="fit_data_table",
            sizing_mode="stretch_width",
            max_height=420,
            stylesheets=[TABLE_CSS],
        )
        self.table.style.map(status_style, subset=["drift", "quality"])
        self.table.style.apply(_grey_insignificant_psi, axis=None)
        self.table.param.watch(self._row_selected, "selection")
        schema_note = self._schema_note()
        notes = [schema_note] if schema_note is not None else []
        if not report.rows.get("inputs"):
            notes.insert(0, missing_production(self.monitor))
        self.table_body.objects = [*notes, self.table]
        options = list(frame["feature"])
        value = self.feature.value
        if value not in options:
            features = report.features
            readable = [n for n in options if features[n].kind != "high_cardinality"]
            value = (readable or options)[0]
        if self.static:
            self._load_details(options[:EXPORT_FEATURES], value)
            return
        self.detail_body.objects = list(self._detail_objects)
        changed = value != self.feature.value
        self.feature.param.update(options=options, value=value)
        if not changed:
            self._draw_detail()

    def _schema_note(self) -> Any:
        """Columns on one side only and type changes between reference and production."""
        schema = self._report.data_quality.schema
        parts = []
        if schema.get("only_in_reference"):
            parts.append(
                "only in the reference: " + ", ".join(map(str, schema["only_in_reference"]))
            )
        if schema.get("only_in_production"):
            parts.append("only in production: " + ", ".join(map(str, schema["only_in_production"])))
        if schema.get("type_changes"):
            changes = (
                f"{c.get('column')} ({c.get('reference')} → {c.get('production')})"
                for c in schema["type_changes"]
            )
            parts.append("type changes: " + ", ".join(changes))
        if not parts:
            return None
        return error_state("Schema differences", "; ".join(parts), kind="warning")

    def _row_selected(self, event: Any) -> None:
        if event.new and self.table is not None:
            with self.one_message():
                self.feature.value = self.table.value.iloc[event.new[0]]["feature"]

    # -- the detail ----------------------------------------------------------------------------
    def _feature_changed(self, _event: Any) -> None:
        if self.static:
            self._show_chosen()
            return
        # The cards and tables go with the distribution (one message, one layout) when it is
        # at hand, as it is for a feature whose distribution was computed before.
        self._load_distribution(first=self._draw_detail)

    def _load_distribution(self, first: Any = None) -> None:
        name, window = self.feature.value, self.window()
        if name:
            engine = self.monitor.engine
            self.load(
                "distribution",
                lambda: engine.distribution(name, window),
                self._draw_distribution,
                self.distribution_body,
                self.ecdf_body,
                first=first,
                cached=True,
            )
        elif first is not None:
            first()

    def _draw_distribution(self, dist: dict) -> None:
        distribution, ecdf = self._distribution_parts(
            dist, self.distribution_figure, self.ecdf_figure
        )
        refill(self.distribution_body, distribution)
        refill(self.ecdf_body, ecdf)

    def _distribution_parts(
        self, dist: dict, figure: DistributionFigure, ecdf: EcdfFigure
    ) -> tuple[list[Any], list[Any]]:
        """The distribution chart, and the ECDF (numerical) or the new categories (otherwise),
        drawn in ``figure`` and ``ecdf``. The page's own figures keep both of their panes in the
        layout (the one not drawn hidden), so the next feature only changes their data."""
        name = dist.get("feature")
        live = figure is self.distribution_figure
        headings = (
            self._headings
            if live
            else (heading("Distribution"), heading("Cumulative distribution (ECDF)"))
        )
        shown = figure.show(dist)
        if shown is None:
            distribution = [
                empty_state(
                    f"No values of “{name}” to compare in this window.",
                    "The feature is missing on one side or has only missing values.",
                )
            ]
        else:
            distribution = [headings[0], *([] if live else [shown])]
        if live:
            distribution += figure.panes  # hidden while they draw nothing
        numerical = dist.get("kind") == "numerical"
        curve = ecdf.show(dist if numerical else {})
        if not numerical:
            shown_below = new_categories(self._report.features.get(name))
        elif curve is None:
            shown_below = [empty_state("No values to accumulate.")]
        else:
            shown_below = [] if live else [curve]
        if live:
            # The ECDF stays in the layout, hidden while the feature has none.
            show(headings[1], numerical)
            return distribution, [headings[1], ecdf.pane, *shown_below]
        return distribution, [*([headings[1]] if numerical else []), *shown_below]

    def _draw_detail(self) -> None:
        name = self.feature.value
        if not name or name not in self._report.features:
            return
        cards, summary, quality = self._detail_parts(name)
        # In place: the cards and tables of the feature shown before take the new texts.
        refill(self.detail_cards, cards)
        refill(self.summary_body, summary)
        refill(self.quality_body, quality)

    def _detail_parts(self, name: str) -> tuple[list[Any], list[Any], list[Any]]:
        """The status and drift cards, the summary statistics and the data-quality findings."""
        feature = self._report.features[name]
        drift, quality = self.feature_status(name)
        kind = feature.kind
        cards = [KpiCard("Drift status"), KpiCard("Data quality")]
        cards[0].show(drift, drift or theme.NO_VALUE, KIND_LABELS.get(kind, str(kind)), drift)
        cards[1].show(quality, quality or theme.NO_VALUE, "see findings below", quality)
        if kind == "high_cardinality":
            c = feature.cardinality or Cardinality()
            ratio = KpiCard("Cardinality ratio")
            ratio.show(
                c.ratio,
                theme.format_ratio(c.ratio),
                f"{theme.format_count(c.reference)} → {theme.format_count(c.production)} distinct",
                feature.severity,
            )
            new = KpiCard("New-value share")
            new.show(
                c.new_value_share,
                theme.format_share(c.new_value_share),
                "production rows with unseen values",
            )
            cards += [ratio, new]
        else:
            psi = KpiCard("PSI")
            psi.show(
                feature.psi,
                theme.format_metric(feature.psi),
                f"Jensen–Shannon {theme.format_metric(feature.js)}"
                if feature.significant is not False
                else not_significant_text(feature.psi_floor),
                feature.severity,
            )
            cards.append(psi)
            if kind == "numerical":
                ks = feature.ks or TestResult()
                test = KpiCard("KS statistic D")
                test.show(
                    ks.statistic,
                    theme.format_metric(ks.statistic),
                    f"p-value {theme.format_pvalue(ks.pvalue)}",
                )
                wasserstein = KpiCard("Wasserstein")
                wasserstein.show(
                    feature.wasserstein,
                    theme.format_metric(feature.wasserstein),
                    "in reference standard deviations",
                )
                cards += [test, wasserstein]
            else:
                chi2 = feature.chi2 or TestResult()
                test = KpiCard("Chi-square")
                test.show(
                    chi2.statistic,
                    theme.format_number(chi2.statistic),
                    f"p-value {theme.format_pvalue(chi2.pvalue)}",
                )
                cards.append(test)
        return (
            [card.pane for card in cards],
            [summary_statistics(feature)],
            quality_findings(name, self._report),
        )

    # -- the static detail ---------------------------------------------------------------------
    def _load_details(self, names: list[str], chosen: str) -> None:
        """Static export: the distributions of ``names``, then one detail view per feature."""
        monitor = self.monitor
        self.feature.param.update(options=names, value=chosen if chosen in names else names[0])
        self.load(
            "details",
            lambda: distributions(monitor, names),
            self._draw_details,
            self.detail_body,
        )

    def _draw_details(self, found: dict[str, dict | Exception]) -> None:
        self.details = {}
        for name, dist in found.items():
            cards, summary, quality = self._detail_parts(name)
            if isinstance(dist, Exception):
                distribution, ecdf = [distribution_failed(dist)], []
            else:
                distribution, ecdf = self._distribution_parts(
                    dist, DistributionFigure(), EcdfFigure()
                )
            self.details[name] = pn.Column(
                *detail_layout(
                    pn.FlexBox(*cards, sizing_mode="stretch_width"),
                    pn.Column(*distribution, sizing_mode="stretch_width", min_height=charts.HEIGHT),
                    pn.Column(*ecdf, sizing_mode="stretch_width", min_height=charts.HEIGHT),
                    pn.Column(*summary, sizing_mode="stretch_width"),
                    pn.Column(*quality, sizing_mode="stretch_width"),
                ),
                sizing_mode="stretch_width",
            )
        self._show_chosen()
        names, total = list(self.details), len(self._report.features)
        notes = []
        if total > len(names):
            notes.append(
                note_pane(
                    f"This file holds the details of the {len(names)} most drifted of the {total} "
                    "features; the live dashboard shows any feature."
                )
            )
        self.detail_body.objects = [self.feature, *notes, *self.details.values()]
        self._switch_in_browser(names)

    def _switch_in_browser(self, names: list[str]) -> None:
        """Let the feature list, and a click on a table row, show a detail with no server."""
        for callback in self._browser_callbacks:
            callback.unwatch()
        self._browser_callbacks = [show_chosen_in_browser(self.feature, self.details)]
        if self.table is not None:
            rows = list(self.table.value["feature"])
            self._browser_callbacks.append(
                self.table.jscallback(
                    args={"select": self.feature, "names": names, "rows": rows},
                    **{"source.selected.indices": CHOOSE_ROW_JS},
                )
            )

    def _show_chosen(self) -> None:
        """Static export: show the chosen feature's detail (the browser does the same on a change)."""
        for name, view in self.details.items():
            view.visible = name == self.feature.value


def _grey_insignificant_psi(frame: pd.DataFrame) -> pd.DataFrame:
    """Table styles: the PSI of a feature whose drift status is 'not significant' in grey."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if "psi" in frame and "drift" in frame:
        grey = frame["drift"].astype(str).str.startswith(NOT_SIGNIFICANT)
        styles.loc[grey, "psi"] = GREY
    return styles


def reports(monitor: Any, segment: Segment | None) -> tuple[Report, Report | None]:
    """The report of the Monitor's window, and of ``segment``'s rows in it when that segment is
    one of the report's (None otherwise): the first lists the segments to choose from."""
    from app.report import shared_report

    whole = data_report(monitor)
    if segment is None or segment not in segment_choices(whole).values():
        return whole, None
    window = segment_window(monitor.window, segment)
    chosen = shared_report(
        monitor.engine, window, monitor.config, mlflow=False, mlflow_baseline=True
    )
    return whole, chosen
