"""The typed report (app/report_types.py, app/feature_drift.py): it gives the JSON the code before
it gave, carries severities judged in one place (app/severity.py), and is computed once per data
version and window for every section that draws it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app import severity as judgement
from app.config import Level
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.drift import DriftMonitoring
from app.pages.overview import Overview
from app.pages.production import ProductionData, feature_cards
from app.report import build_report, shared_report
from app.report_json import to_json
from app.report_types import Report
from app.severity import NOT_SIGNIFICANT
from app.window import Window
from tests.golden.make_report_golden import VOLATILE, WORLDS
from tests.page_helpers import monitor_on, render
from tests.worlds import assert_close, make_world, write

GOLDEN = Path(__file__).parent / "golden" / "report_before_typing.json"

ADDED = {
    "severity",
    "missing_share_increase_severity",
    "unseen_share_severity",
    "mix_shift_severity",
}
"""The keys the typed report adds to the JSON: the severities it judged."""


def _without_added(value, path: str = ""):
    """The JSON without the keys the typed report added (an alert's own severity stays)."""
    if isinstance(value, dict):
        own = path.startswith(("/alerts", "/silenced"))
        return {
            k: _without_added(v, f"{path}/{k}")
            for k, v in value.items()
            if k not in ADDED or (own and k == "severity")
        }
    if isinstance(value, list):
        return [_without_added(v, path) for v in value]
    return value


@pytest.mark.parametrize("name", list(WORLDS))
def test_the_typed_report_gives_the_json_the_code_before_it_gave(tmp_path, name):
    """The golden was written by the code before the typed report (tests/golden/): the typed
    report's JSON holds every key it held, with the same values, in the same order."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    config = WORLDS[name](tmp_path)
    typed = shared_report(Engine(config), Window(), config, mlflow=False)
    got = {k: v for k, v in json.loads(typed.to_json()).items() if k not in VOLATILE}
    stripped = _without_added(got)
    assert_close(stripped, golden)
    assert json.dumps(list(stripped)) == json.dumps(list(golden))  # the order of the sections
    for feature, entry in got["features"].items():  # every feature carries its severity
        assert "severity" in entry, feature


def test_the_json_round_trips_through_the_dataclasses(world):
    typed = shared_report(Engine(world), Window(), world, mlflow=False)
    again = Report.from_dict(json.loads(typed.to_json()), world)
    assert json.loads(again.to_json()) == json.loads(typed.to_json())


def test_a_report_made_without_some_sections_does_not_gain_them(world):
    """A backfill logs ``build_report``'s dict (no alerts, segments or versions): typed, its JSON
    keeps the keys it had, plus the severities."""
    built = build_report(Engine(world), Window(), world)
    typed = Report.from_dict(built, world).as_dict()
    assert list(typed) == list(built)
    assert _without_added(json.loads(Report.from_dict(built, world).to_json())) == json.loads(
        to_json(built)
    )


def test_each_feature_carries_its_severity_and_significance(world):
    report = shared_report(Engine(world), Window(), world, mlflow=False)
    psi, ratio = world.thresholds["psi"], world.thresholds["cardinality_ratio"]
    for name, f in report.features.items():
        if f.kind == "high_cardinality":
            expected = judgement.severity(f.cardinality.ratio, ratio)
        elif f.significant is False:
            expected = NOT_SIGNIFICANT
        else:
            expected = judgement.severity(f.psi, psi)
        assert f.severity == expected, name
        assert f.as_dict()["severity"] == expected
    assert report.features["district"].severity == "critical"  # a new category: real drift
    assert report.prediction_drift.severity == judgement.severity(
        report.prediction_drift.kl, world.thresholds["prediction_kl"]
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """150 rows on each side: PSIs at alert levels that noise reaches at these sample sizes."""
    return make_world(tmp_path_factory.mktemp("small"), n_ref=150, n_prod=150)


def test_a_psi_under_its_floor_is_not_an_alert_colour_on_any_page(small, monkeypatch):
    """A PSI of noise at alert level: the report says "not significant", and the Overview's
    largest-PSI card and the Production page's PSI card draw that, never an alert colour."""
    from app.pages import overview

    monitor = monitor_on(small)
    report = data_report(monitor)
    noise = [f for f in report.features.values() if f.significant is False]
    loud = max(noise, key=lambda f: f.psi)
    assert loud.psi >= small.thresholds["psi"].warning  # an alert colour if judged without floor
    assert loud.severity == NOT_SIGNIFICANT
    assert feature_cards(loud)[0].severity == NOT_SIGNIFICANT  # the Production page's PSI card
    only_noise = dataclasses.replace(report, features={loud.name: loud})
    monkeypatch.setattr(overview, "data_report", lambda _monitor: only_noise)
    page = Overview(monitor=monitor)
    render(page)
    assert page.kpis["max_psi"].value == loud.psi
    assert page.kpis["max_psi"].severity == NOT_SIGNIFICANT


def _strict(config):
    """Low PSI and KL levels: the report's severities move."""
    levels = {"psi": Level(0.002, 0.001), "prediction_kl": Level(0.001, 0.0005)}
    return dataclasses.replace(config, thresholds={**config.thresholds, **levels})


def test_a_threshold_change_moves_every_page_with_the_report(page_world, page_engine):
    """One threshold in the config: the report judges again and every page draws its judgement."""
    loose = Monitor(page_world, engine=page_engine)
    strict = Monitor(_strict(page_world), engine=page_engine)
    before, after = data_report(loose), data_report(strict)
    assert before.prediction_drift.severity != "critical"
    assert after.prediction_drift.severity == "critical"
    level = strict.config.thresholds["psi"]
    moved = []
    for name, f in after.features.items():
        if f.kind != "high_cardinality" and f.significant:
            assert f.severity == judgement.severity(f.psi, level), name
            moved += [name] if f.severity != before.features[name].severity else []
    assert moved
    for monitor, report in ((loose, before), (strict, after)):
        page = DriftMonitoring(monitor=monitor)
        render(page)
        table = page.drift_table.value.set_index("Feature")
        for name in table.index:
            severity = report.features[name].severity
            if severity != NOT_SIGNIFICANT:
                assert table.loc[name, "Severity"] == severity, name
        assert page.kl_card.severity == report.prediction_drift.severity
        overview = Overview(monitor=monitor)
        render(overview)
        assert overview.kpis["prediction_kl"].severity == report.prediction_drift.severity


def test_every_severity_a_page_draws_comes_from_app_severity(page_world, page_engine, monkeypatch):
    """Replace the one judgement: every severity the pages draw follows, so none is judged
    anywhere else (a page comparing a value with its thresholds would still say "ok")."""
    real = judgement.severity

    def everything_is_a_warning(value, level):
        return None if real(value, level) is None else "warning"

    monkeypatch.setattr(judgement, "severity", everything_is_a_warning)
    monitor = Monitor(page_world, engine=page_engine)
    report = data_report(monitor)
    judged = [f.severity for f in report.features.values() if f.severity is not None]
    assert set(judged) <= {"warning", NOT_SIGNIFICANT} and "warning" in judged
    overview = Overview(monitor=monitor)
    render(overview)
    assert overview.kpis["prediction_kl"].severity == "warning"
    assert overview.kpis["max_psi"].severity in ("warning", NOT_SIGNIFICANT)
    page = DriftMonitoring(monitor=monitor)
    render(page)
    assert set(page.drift_table.value["Severity"]) <= {"warning"} | {
        s for s in page.drift_table.value["Severity"] if s.startswith(NOT_SIGNIFICANT)
    }
    assert page.kl_card.severity == "warning"
    # the alerts are judged by the same rule: only warnings
    assert {a.severity for a in report.alerts} <= {"warning"}


def test_one_report_per_data_version_and_window_for_every_section(tmp_path, monkeypatch):
    """Drawing pages reads one report per (data version, window): every section shares it."""
    from app import report as report_module

    config = make_world(tmp_path)
    built = []
    real = report_module.full_report

    def counting(*args, **kwargs):
        built.append(kwargs.get("mlflow", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(report_module, "full_report", counting)
    monkeypatch.setattr(report_module, "REPORT_SECONDS", 3600.0)  # however slow the machine
    engine = Engine(config)
    monitor = Monitor(config, engine=engine)
    for page in (Overview, DriftMonitoring, ProductionData):
        render(page(monitor=monitor))
    assert built == [False]  # the drift sections' report (MLflow only checked for reachability)
    assert data_report(monitor) is data_report(Monitor(config, engine=engine))  # and sessions'
    monitor.all_rows()  # another window: another report
    data_report(monitor)
    assert len(built) == 2
    frame = make_world(tmp_path / "changed")  # new data: a new version, a new report
    write(tmp_path / "data/production/inputs.parquet", _inputs(frame).head(500))
    assert monitor.refresh()
    assert data_report(monitor).rows["inputs"] == 500
    assert len(built) == 3


def _inputs(config):
    import pandas as pd

    return pd.read_parquet(config.path("inputs"))
