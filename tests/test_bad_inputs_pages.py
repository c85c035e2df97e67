"""Every case of the bad-input corpus (tests/bad_inputs.py) through the six pages, in-process.

Each page is built on the case's files and every one of its sections is loaded the way a served
session loads it (the section's fetch, then its draw), without a browser. For every case:
- no section fails with anything but a one-line ``DriftdeckError``, and nothing logs a traceback;
- every section shows something (a chart, a table or a message), so the others still work;
- a data file that cannot be read is named, with what is wrong with it, in the sections that
  need it; the Features page names every column with a schema difference; the Alerts page lists
  every failed status check; a refused configuration shows its one-line error naming the key;
- values from the data stay text (no raw ``<script>`` or ``<img>`` in any HTML, no table column
  title inserted as HTML);
- the user's files are byte-identical afterwards (and no file is added).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import panel as pn
import pytest

from app.config import load_config
from app.engine import Engine
from app.errors import DriftdeckError
from app.monitor import Monitor
from app.pages import PAGES, build_page
from app.pages.base import MonitorPage, data_report
from app.pages.cards import escape
from app.pages.shell import create_app
from tests.bad_inputs import CASES, ERRORS
from tests.page_helpers import shown_text

# The pages with sections drawn from each data file: they must say why it cannot be read.
PAGES_READING = {
    "reference": ("drift", "features"),
    "inputs": ("overview", "drift", "features", "production"),
    "predictions": ("overview", "drift", "performance"),
}


@dataclass
class Section:
    """One section load of a page and how it ended: "drawn", or the exception it failed with."""

    page: str
    key: str
    targets: tuple
    outcome: Any = "not loaded"


@pytest.fixture
def sections(monkeypatch) -> list[Section]:
    """Every section load of the pages built in the test, recorded with its outcome."""
    recorded: list[Section] = []
    load = MonitorPage.load

    def recording_load(self, key, fetch, draw, *targets, **options):
        section = Section(type(self).__name__, key, targets)
        recorded.append(section)

        def fetch_and_note():
            try:
                return fetch()
            except Exception as exc:
                section.outcome = exc
                raise

        def draw_and_note(value):
            try:
                draw(value)
            except Exception as exc:
                section.outcome = exc
                raise
            section.outcome = "drawn"

        load(self, key, fetch_and_note, draw_and_note, *targets, **options)

    monkeypatch.setattr(MonitorPage, "load", recording_load)
    return recorded


def file_hashes(root: Path) -> dict[Path, str]:
    """Every file of the user's (Driftdeck's own result store aside)."""
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".driftdeck" not in p.relative_to(root).parts
    }


def load_page(slug: str, monitor: Monitor) -> pn.viewable.Viewable:
    """Build the page and load all its sections (synchronously: there is no session)."""
    page = build_page(slug, monitor)
    layout = page.__panel__()
    page.reload()
    return layout


def section_problems(sections: list[Section]) -> list[str]:
    problems = [
        f"no section of {page} drew: a bad file must not take the whole page down"
        for page in {s.page for s in sections}
        if not any(s.outcome == "drawn" for s in sections if s.page == page)
    ]
    for s in sections:
        where = f"{s.page} section {s.key!r}"
        if isinstance(s.outcome, DriftdeckError):
            continue  # shown in the section as its one-line message
        if s.outcome != "drawn":
            problems.append(f"{where} failed: {s.outcome!r}")
        for target in s.targets:
            if isinstance(target, pn.layout.ListLike) and not target.objects:
                problems.append(f"{where} shows nothing")
    return problems


def table_problems(slug: str, layout: pn.viewable.Viewable) -> list[str]:
    """Tables whose column titles would run as HTML: Tabulator inserts a title as markup unless
    its title formatter is ``plaintext``, and column names come from the data."""
    problems = []
    for table in layout.select(pn.widgets.Tabulator):
        for column in table.value.columns:
            title = table.titles.get(column, str(column))
            if "<" in title and table.title_formatters.get(column) != "plaintext":
                problems.append(f"{slug} page table shows column title {title!r} as HTML")
    return problems


def text_problems(texts: dict[str, str]) -> list[str]:
    problems = []
    for slug, text in texts.items():
        for raw in ("Traceback", "<script", "<img"):
            if raw in text:
                problems.append(f"{slug} page shows {raw!r}")
    return problems


def explanation_problems(monitor: Monitor, texts: dict[str, str]) -> list[str]:
    """What the pages must name: unreadable files, schema differences, failed status checks."""
    problems = []
    sources = monitor.engine.sources
    for role, slugs in PAGES_READING.items():
        if sources.available(role):
            continue
        why = sources.state(role).problem  # the status message, naming the file
        for slug in slugs:
            if escape(why) not in texts[slug]:
                problems.append(f"{slug} page does not say why {role} cannot be read: {why}")
    schema = data_report(monitor)["data_quality"]["schema"]
    columns = [
        *schema["only_in_reference"],
        *schema["only_in_production"],
        *(change["column"] for change in schema["type_changes"]),
    ]
    for column in columns:
        if escape(column) not in texts["features"]:
            problems.append(f"features page does not name column {column!r} (schema difference)")
    for entry in monitor.report()["status"]:
        if entry["ok"] or entry["component"] in ("mlflow", "last monitor run"):
            continue  # MLflow's messages carry the latency of each check
        if escape(entry["message"]) not in texts["alerts"]:
            problems.append(f"alerts page does not list failed check {entry}")
    return problems


def open_monitor(path: Path) -> Monitor:
    """A Monitor on the config at ``path``, with an engine of its own."""
    config = load_config(path)
    return Monitor(config, engine=Engine(config))


@pytest.mark.parametrize("name", list(CASES))
def test_every_page_loads_and_says_what_is_wrong(name, tmp_path, sections, caplog, monkeypatch):
    path = CASES[name](tmp_path)
    before = file_hashes(tmp_path)
    caplog.set_level(logging.WARNING)
    try:
        monitor, refused = open_monitor(path), None
    except DriftdeckError as exc:
        monitor, refused = None, str(exc)
    if name in ERRORS:
        assert refused is not None and ERRORS[name] in refused, "the config must be refused"
    if monitor is None:
        # The served app cannot start: every session shows the one-line error instead.
        monkeypatch.setenv("DRIFTDECK_CONFIG", str(path))
        text = shown_text(pn.Column(*create_app().main))
        assert "cannot start" in text and refused in text
        problems = text_problems({"error": text})
    else:
        layouts = {slug: load_page(slug, monitor) for slug in PAGES}
        texts = {slug: shown_text(layout) for slug, layout in layouts.items()}
        problems = (
            section_problems(sections) + text_problems(texts) + explanation_problems(monitor, texts)
        )
        for slug, layout in layouts.items():
            problems += table_problems(slug, layout)
    problems += [
        f"logged {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]
    assert not problems, "\n".join(problems)
    assert file_hashes(tmp_path) == before, "the user's files must stay byte-identical"


def test_every_page_is_loaded(tmp_path, sections):
    """The recording sees every page's sections drawn (a case cannot pass by loading nothing)."""
    monitor = open_monitor(CASES["healthy"](tmp_path))
    for slug in PAGES:
        load_page(slug, monitor)
    assert {s.page for s in sections} == {entry.view.__name__ for entry in PAGES.values()}
    assert len(sections) >= 2 * len(PAGES)
    assert all(s.outcome == "drawn" for s in sections)
    assert not section_problems(sections)
