"""Monitor: per-session window over the shared engine; every session sees new data."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from app.engine import Engine
from app.monitor import Monitor
from tests.worlds import make_world, write


def test_every_session_sees_a_data_change(tmp_path):
    config = make_world(tmp_path)
    engine = Engine(config)
    first, second = Monitor(config, engine=engine), Monitor(config, engine=engine)
    assert not first.refresh() and not second.refresh()
    frame = pd.read_parquet(config.path("inputs")).head(10)
    write(tmp_path / "data/production/inputs.parquet", frame)
    assert first.refresh()  # the first session's refresh rebuilds the shared views...
    assert second.refresh()  # ...and the second session still learns the data changed
    assert first.data_version == second.data_version == 1
    assert second.engine.window_rows(second.window)["inputs"] == 10


def test_window_is_per_session_and_results_shared(tmp_path):
    config = make_world(tmp_path)
    engine = Engine(config)
    a, b = Monitor(config, engine=engine), Monitor(config, engine=engine)
    a.set_window(*a.full_range())
    assert b.at_default and b.start == a.full_range()[1] - timedelta(days=7)
    b.report()
    b.report()
    assert engine.computations["production_profile"] == 1


def test_new_production_data_keeps_the_reference_profile(tmp_path):
    config = make_world(tmp_path)
    engine = Engine(config)
    monitor = Monitor(config, engine=engine)
    monitor.report()
    frame = pd.read_parquet(config.path("inputs")).head(10)
    write(tmp_path / "data/production/inputs.parquet", frame)
    assert monitor.refresh()
    assert monitor.report()["rows"]["inputs"] == 10
    assert engine.computations["reference_profile"] == 1
    assert engine.computations["production_profile"] == 2
    # The old data version's production profile is gone; the reference profile is kept.
    assert engine.kept()["reference_profile"] == 1
    assert engine.kept()["production_profile"] == 1
    write(tmp_path / "data/reference/reference.parquet", frame)
    assert monitor.refresh()
    monitor.report()
    assert engine.computations["reference_profile"] == 2


def test_the_monitor_opens_on_the_monitoring_window_and_follows_new_rows(tmp_path):
    config = make_world(tmp_path)
    engine = Engine(config)
    monitor = Monitor(config, engine=engine)
    first, newest = monitor.full_range()
    assert (monitor.start, monitor.end) == (newest - timedelta(days=7), None)
    assert monitor.window.span == "7d" and monitor.window_label().startswith("Last 7d")
    assert engine.window_rows(monitor.window)["inputs"] == 7 * 144 + 1

    monitor.all_rows()
    assert monitor.at_all_rows and not monitor.at_default
    assert monitor.window_label() == "All production rows"
    monitor.reset_window()
    assert monitor.at_default

    # New rows a day later: a monitor on the default window moves with them; a chosen one stays.
    chosen = Monitor(config, engine=engine, start=first, end=first + timedelta(days=1))
    frame = pd.read_parquet(config.path("inputs"))
    later = frame.tail(144).assign(timestamp=lambda f: f["timestamp"] + timedelta(days=1))
    write(tmp_path / "data/production/inputs.parquet", pd.concat([frame, later]))
    assert monitor.refresh() and chosen.refresh()
    assert monitor.at_default and monitor.start == newest + timedelta(days=1) - timedelta(days=7)
    assert (chosen.start, chosen.end) == (first, first + timedelta(days=1))
