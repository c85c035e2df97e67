"""The shell without a browser: pages, navigation state, the time window, notice and download."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qs

import panel as pn
import pyarrow.parquet as pq
import pytest

from app.export import external_references
from app.monitor import Monitor
from app.pages import PAGES, build_page
from app.pages.shell import Shell, create_app
from tests.page_helpers import monitor_on


@pytest.fixture
def shell(world):
    shell = Shell(monitor=Monitor(world))
    shell.template()  # outside a server the first page is built at once
    return shell


def test_registry_has_the_six_pages_in_order():
    assert list(PAGES) == ["overview", "drift", "features", "performance", "production", "alerts"]
    with pytest.raises(ValueError, match="unknown page 'nope'"):
        build_page("nope", None)


def shown(shell):
    """Slugs of the page frames visible in the main area."""
    return [
        c.replace("driftdeck-page-", "")
        for frame in shell._main.objects
        if frame.visible
        for c in frame.css_classes
        if c.startswith("driftdeck-page-")
    ]


def test_navigation_switches_and_reuses_pages(shell):
    first = shell.views["overview"]
    assert isinstance(first, PAGES["overview"].view)
    assert shown(shell) == ["overview"]
    shell.navigation.value = "drift"
    assert shell.page == "drift"
    assert isinstance(shell.views["drift"], PAGES["drift"].view)
    assert shown(shell) == ["drift"]
    shell.page = "overview"
    assert shell.views["overview"] is first  # built once per session
    assert shell.navigation.value == "overview"
    assert shown(shell) == ["overview"]
    assert len(shell._main.objects) == 2


def test_a_failing_page_shows_why_and_is_tried_again(shell, monkeypatch):
    def broken(**_params):
        raise RuntimeError("boom")

    monkeypatch.setitem(PAGES, "alerts", PAGES["alerts"]._replace(view=broken))
    shell.page = "alerts"
    assert shown(shell) == ["alerts"]
    assert "boom" in shell._main.objects[-1][0].object
    assert "alerts" not in shell.views
    shell.page = "overview"
    assert shown(shell) == ["overview"]
    shell.page = "alerts"
    assert sum("driftdeck-page-alerts" in f.css_classes for f in shell._main.objects) == 1


def test_time_window_text_reset_and_all_rows(shell):
    monitor = shell.monitor
    default = (monitor.start, monitor.end)
    assert monitor.at_default and default[0] is not None  # the last 7 days of the world
    assert shell.window_text.object == monitor.window_label()
    assert shell.window_text.object.startswith("Last 7d (")
    assert shell.reset_window.disabled and not shell.all_rows.disabled

    monitor.set_window(datetime(2026, 1, 3), datetime(2026, 1, 10, 12, 30))
    assert shell.window_text.object == "2026-01-03 → 2026-01-10 12:30"
    assert not shell.reset_window.disabled and not shell.all_rows.disabled
    shell.reset_window.clicks += 1
    assert (monitor.start, monitor.end) == default
    assert shell.reset_window.disabled

    shell.all_rows.clicks += 1
    assert (monitor.start, monitor.end) == (None, None)
    assert shell.window_text.object == "All production rows"
    assert shell.all_rows.disabled and not shell.reset_window.disabled
    # The pages' headers follow the same window.
    overview = shell.views["overview"]
    assert "All production rows" in overview.window_text.object
    assert overview.all_rows_button.disabled and not overview.reset_button.disabled
    shell.reset_window.clicks += 1
    assert (monitor.start, monitor.end) == default
    assert overview.reset_button.disabled and not overview.all_rows_button.disabled


def test_a_monitoring_window_of_every_row_leaves_both_buttons_off(world):
    shell = Shell(monitor=monitor_on(replace(world, monitoring_window="all")))
    assert (shell.monitor.start, shell.monitor.end) == (None, None)
    assert shell.window_text.object == "All production rows"
    assert shell.reset_window.disabled and shell.all_rows.disabled


@pytest.fixture
def location(monkeypatch):
    """The browser's address as a served session has it (outside a server there is none)."""
    from panel.io.location import Location

    address = Location(search="?page=drift")
    monkeypatch.setattr(pn.state, "_location", address)
    return address


