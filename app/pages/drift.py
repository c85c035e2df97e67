"""Drift Monitoring: PSI per feature, cardinality growth, prediction drift, the distribution of
any feature on both sides, the numerical drift tests, PSI over time (select time to set the window)
and, with segments configured, where each feature drifted.

A PSI the report judges not significant at its sample size is drawn grey wherever it shows.

A static export has no server to ask for a feature's distribution: it draws the comparison of the
features Feature Statistics details (the most drifted, ``drifted_features.EXPORT_FEATURES``) and the
feature list switches between them in the browser.
"""

from __future__ import annotations

from typing import Any, ClassVar

import holoviews as hv
import pandas as pd
import panel as pn
import param

from app import theme
from app.feature_drift import FeatureDrift, TestResult
from app.pages import charts, distribution_charts, timelines
from app.pages.base import MonitorPage, data_report
from app.pages.cards import (
    TABLE_CSS,
    KpiCard,
    data_problems,
    empty_state,
    missing_production,
    note_pane,
    refill,
    section,
    wrapping_row,
)
from app.pages.distribution_figures import DistributionFigure
from app.pages.drifted_features import (
    EXPORT_FEATURES,
    METRIC,
    distribution_failed,
    distributions,
    drift_order,
    show_chosen_in_browser,
)
from app.pages.segments import attributed_features, where_it_drifted
from app.pages.significance import (
    psi_bars,
    psi_heatmap,
    psi_status,
    status_style,
)
from app.report_types import PredictionDrift, Report


