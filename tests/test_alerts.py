"""Alert rules (docs/metrics.md) at, just under and just over every threshold."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from app.alerts import (
    alert_key,
    evaluate_alerts,
    recommendation,
    retraining_recommended,
    summarize_alerts,
)
from app.config import Config, KSAlert, Level

NUDGE = 1e-9
ALERT_KEYS = {"severity", "metric", "feature", "value", "threshold", "message", "recommendation"}


def report_with(metric: str, value) -> dict:
    """A report holding one measurement of ``metric`` (everything else absent)."""
    if metric == "psi":
        return {"features": {"area": {"kind": "numerical", "psi": value}}}
    if metric == "cardinality_ratio":
        return {
            "features": {
                "address": {
                    "kind": "high_cardinality",
                    "psi": None,
                    "cardinality": {"ratio": value},
                }
            }
        }
    if metric == "prediction_kl":
        return {"prediction_drift": {"kl": value, "js": 0.0}}
    return {"data_quality": {"features": {"district": {metric: value}}}}


METRICS = ["psi", "cardinality_ratio", "prediction_kl", "missing_share_increase", "unseen_share"]


def levels(config: Config, metric: str) -> Level:
    return config.thresholds[metric]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("warning_under", None),
        ("warning_at", "warning"),
        ("warning_over", "warning"),
        ("critical_under", "warning"),
        ("critical_at", "critical"),
        ("critical_over", "critical"),
    ],
)
def test_each_threshold_is_at_or_over(metric, where, expected):
    config = Config()
    level = levels(config, metric)
    base = level.warning if where.startswith("warning") else level.critical
    value = base + {"under": -NUDGE, "at": 0.0, "over": NUDGE}[where.split("_")[1]]
    alerts = evaluate_alerts(report_with(metric, value), config)
    if expected is None:
        assert alerts == []
        return
    assert len(alerts) == 1
    alert = alerts[0]
    assert set(alert) == ALERT_KEYS
    assert alert["severity"] == expected
    assert alert["metric"] == metric
    assert alert["value"] == value
    assert alert["threshold"] == (level.critical if expected == "critical" else level.warning)
    assert alert["message"] and "\n" not in alert["message"]
    assert alert["recommendation"]


def test_defaults_match_the_spec_table():
    th = Config().thresholds
    assert (th["psi"].critical, th["psi"].warning) == (0.25, 0.10)
    assert (th["cardinality_ratio"].critical, th["cardinality_ratio"].warning) == (1.3, 1.15)
    assert (th["prediction_kl"].critical, th["prediction_kl"].warning) == (0.15, 0.10)
    assert (th["missing_share_increase"].critical, th["missing_share_increase"].warning) == (
        0.10,
        0.05,
    )
    assert (th["unseen_share"].critical, th["unseen_share"].warning) == (0.05, 0.01)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("value", [None, math.nan, "n/a", True])
def test_missing_values_never_alert(metric, value):
    assert evaluate_alerts(report_with(metric, value), Config()) == []


def test_configured_levels_are_used():
    thresholds = dict(Config().thresholds, psi=Level(critical=0.5, warning=0.3))
    config = replace(Config(), thresholds=thresholds)
    assert evaluate_alerts(report_with("psi", 0.29), config) == []
    assert evaluate_alerts(report_with("psi", 0.3), config)[0]["severity"] == "warning"
    assert evaluate_alerts(report_with("psi", 0.5), config)[0]["severity"] == "critical"


def test_features_and_categorical_psi():
    report = {
        "features": {
            "district": {"kind": "categorical", "psi": 0.3},
            "rooms": {"kind": "numerical", "psi": 0.05},
            "address": {"kind": "high_cardinality", "psi": 9.9, "cardinality": {"ratio": 1.0}},
        }
    }
    alerts = evaluate_alerts(report, Config())
    # High-cardinality features are judged by cardinality growth, never by PSI.
    assert [(a["metric"], a["feature"], a["severity"]) for a in alerts] == [
        ("psi", "district", "critical")
    ]
    assert "district" in alerts[0]["message"] and "district" in alerts[0]["recommendation"]


def test_prediction_drift_alert_names_the_prediction():
    alert = evaluate_alerts(report_with("prediction_kl", 0.2), Config())[0]
    assert alert["feature"] == "prediction"
    assert "0.2" in alert["message"]


def ks_report(statistic, pvalue) -> dict:
    return {
        "features": {
            "area": {
                "kind": "numerical",
                "psi": 0.0,
                "ks": {"statistic": statistic, "pvalue": pvalue},
            }
        }
    }


def test_ks_alerts_only_when_enabled():
    assert evaluate_alerts(ks_report(0.5, 1e-9), Config()) == []


@pytest.mark.parametrize(
    ("statistic", "pvalue", "alerts"),
    [
        (0.1, 0.05 - NUDGE, 1),  # D at the level, p just under
        (0.1 + NUDGE, 0.01, 1),
        (0.1 - NUDGE, 0.01, 0),  # D just under
        (0.2, 0.05, 0),  # p at the level is not "p < 0.05"
        (0.2, 0.05 + NUDGE, 0),
        (None, 0.01, 0),
        (0.2, None, 0),
    ],
)
def test_ks_rule(statistic, pvalue, alerts):
    config = replace(Config(), ks_alert=KSAlert(enabled=True))
    found = evaluate_alerts(ks_report(statistic, pvalue), config)
    assert len(found) == alerts
    if found:
        assert found[0]["metric"] == "ks" and found[0]["threshold"] == 0.1
        assert found[0]["severity"] == "warning"


def test_ks_not_applied_to_categorical_features():
    config = replace(Config(), ks_alert=KSAlert(enabled=True))
    report = {
        "features": {
            "d": {"kind": "categorical", "psi": 0.0, "ks": {"statistic": 0.9, "pvalue": 0.0}}
        }
    }
    assert evaluate_alerts(report, config) == []


def test_data_quality_metrics_may_be_absent():
    report = {
        "data_quality": {
            "features": {"area": {"out_of_range_share": 0.9}, "district": {"unseen_share": 0.2}}
        }
    }
    alerts = evaluate_alerts(report, Config())
    assert [(a["metric"], a["feature"]) for a in alerts] == [("unseen_share", "district")]
    assert (
        evaluate_alerts(
            {"data_quality": None, "features": None, "prediction_drift": None}, Config()
        )
        == []
    )
    assert evaluate_alerts({}, Config()) == []


def full_report(psi_area=0.0, psi_district=0.0, ratio=1.0, kl=0.0) -> dict:
    return {
        "features": {
            "area": {"kind": "numerical", "psi": psi_area},
            "district": {"kind": "categorical", "psi": psi_district},
            "address": {"kind": "high_cardinality", "psi": None, "cardinality": {"ratio": ratio}},
        },
        "prediction_drift": {"kl": kl},
        "data_quality": {
            "features": {"district": {"missing_share_increase": 0.5, "unseen_share": 0.5}}
        },
    }


def test_critical_alerts_come_first():
    alerts = evaluate_alerts(full_report(psi_area=0.12, kl=0.2), Config())
    severities = [a["severity"] for a in alerts]
    assert severities == sorted(severities, key=lambda s: s != "critical")
    assert alerts[0]["metric"] == "prediction_kl"


@pytest.mark.parametrize(
    ("kwargs", "retrain"),
    [
        ({}, False),  # only data-quality criticals: they do not count
        ({"psi_area": 0.3}, False),  # one driver
        ({"psi_area": 0.3, "psi_district": 0.3}, True),
        ({"psi_area": 0.3, "ratio": 1.3}, True),
        ({"ratio": 1.3, "kl": 0.15}, True),
        ({"psi_area": 0.2, "psi_district": 0.2, "kl": 0.12}, False),  # warnings only
    ],
)
def test_retraining_rule(kwargs, retrain):
    alerts = evaluate_alerts(full_report(**kwargs), Config())
    assert retraining_recommended(alerts) is retrain
    summary = summarize_alerts(alerts)
    assert summary["retraining_recommended"] is retrain
    assert summary["total"] == len(alerts) == summary["critical"] + summary["warning"]
    assert ("Retraining recommended" in summary["recommendation"]) is retrain


def test_recommendation_texts():
    assert recommendation([]).startswith("No alerts")
    warning = evaluate_alerts(report_with("psi", 0.12), Config())
    assert "warning" in recommendation(warning)
    critical = evaluate_alerts(report_with("psi", 0.3), Config())
    assert "1 critical alert" in recommendation(critical)


def test_alert_key_ignores_severity():
    warning = evaluate_alerts(report_with("psi", 0.12), Config())[0]
    critical = evaluate_alerts(report_with("psi", 0.3), Config())[0]
    assert alert_key(warning) == alert_key(critical) == "psi:area"


def test_new_values_of_high_cardinality_features_are_judged_by_growth_only():
    report = {
        "features": {
            "address": {"kind": "high_cardinality", "psi": None, "cardinality": {"ratio": 1.0}}
        },
        "data_quality": {
            "features": {"address": {"unseen_share": 0.9, "missing_share_increase": 0.2}}
        },
    }
    alerts = evaluate_alerts(report, Config())
    assert [(a["metric"], a["feature"]) for a in alerts] == [("missing_share_increase", "address")]
