"""Live updates: a new parquet file in a production directory shows on an open page within
``refresh_seconds``, without a reload; a half-written file never breaks the page."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from tests.bad_inputs import write
from tests.ui.helpers import kpi_value, wait_until_loaded
from tests.worlds import make_world

pytestmark = pytest.mark.ui


@pytest.fixture
def directory_world(tmp_path: Path) -> Path:
    """make_world's data with inputs and predictions as directories of parquet parts."""
    root = tmp_path / "live-world"
    make_world(root)
    production = root / "data/production"
    for name in ("inputs", "predictions"):
        (production / name).mkdir()
        (production / f"{name}.parquet").rename(production / name / "part-0.parquet")
    config = root / "driftdeck.toml"
    config.write_text(
        '[data]\ninputs = "data/production/inputs"\npredictions = "data/production/predictions"\n'
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        f'[mlflow]\ntracking_uri = "sqlite:///{root / "mlflow.db"}"\ntimeout_seconds = 2\n'
        "[server]\nrefresh_seconds = 2\n"
        # Every row, so that the counts below are the files' (the monitoring window's trailing
        # is tested in tests/test_monitor.py).
        '[monitoring]\nwindow = "all"\n'
    )
    return config


def test_new_files_show_without_reload(page, directory_world, launch_server, wait_for_page):
    production = directory_world.parent / "data/production"
    command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", "{port}"]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"]
    url = launch_server(command, directory_world, "/panel_serve")
    page.goto(f"{url}?page=overview")
    wait_for_page(page, "overview")
    wait_until_loaded(page)
    predictions = kpi_value(page, "Predictions")
    expect(predictions).to_have_text("5,000")
    page.evaluate("window.__driftdeckNoReload = true")

    # A new day of data lands: 1,000 more inputs and predictions.
    for name in ("inputs", "predictions"):
        frame = pq.read_table(production / name / "part-0.parquet").to_pandas().head(1000)
        frame["timestamp"] = frame["timestamp"] + timedelta(days=60)
        frame["request_id"] = "new-" + frame["request_id"].astype(str)
        # Written beside the directory, then moved in: the file appears complete.
        write(production / f"{name}-part-1.tmp", frame)
        (production / f"{name}-part-1.tmp").rename(production / name / "part-1.parquet")
    # refresh_seconds is 2; the rest is recomputing on a loaded 2-core machine.
    expect(predictions).to_have_text("6,000", timeout=60_000)
    assert page.evaluate("window.__driftdeckNoReload") is True  # same document: no reload

    # A file caught half-written: the page keeps showing numbers, no error.
    whole = (production / "inputs/part-1.parquet").read_bytes()
    (production / "inputs/part-2.parquet").write_bytes(whole[: len(whole) // 2])
    page.wait_for_timeout(8_000)  # several refresh periods
    wait_until_loaded(page)
    expect(predictions).to_have_text(re.compile(r"^\s*[\d,]+\s*$"))
    expect(page.get_by_text("could not be computed")).to_have_count(0)
    expect(page.get_by_text("could not be drawn")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    assert page.evaluate("window.__driftdeckNoReload") is True