class DriftMonitoring(MonitorPage):
    """Every drift measure of the window, with the thresholds they are judged by."""

    title: ClassVar[str] = "Drift Monitoring"

    static = param.Boolean(
        default=False,
        doc="""Drawn for a static file with no server behind it (the export): the distribution
        comparison of the most drifted features is drawn up front and the browser shows the one
        chosen; the time-window selection hint is left out.""",
    )

    def _build(self) -> list[Any]:
        thresholds = self.monitor.config.thresholds
        psi, card = thresholds["psi"], thresholds["cardinality_ratio"]
        kl = thresholds["prediction_kl"]
        psi_card, self.psi_body = section(
            "PSI per feature",
            note=f"Population stability index of each numerical and categorical feature; dashed lines: "
            f"warning {theme.format_metric(psi.warning, 2)}, critical {theme.format_metric(psi.critical, 2)}; "
            "grey: not significant at this sample size (under the PSI that noise reaches).",
            min_height=charts.HEIGHT,
        )
        card_card, self.cardinality_body = section(
            "Cardinality growth",
            note=f"Distinct values in production ÷ in reference for high-cardinality features; dashed lines: "
            f"warning {theme.format_number(card.warning)}, critical {theme.format_number(card.critical)}.",
            min_height=charts.HEIGHT,
        )
        self.kl_card = KpiCard("Prediction KL")
        self.js_card = KpiCard("Prediction JS")
        prediction_card, self.prediction_body = section(
            "Prediction drift",
            note=f"Share of each predicted class in the reference and in production; KL warning at "
            f"{theme.format_metric(kl.warning, 2)}, critical at {theme.format_metric(kl.critical, 2)}.",
            min_height=charts.HEIGHT,
        )
        trend_card, self.kl_trend_body = section(
            "Prediction KL over time",
            note="KL divergence of each time bucket's predicted classes from the reference.",
            min_height=charts.HEIGHT,
        )
        self.feature = pn.widgets.Select(label="Feature", options=[], width=280)
        self.feature.param.watch(self._feature_changed, "value")
        compare_card, self.compare_body = section(
            "Reference vs production distribution",
            self.feature,
            note="Share of rows per bin (numerical) or per value (categorical, most frequent values).",
            min_height=charts.HEIGHT,
        )
        self.distribution_body = pn.Column(sizing_mode="stretch_width", min_height=charts.HEIGHT)
        self.compare_body.append(self.distribution_body)
        # Drawn once, redrawn in place for each feature chosen (no new plot per choice).
        self.distribution_figure = DistributionFigure()
        table_card, self.table_body = section(
            "Numerical drift",
            note="PSI, two-sample Kolmogorov–Smirnov statistic D and its p-value, and the Wasserstein "
            "distance in reference standard deviations. Categorical tests are on Feature Statistics.",
        )
        heat_card, self.heatmap_body = section(
            "Drift over time",
            note="PSI of each feature per time bucket in the severity colours (grey: fewer than "
            f"{charts.MIN_BUCKET_ROWS} rows, or not significant at the bucket's sample size)."
            + (
                "" if self.static else " Drag across the time axis to set the window of every page."
            ),
            min_height=charts.HEIGHT,
        )
        self.where_feature = pn.widgets.Select(label="Feature", options=[], width=280)
        self.where_feature.param.watch(self._where_feature_changed, "value")
        self.where_view = pn.Column(sizing_mode="stretch_width", min_height=charts.HEIGHT)
        self.where_card, self.where_body = section(
            "Where did it drift",
            self.where_feature,
            self.where_view,
            note="Each feature's drift inside the segments of [columns] segments, ranked by "
            "contribution = production share × PSI inside the segment (grey: not significant at "
            "the segment's sample size), beside the mix shift of each segment column.",
            min_height=charts.HEIGHT,
        )
        self._report: Report = Report()
        # Static export: each feature's attribution, shown one at a time in the browser.
        self.where_views: dict[str, pn.Column] = {}
        self._where_callback: Any = None
        self.heatmap_stream: hv.streams.BoundsX | None = None
        self._buckets: list[dict] = []
        self._width = charts.bucket_width(None)
        self._order: list[str] = []
        # Static export: each feature's comparison, shown one at a time in the browser.
        self.comparisons: dict[str, pn.Column] = {}  # by feature name
        self._total = 0  # features in the report, of which ``comparisons`` holds the first
        self._browser_callback: Any = None
        return [
            wrapping_row(psi_card, card_card),
            wrapping_row(prediction_card, trend_card),
            compare_card,
            table_card,
            heat_card,
            # Absent for a config without segments; hidden while the report has none.
            *([self.where_card] if self.monitor.config.columns.segments else []),
        ]

    def reload(self) -> None:
        monitor = self.monitor
        self.load(
            "report",
            lambda: data_report(monitor),
            self._draw_report,
            self.psi_body,
            self.cardinality_body,
            self.prediction_body,
            self.table_body,
            *([self.where_view] if self.monitor.config.columns.segments else []),
        )
        self.load(
            "over_time",
            monitor.drift_over_time,
            self._draw_over_time,
            self.heatmap_body,
            self.kl_trend_body,
        )
        if not self.static:
            self._load_distribution()

    # -- from the report -------------------------------------------------------------------
    def _draw_report(self, report: Report) -> None:
        thresholds = self.monitor.config.thresholds
        features = report.features
        production = report.rows.get("inputs")
        self._order = drift_order(features)
        self._draw_psi(features, thresholds, production)
        self._draw_cardinality(features, thresholds, production)
        self._draw_prediction(report.prediction_drift)
        self._draw_table(features, production)
        self._draw_where(report)
        options = list(self._order)
        value = self.feature.value
        if value not in options:
            # The most drifted feature whose distribution reads as a chart (not an address).
            readable = [n for n in options if features[n].kind != "high_cardinality"]
            value = (readable or options or [None])[0]
        if self.static and options:
            self._load_comparisons(options, value)
            return
        self.feature.param.update(options=options, value=value)
        if not options:
            self.distribution_body.objects = [
                empty_state(
                    "No features to compare.",
                    f"{data_problems(self.monitor, 'reference')}The reference file has no feature "
                    "columns Driftdeck can read; see README, section Data.",
                )
            ]

    def _draw_psi(
        self, features: dict[str, FeatureDrift], thresholds: dict, production: Any
    ) -> None:
        rows = [
            {
                "feature": name,
                "psi": f.psi,
                "severity": f.severity,
                "psi_floor": f.psi_floor,
                "JS": theme.format_metric(f.js),
            }
            for name, f in features.items()
            if f.kind != "high_cardinality" and theme.is_number(f.psi)
        ]
        if not rows:
            self.psi_body.objects = [
                missing_production(self.monitor)
                if not production
                else empty_state(
                    "No feature has a PSI for this window.",
                    "PSI needs a numerical or categorical feature present in both the reference and production inputs.",
                )
            ]
            return
        rows.sort(key=lambda r: -r["psi"])
        chart = psi_bars(rows, thresholds["psi"], extra_hover=[("Jensen–Shannon", "@JS")])
        self.psi_body.objects = [charts.plot_pane(chart, charts.HEIGHT)]

    def _draw_cardinality(
        self, features: dict[str, FeatureDrift], thresholds: dict, production: Any
    ) -> None:
        rows = []
        for name, f in features.items():
            c = f.cardinality
            if f.kind == "high_cardinality" and c is not None and theme.is_number(c.ratio):
                rows.append(
                    {
                        "feature": name,
                        "value": c.ratio,
                        "severity": f.severity,
                        "reference": theme.format_count(c.reference),
                        "production": theme.format_count(c.production),
                        "new_share": theme.format_share(c.new_value_share),
                    }
                )
        if not rows:
            has_high = any(f.kind == "high_cardinality" for f in features.values())
            if has_high and not production:
                self.cardinality_body.objects = [missing_production(self.monitor)]
            else:
                self.cardinality_body.objects = [
                    empty_state(
                        "No high-cardinality features.",
                        "Columns with many distinct values (addresses, ids) are judged by cardinality growth: "
                        "list them in [columns] high_cardinality in driftdeck.toml.",
                    )
                ]
            return
        rows.sort(key=lambda r: -r["value"])
        chart = distribution_charts.severity_bars(
            rows,
            thresholds["cardinality_ratio"],
            "Cardinality ratio",
            text=theme.format_ratio,
            extra_hover=[
                ("Distinct (reference)", "@reference"),
                ("Distinct (production)", "@production"),
                ("New-value share", "@new_share"),
            ],
        )
        lines = [
            f"{r['feature']}: {r['reference']} → {r['production']} distinct values; "
            f"{r['new_share']} of production rows carry a value never seen in the reference"
            for r in rows
        ]
        self.cardinality_body.objects = [
            charts.plot_pane(chart, charts.HEIGHT - 40),
            *(note_pane(line) for line in lines),
        ]

    def _draw_prediction(self, prediction: PredictionDrift) -> None:
        kl, js = prediction.kl, prediction.js
        self.kl_card.show(
            kl, theme.format_metric(kl), "reference vs production classes", prediction.severity
        )
        self.js_card.show(js, theme.format_metric(js), "Jensen–Shannon distance (base 2)")
        chart = distribution_charts.class_share_bars(prediction.reference, prediction.production)
        if chart is None or not prediction.production:
            self.prediction_body.objects = [
                empty_state(
                    "No prediction drift to show.",
                    f"{data_problems(self.monitor, 'reference', 'predictions')}"
                    "Needs the reference target or prediction column ([columns] target) and "
                    f"production predictions ({self.monitor.config.predictions}); see README.",
                )
            ]
            return
        self.prediction_body.objects = [
            pn.FlexBox(self.kl_card.pane, self.js_card.pane, sizing_mode="stretch_width"),
            charts.plot_pane(chart, charts.HEIGHT - 60),
        ]

    def _draw_table(self, features: dict[str, FeatureDrift], production: Any) -> None:
        rows = []
        for name in self._order:
            f = features[name]
            if f.kind != "numerical":
                continue
            ks = f.ks or TestResult()
            rows.append(
                {
                    "Feature": name,
                    "Severity": psi_status(f.severity, f.psi_floor),
                    "PSI": _float(f.psi),
                    "KS D": _float(ks.statistic),
                    "KS p-value": theme.format_pvalue(ks.pvalue),
                    "Wasserstein (σ)": _float(f.wasserstein),
                    "Jensen–Shannon": _float(f.js),
                    "Note": f.reason or "",
                }
            )
        if not rows:
            self.table_body.objects = [
                missing_production(self.monitor)
                if not production
                else empty_state(
                    "No numerical features.",
                    "List numerical columns in [columns] numerical, or check the column types; see README.",
                )
            ]
            return
        frame = pd.DataFrame(rows)
        if not frame["Note"].any():
            frame = frame.drop(columns="Note")
        self.drift_table = pn.widgets.Tabulator(
            frame,
            disabled=True,
            show_index=False,
            selectable=False,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            formatters={c: METRIC for c in ("PSI", "KS D", "Wasserstein (σ)", "Jensen–Shannon")},
            text_align={"KS p-value": "right", "Severity": "center"},
            stylesheets=[TABLE_CSS],
        )
        self.drift_table.style.map(status_style, subset=["Severity"])
        self.table_body.objects = [self.drift_table]

    # -- over time ---------------------------------------------------------------------------
    def _draw_over_time(self, over_time: dict) -> None:
        thresholds = self.monitor.config.thresholds
        self._buckets = list(over_time.get("buckets") or [])
        self._width = charts.bucket_width(over_time.get("width"))
        heat = psi_heatmap(over_time, thresholds["psi"])
        if heat is None:
            self.heatmap_stream = None
            self.heatmap_body.objects = [
                missing_production(self.monitor)
                if not self._buckets
                else empty_state(
                    "No feature to follow over time.",
                    "Needs production inputs with a timestamp column ([columns] timestamp).",
                )
            ]
        else:
            if self.static:
                heat, self.heatmap_stream = charts.without_selection(heat), None
            else:
                self.heatmap_stream = hv.streams.BoundsX(source=heat, boundsx=None)
                self.heatmap_stream.add_subscriber(self._heatmap_selected)
            self.heatmap_body.objects = [charts.plot_pane(heat)]
        trend = timelines.kl_trend(over_time.get("predictions") or [], thresholds["prediction_kl"])
        if trend is None:
            self.kl_trend_body.objects = [
                empty_state(
                    "No prediction KL over time.",
                    f"{data_problems(self.monitor, 'reference', 'predictions')}"
                    "Needs production predictions with a timestamp "
                    f"({self.monitor.config.predictions}) and a reference target; see README.",
                )
            ]
        else:
            self.kl_trend_body.objects = [charts.plot_pane(trend, charts.HEIGHT)]

    def _heatmap_selected(self, boundsx: tuple | None = None, **_: Any) -> None:
        if boundsx:
            self.select_window(charts.snap_to_buckets(*boundsx, self._buckets, self._width))

    # -- where did it drift ------------------------------------------------------------------------
    def _draw_where(self, report: Report) -> None:
        """The where-did-it-drift section: shown only when the report has segments."""
        self._report = report
        self.where_card.visible = bool(report.segments)
        if not self.where_card.visible:
            self.where_view.objects = [
                empty_state(
                    "No segments in this window.",
                    "[columns] segments names categorical columns of both the reference and the "
                    "production inputs; see the system status for why one is left out.",
                )
            ]
            return
        options = attributed_features(report)
        value = self.where_feature.value
        if value not in options:
            value = (options or [None])[0]
        if self.static and options:
            self._draw_where_views(options, value)
            return
        changed = value != self.where_feature.value
        self.where_feature.param.update(options=options, value=value)
        if not changed:
            self._show_where()

    def _where_feature_changed(self, _event: Any) -> None:
        if self.static:
            self._show_chosen_where()
        else:
            self._show_where()

    def _show_where(self) -> None:
        name = self.where_feature.value
        if not name:
            self.where_view.objects = [
                empty_state(
                    "No feature to attribute to segments.",
                    "Needs numerical or categorical features present in both the reference and "
                    "production inside at least one segment with 30 rows on each side.",
                )
            ]
            return
        self.where_view.objects = where_it_drifted(self._report, name)

    def _draw_where_views(self, options: list[str], chosen: str) -> None:
        """Static export: the attribution of each feature (most contributing first), the chosen
        one shown; the browser switches between them."""
        names = options[:EXPORT_FEATURES]
        self.where_feature.param.update(
            options=names, value=chosen if chosen in names else names[0]
        )
        self.where_views = {
            name: pn.Column(*where_it_drifted(self._report, name), sizing_mode="stretch_width")
            for name in names
        }
        self._show_chosen_where()
        self.where_view.objects = list(self.where_views.values())
        if self._where_callback is not None:
            self._where_callback.unwatch()
        self._where_callback = show_chosen_in_browser(self.where_feature, self.where_views)

    def _show_chosen_where(self) -> None:
        for name, view in self.where_views.items():
            view.visible = name == self.where_feature.value

    # -- any feature ---------------------------------------------------------------------------
    def _feature_changed(self, _event: Any) -> None:
        if self.static:
            self._show_chosen()
            return
        self._load_distribution()

    def _load_distribution(self) -> None:
        name = self.feature.value
        if not name:
            return
        self.load(
            "distribution",
            lambda: self.monitor.distribution(name),
            self._draw_distribution,
            self.distribution_body,
            cached=True,
        )

    def _draw_distribution(self, dist: dict) -> None:
        refill(self.distribution_body, _comparison(dist, self.distribution_figure, live=True))

    # -- the static comparison -----------------------------------------------------------------
    def _load_comparisons(self, options: list[str], chosen: str) -> None:
        """Static export: the distributions of the features Feature Statistics details, then one
        comparison per feature."""
        names = options[:EXPORT_FEATURES]
        self._total = len(options)
        self.feature.param.update(options=names, value=chosen if chosen in names else names[0])
        monitor = self.monitor
        self.load(
            "comparisons",
            lambda: distributions(monitor, names),
            self._draw_comparisons,
            self.distribution_body,
        )

    def _draw_comparisons(self, found: dict[str, dict | Exception]) -> None:
        self.comparisons = {
            name: pn.Column(
                *(
                    [distribution_failed(dist)]
                    if isinstance(dist, Exception)
                    else _comparison(dist, DistributionFigure())
                ),
                sizing_mode="stretch_width",
                min_height=charts.HEIGHT,
            )
            for name, dist in found.items()
        }
        self._show_chosen()
        notes = []
        if self._total > len(self.comparisons):
            notes.append(
                note_pane(
                    f"This file holds the distributions of the {len(self.comparisons)} most "
                    f"drifted of the {self._total} features; the live dashboard compares any feature."
                )
            )
        self.distribution_body.objects = [*notes, *self.comparisons.values()]
        if self._browser_callback is not None:
            self._browser_callback.unwatch()
        self._browser_callback = show_chosen_in_browser(self.feature, self.comparisons)

    def _show_chosen(self) -> None:
        """Static export: show the chosen feature's comparison (the browser does the same on a
        change)."""
        for name, view in self.comparisons.items():
            view.visible = name == self.feature.value


def _comparison(dist: dict, figure: DistributionFigure, live: bool = False) -> list[Any]:
    """The reference-vs-production chart of a feature's distribution drawn in ``figure``, or why
    there is none. A live page keeps both of the figure's panes in its layout (hidden while they
    draw nothing), so the next feature only changes their data."""
    shown = figure.show(dist)
    kept = list(figure.panes) if live else []
    if shown is None:
        return [
            empty_state(
                f"No values of “{dist.get('feature')}” to compare in this window.",
                "The feature is missing on one side or has only missing values; widen the time window or check the inputs.",
            ),
            *kept,
        ]
    return kept or [shown]


def _float(value: Any) -> float:
    return float(value) if theme.is_number(value) else float("nan")
