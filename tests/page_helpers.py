"""Helpers for the server-less page tests: small worlds, a Monitor on its own engine, and the
text a page shows in its HTML panes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pyarrow.parquet as pq
import pytest

from app.config import Config
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.cards import is_shown
from tests.worlds import make_world, write

XSS = "<script>alert(1)</script>"


def monitor_on(config: Config, **window) -> Monitor:
    """A Monitor with an engine of its own (no results shared with other tests), on the
    monitoring window (the last 7d of the small world's 35 days) unless ``start``/``end`` say."""
    return Monitor(config, engine=Engine(config), **window)


def chart_frames(layout) -> list:
    """The data of every chart the layout shows, in order: each HoloViews element's, and each
    shown Bokeh figure's (``figure_frame``)."""
    frames = []
    for pane in layout.select(lambda p: isinstance(p, pn.pane.HoloViews | pn.pane.Bokeh)):
        if isinstance(pane, pn.pane.HoloViews):
            frames += [e.dframe() for e in pane.object.traverse(lambda e: e, [hv.Element])]
        elif is_shown(pane) and is_shown(pane.object):
            frames.append(figure_frame(pane.object))
    return frames


def figure_frame(plot) -> pd.DataFrame:
    """What a Bokeh figure draws: the data of its glyph renderers, one after the other (their
    ``side`` column tells the reference from production)."""
    frames = [
        pd.DataFrame({name: list(values) for name, values in r.data_source.data.items()})
        for r in plot.renderers
    ]
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def renderer_frame(plot, name: str) -> pd.DataFrame:
    """The data of the glyph renderer named ``name`` of a Bokeh figure."""
    (renderer,) = plot.select({"name": name})
    return pd.DataFrame({key: list(values) for key, values in renderer.data_source.data.items()})


def drag_across(plot, start, end) -> None:
    """What Bokeh sends the server when a user drags across a time figure from ``start`` to
    ``end`` (datetimes) with its range selection tool: the final selection geometry."""
    from bokeh.events import SelectionGeometry

    epoch = datetime(1970, 1, 1)
    ms = [(pd.Timestamp(t).to_pydatetime() - epoch).total_seconds() * 1000 for t in (start, end)]
    geometry = {"type": "rect", "x0": ms[0], "x1": ms[1], "y0": 0, "y1": 1}
    plot._trigger_event(SelectionGeometry(plot, geometry=geometry, final=True))


def shown_chart(layout) -> pd.DataFrame:
    """``figure_frame`` of the one Bokeh figure the layout shows (a page keeps its other figures
    in the layout, hidden)."""
    shown = [
        pane.object
        for pane in layout.select(pn.pane.Bokeh)
        if is_shown(pane) and is_shown(pane.object)
    ]
    assert len(shown) == 1, f"{len(shown)} figures shown"
    return figure_frame(shown[0])


def export_at_most(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Static exports hold the detail of only the ``count`` most drifted features, on every page
    that shows them (each page module holds its own name for ``EXPORT_FEATURES``)."""
    from app.pages import drift, drifted_features, features, production

    for module in (drifted_features, drift, features, production):
        monkeypatch.setattr(module, "EXPORT_FEATURES", count)


def rows_in_last(config: Config, span: timedelta, role: str = "inputs") -> int:
    """Rows of a role's file at or after its newest timestamp minus ``span`` (counted by pandas,
    not the engine): the rows of a trailing monitoring window."""
    stamps = pd.read_parquet(config.base_dir / f"data/production/{role}.parquet")["timestamp"]
    return int((stamps >= stamps.max() - span).sum())


def window_band(chart) -> dict | None:
    """Left and right of the band shading the time window on a timeline (a HoloViews chart or
    a Bokeh figure; None when there is no band)."""
    from bokeh.models import BoxAnnotation, Plot

    from app.pages.charts import WINDOW_BAND

    plot = chart if isinstance(chart, Plot) else hv.render(chart)
    bands = plot.select({"type": BoxAnnotation, "name": WINDOW_BAND})
    bands = list(bands)
    assert len(bands) <= 1
    if not bands:
        return None
    ends = {}
    for side in ("left", "right"):
        value = getattr(bands[0], side)
        ends[side] = pd.Timestamp(value) if isinstance(value, datetime | pd.Timestamp) else None
    return ends


def all_rows_on(config: Config) -> Monitor:
    """``monitor_on`` over every production row rather than the monitoring window."""
    return monitor_on(config, start=None, end=None)


def xss_world(root: Path) -> Config:
    """The small world where some of the newest production districts (and predicted classes)
    are ``XSS``: in the monitoring window, which pages open on."""
    config = make_world(root)
    inputs = root / "data/production/inputs.parquet"
    frame = pq.read_table(inputs).to_pandas()
    frame.loc[frame.index[-400:], "district"] = XSS
    write(inputs, frame)
    predictions = root / "data/production/predictions.parquet"
    frame = pq.read_table(predictions).to_pandas()
    frame.loc[frame.index[-300:], "prediction"] = XSS
    write(predictions, frame)
    return config


LABEL_DELAY = timedelta(days=3)
"""Labels of the versions world arrive this long after their predictions."""
VERSION_ACCURACY = {"1": 0.70, "2": 0.85}
"""How often each model version of the versions world is right."""


def versions_world(
    root: Path,
    *,
    versions: bool = True,
    confidence: bool = True,
    share_b: float = 0.3,
    challenger: str = "2",
    world: Callable[[Path], Config] = make_world,
) -> Config:
    """The small world (or ``world(root)``) served by model version "1", with version ``challenger`` serving ``share_b`` of the
    last ten days (unless ``versions`` is False: no version column), each right as often as
    ``VERSION_ACCURACY`` says; each prediction logs its confidence (a ``probability`` column
    unless ``confidence`` is False), higher when right; labels arrive ``LABEL_DELAY`` late, so
    the newest days of the monitoring window are estimated only. Writes its driftdeck.toml."""
    config = world(root)
    rng = np.random.default_rng(7)
    path = root / "data/production/predictions.parquet"
    predictions = pq.read_table(path).to_pandas()
    stamps = predictions["timestamp"]
    served = (stamps >= stamps.max() - timedelta(days=10)) & (
        rng.random(len(predictions)) < share_b
    )
    right = rng.random(len(predictions)) < np.where(
        served, VERSION_ACCURACY["2"], VERSION_ACCURACY["1"]
    )
    version = np.where(served, challenger, "1").astype(object)
    if versions:
        predictions["model_version"] = version
    if confidence:
        predictions["probability"] = np.round(
            np.clip(rng.normal(np.where(right, 0.8, 0.55), 0.1), 0.34, 1.0), 2
        )
    write(path, predictions)
    wrong = {"low": "medium", "medium": "high", "high": "low"}
    labels = predictions.assign(
        target=np.where(right, predictions["prediction"], predictions["prediction"].map(wrong))
    )
    labels = labels[labels["timestamp"] < stamps.max() - LABEL_DELAY]
    write(root / "data/production/labels.parquet", labels[["request_id", "target"]])
    (root / "driftdeck.toml").write_text(
        '[columns]\ntarget = "target"\nid = "request_id"\nhigh_cardinality = ["address"]\n'
        '[mlflow]\ntracking_uri = "sqlite:///mlflow.db"\ntimeout_seconds = 5\n',
        encoding="utf-8",
    )
    return replace(config, columns=replace(config.columns, id="request_id"))


def render(page: pn.viewable.Viewer) -> pn.viewable.Viewable:
    """Draw the page as the static export does (every section computed before it returns)."""
    layout = page.__panel__()
    layout.get_root()
    return layout


def html_texts(layout: pn.viewable.Viewable) -> list[str]:
    """The markup of every HTML and Markdown pane in the layout that is not hidden itself (a
    live page keeps panes it has no text for, hidden, for the next feature)."""
    panes = layout.select(lambda p: isinstance(p, pn.pane.HTML | pn.pane.Markdown) and is_shown(p))
    return [str(p.object) for p in panes]


def shown_text(layout: pn.viewable.Viewable) -> str:
    return "\n".join(html_texts(layout))


def drop_production(root: Path) -> None:
    for name in ("inputs", "predictions"):
        (root / f"data/production/{name}.parquet").unlink()


def bucket_starts(monitor: Monitor) -> list[pd.Timestamp]:
    return [pd.Timestamp(b["start"]) for b in monitor.drift_over_time()["buckets"]]


def assert_top_value_shares(layout, monitor, name: str) -> None:
    """A value's bar is its share of all the side's non-missing rows (not of the listed top
    values); the chart lists the union of both sides' top values, each with both shares (a value
    outside one side's top list is counted there, not left without a bar)."""
    dist = monitor.distribution(name)
    summary = data_report(monitor)["features"][name]["summary"]
    frame = shown_chart(layout)
    assert len(frame)
    for row in frame.itertuples():
        side = summary[row.side]
        assert row.share == pytest.approx(
            dist[row.side][row.value] / (side["rows"] - side["missing"])
        )
    tops = {
        side: {
            str(v)
            for v, _ in (
                monitor.engine.production_profile(monitor.window)
                if side == "production"
                else monitor.engine.reference_profile()
            )[name]["top"]
        }
        for side in ("reference", "production")
    }
    assert set(frame["value"]) == tops["reference"] | tops["production"]
    only_production = tops["production"] - tops["reference"]
    assert only_production, (
        "the small world's production top addresses are not all reference top ones"
    )
    shown = set(zip(frame["value"], frame["side"], strict=True))
    assert {(value, side) for value in frame["value"] for side in tops} <= shown
    (plot,) = [p.object for p in layout.select(pn.pane.Bokeh) if is_shown(p.object)]
    assert "top" in plot.title.text.lower()
