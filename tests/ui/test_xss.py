"""Script in the data stays text on every page (issue 6, "no way in").

One server on a copy of the demo world whose category values (district), high-cardinality
values (address), predicted classes and two column names are script payloads; one browser
session visits the six pages through the navigation. No dialog may ever open (and the ``page``
fixture fails on any console error, such as the 404 of an ``<img src=x>`` inserted as HTML),
and the payloads show as text wherever the page shows those values.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from app.pages import PAGES
from tests.bad_inputs import write
from tests.ui.helpers import BOKEH_FACTORS, wait_until_loaded

pytestmark = pytest.mark.ui

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
NEWEST = 200
"""Production rows (the newest) whose district and address are payloads: Production's first page."""

# The payloads each page shows as DOM text (not only in a chart's canvas or a tooltip).
SHOWN = {
    "overview": (SCRIPT,),  # "Max feature PSI" names the most drifted column
    "drift": (SCRIPT,),  # the numerical drift table lists it
    "features": (SCRIPT, IMG),  # the feature table lists both columns
    "performance": (SCRIPT, IMG),  # production class shares name the predicted classes
    "production": (SCRIPT, IMG),  # column headers, district and address cells
    "alerts": (SCRIPT, IMG),  # both columns drift: critical PSI alerts name them
}


FACTORS_INCLUDE = f"""(wanted) => {{
  const factors = ({BOKEH_FACTORS})()
  return wanted.every((value) => factors.includes(value))
}}"""
"""True once the page's Bokeh plots have every ``wanted`` string as an axis label."""


def test_every_page_is_listed():
    assert set(SHOWN) == set(PAGES)


def hostile_world(demo_config: Path, root: Path) -> Path:
    """A copy of the demo world with the payloads in the data; returns its driftdeck.toml."""
    shutil.copytree(demo_config.parent, root)
    rng = np.random.default_rng(1)
    reference_path = root / "data/reference/reference.parquet"
    reference = pq.read_table(reference_path).to_pandas()
    reference[SCRIPT] = rng.normal(0, 1, len(reference))
    reference[IMG] = rng.choice(["a", "b"], len(reference))
    write(reference_path, reference)

    inputs_path = root / "data/production/inputs.parquet"
    inputs = pq.read_table(inputs_path).to_pandas()
    n = len(inputs)
    inputs[SCRIPT] = rng.normal(3, 1, n)  # drifted: the most drifted feature
    inputs[IMG] = rng.choice(["a", "b"], n, p=[0.05, 0.95])
    newest = (inputs["timestamp"].rank(method="first", ascending=False) <= NEWEST).to_numpy()
    row = np.arange(n)
    for i, payload in enumerate((SCRIPT, IMG)):
        inputs.loc[(row % 10 == i) | newest & (row % 2 == i), "district"] = payload
        inputs.loc[newest & (row % 2 == i), "address"] = payload
    write(inputs_path, inputs)

    predictions_path = root / "data/production/predictions.parquet"
    predictions = pq.read_table(predictions_path).to_pandas()
    row = np.arange(len(predictions))
    predictions.loc[row % 20 == 0, "prediction"] = SCRIPT
    predictions.loc[row % 20 == 1, "prediction"] = IMG
    write(predictions_path, predictions)

    config = root / "driftdeck.toml"
    text = config.read_text()
    text = text.replace("numerical = [", f'numerical = ["{SCRIPT}", ', 1)
    text = text.replace("categorical = [", f'categorical = ["{IMG}", ', 1)
    config.write_text(text)
    return config


def test_payloads_in_the_data_show_as_text_on_every_page(
    page, demo_world, launch_server, wait_for_page, tmp_path
):
    config = hostile_world(demo_world, tmp_path / "hostile-world")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", "{port}"]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"]
    url = launch_server(command, config, "/panel_serve")

    page.goto(url)
    for slug, entry in PAGES.items():
        page.get_by_role("button", name=entry.title).click()
        wait_for_page(page, slug)
        wait_until_loaded(page, settle=0.5)
        shown = page.locator(f".driftdeck-page-{slug}")
        for payload in SHOWN[slug]:
            expect(shown.get_by_text(payload).filter(visible=True).first).to_be_visible()
        if slug in ("drift", "features"):
            shown.get_by_label("Feature").first.select_option("district")
        if slug == "drift":  # district's distribution chart: the payloads are its bar labels
            page.wait_for_function(FACTORS_INCLUDE, arg=[SCRIPT, IMG], timeout=30_000)
        if slug == "features":  # district's new categories, listed as text
            for payload in (SCRIPT, IMG):
                chips = shown.locator(".chip").filter(has_text=payload)
                expect(chips.first).to_be_visible()
        assert not dialogs, f"a script in the data ran on {slug}: {dialogs}"
    # (the page fixture fails the test on any console error or external request)
