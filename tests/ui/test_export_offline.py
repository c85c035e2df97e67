"""The exported HTML opens from disk with every network request blocked, and draws."""

from __future__ import annotations

import pandas as pd
import panel as pn
import pytest

from app.export import export_html, external_references

pytestmark = pytest.mark.ui

HOSTILE = "<script>alert(1)</script>"


def dashboard():
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (registers .hvplot)

    frame = pd.DataFrame({"day": range(10), "rows": [5, 7, 6, 9, 12, 11, 15, 14, 18, 20]})
    frame["district"] = ["north", "south", "east", "west", HOSTILE] * 2
    bars = hv.Bars(frame.groupby("district", as_index=False)["rows"].sum(), "district", "rows")
    return {
        "Plots": pn.Column("## Rows per day", frame.hvplot.line("day", "rows"), bars),
        "Table": pn.Column(pn.widgets.Tabulator(frame, pagination="local", page_size=5)),
    }


def test_export_renders_offline_from_disk(page, browser_log, wait_for_plots, tmp_path):
    out = export_html(dashboard(), tmp_path / "export.html", title="Offline")
    assert external_references(out.read_text(encoding="utf-8")) == []
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(out.as_uri())
    wait_for_plots(page, count=2)
    page.get_by_text("Table", exact=True).click()
    rows = page.locator(".tabulator-row")
    rows.first.wait_for(state="visible", timeout=10_000)
    assert rows.count() == 5
    page.get_by_text(HOSTILE).first.wait_for(state="attached")

    assert not dialogs, f"a script in the data ran: {dialogs}"
    assert not browser_log.blocked, browser_log.blocked