def test_the_url_names_the_window_and_a_new_session_reads_it_back(shell, location):
    monitor = shell.monitor
    default = (monitor.start, monitor.end)
    chosen = (datetime(2026, 1, 3), datetime(2026, 1, 10, 12, 30))
    links = {}
    for name, choose in (
        ("default", monitor.reset_window),
        ("all", monitor.all_rows),
        ("chosen", lambda: monitor.set_window(*chosen)),
    ):
        choose()
        shell._window_to_query()
        links[name] = parse_qs(location.search.lstrip("?"))
    # The monitoring window writes nothing: a link shared keeps trailing the newest row.
    assert links == {
        "default": {"page": ["drift"]},
        "all": {"page": ["drift"], "window": ["all"]},
        "chosen": {
            "page": ["drift"],
            "start": ["2026-01-03T00:00:00"],
            "end": ["2026-01-10T12:30:00"],
        },
    }
    expected = {"default": default, "all": (None, None), "chosen": chosen}
    for name, query in links.items():
        other = Shell(monitor=Monitor(monitor.config, engine=monitor.engine))
        other._window_from_query(query)
        assert (other.monitor.start, other.monitor.end) == expected[name], name

    # Back to an address without a window: the monitoring window again.
    shell._window_from_query({"page": ["drift"]})
    assert (monitor.start, monitor.end) == default
    # A malformed window is left out.
    for query in ({"window": ["everything"]}, {"start": ["yesterday"]}):
        shell._window_from_query(query)
        assert (monitor.start, monitor.end) == default


def test_update_notice_follows_the_monitor(shell):
    assert not shell.notice.visible
    shell.monitor.updating = "inputs.parquet is being written"
    assert shell.notice.visible
    assert "inputs.parquet is being written" in shell.notice.object
    shell.monitor.updating = ""
    assert not shell.notice.visible


def test_download_gives_the_offline_export_built_off_the_event_loop(shell):
    """Built in a worker thread: while it builds, the event loop keeps serving (a timer on it
    keeps ticking), and the button shows it is busy."""
    import asyncio

    async def download_while_ticking():
        ticks, busy = 0, []

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1
                busy.append(shell.download.loading)

        ticker = asyncio.create_task(tick())
        started = asyncio.get_running_loop().time()
        result = await shell._export()
        elapsed = asyncio.get_running_loop().time() - started
        ticker.cancel()
        return result, ticks, elapsed, busy

    result, ticks, elapsed, busy = asyncio.run(download_while_ticking())
    html = result.getvalue().decode("utf-8")
    assert external_references(html) == []
    for entry in PAGES.values():
        assert entry.title in html
    assert shell.download.filename.startswith("driftdeck-")
    assert ticks >= 0.5 * elapsed / 0.05  # the loop was free for most of the build
    assert any(busy) and not shell.download.loading


def test_a_failing_page_shows_its_message_as_text(shell, monkeypatch):
    """An error may quote the data (a column name): the Alert's Markdown must not run it as HTML."""

    def broken(**_params):
        raise RuntimeError('column "<img src=x onerror=alert(1)>" is broken')

    monkeypatch.setitem(PAGES, "alerts", PAGES["alerts"]._replace(view=broken))
    shell.page = "alerts"
    text = shell._main.objects[-1][0].object
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img" not in text


def test_bad_config_shows_a_message_not_a_traceback(tmp_path, monkeypatch):
    bad = tmp_path / "driftdeck.toml"
    bad.write_text("[server]\nport = 'eighty'\n", encoding="utf-8")
    monkeypatch.setenv("DRIFTDECK_CONFIG", str(bad))
    page = create_app()
    text = str(page.main[0].object)
    assert "server.port" in text and "cannot start" in text


def test_a_section_drawn_while_a_file_vanishes_is_computed_again(tmp_path):
    """A logger rotating a file between the engine's look and a section's query: the section
    is computed again over the files as they are, not shown as failed."""
    from app.pages.drift import DriftMonitoring
    from tests.page_helpers import all_rows_on
    from tests.worlds import make_world, write

    config = make_world(tmp_path)
    inputs = tmp_path / "data/production/inputs.parquet"
    logs = tmp_path / "data/production/inputs"
    frame = pq.read_table(inputs).to_pandas()
    half = len(frame) // 2
    write(logs / "a.parquet", frame.iloc[:half])
    write(logs / "b.parquet", frame.iloc[half:])
    inputs.unlink()
    monitor = all_rows_on(replace(config, inputs=str(logs)))
    assert monitor.engine.sources.available("inputs")
    page = DriftMonitoring(monitor=monitor)
    drawn, body = [], pn.Column()
    (logs / "b.parquet").unlink()  # gone before the section's first query
    page.load("over time", monitor.drift_over_time, drawn.append, body)
    assert drawn and sum(b["rows"] for b in drawn[0]["buckets"]) == half
    assert not body.objects  # no error shown
