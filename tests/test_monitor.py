"""Monitor: per-session window over the shared engine; every session sees new data."""

from __future__ import annotations

import pandas as pd

from app.engine import Engine
from app.monitor import Monitor
from tests.conftest import make_world, write


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
    assert b.start is None
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
    write(tmp_path / "data/reference/reference.parquet", frame)
    assert monitor.refresh()
    monitor.report()
    assert engine.computations["reference_profile"] == 2
