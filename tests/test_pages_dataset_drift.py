"""Dataset drift reads the same on the Overview and on the Alerts page: one severity rule
(``app.severity``, carried by the report), one number format (``app.theme``)."""

from __future__ import annotations

import pytest

from app import theme
from app.pages.alerts import Alerts
from app.pages.base import data_report
from app.pages.overview import Overview
from app.report_types import DatasetDrift
from tests.page_helpers import render


def test_some_drifted_features_are_a_warning_on_both_pages(monitor):
    drift = data_report(monitor)["dataset_drift"]
    # The small world: some features drift, too few for dataset drift.
    assert 0 < drift["drifted_features"] and not drift["drifted"]
    overview, alerts = Overview(monitor=monitor), Alerts(monitor=monitor)
    render(overview)
    render(alerts)
    cards = overview.kpis["dataset_drift"], alerts.summary_cards["dataset_drift"]
    assert [card.severity for card in cards] == ["warning", "warning"]
    assert [card.text for card in cards] == [theme.format_share(drift["share"])] * 2
    assert [card.value for card in cards] == [drift["share"]] * 2


@pytest.mark.parametrize(
    ("drift", "severity"),
    [
        ({"judged_features": 0, "drifted_features": 0, "drifted": False, "share": None}, None),
        ({"judged_features": 9, "drifted_features": 0, "drifted": False, "share": 0.0}, "ok"),
        (
            {"judged_features": 9, "drifted_features": 2, "drifted": False, "share": 2 / 9},
            "warning",
        ),
        ({"judged_features": 4, "drifted_features": 2, "drifted": True, "share": 0.5}, "critical"),
    ],
)
def test_dataset_drift_severity(drift, severity):
    assert DatasetDrift.from_dict(drift).severity == severity
