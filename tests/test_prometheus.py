"""Prometheus metrics: the monitoring window's report, parsed back with prometheus_client."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.prometheus import exposition
from tests.metrics_helpers import expected_samples, parse
from tests.worlds import make_world


def test_monitor_writes_the_metrics_of_its_json(tmp_path, capsys):
    make_world(tmp_path)
    config = tmp_path / "driftdeck.toml"
    config.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n')
    out = tmp_path / "textfile" / "driftdeck.prom"
    out.parent.mkdir()
    code = main(
        ["monitor", "--json", "--no-log", "--prometheus", str(out), "--config", str(config)]
    )
    assert code == 3
    report = json.loads(capsys.readouterr().out)
    got = parse(out.read_text())
    want = expected_samples(report)
    newest = {k: v for k, v in got.items() if k[0] == "driftdeck_newest_row_timestamp_seconds"}
    seconds = got.pop(("driftdeck_computation_seconds", ()))
    assert seconds > 0 and len(newest) == 2  # inputs and predictions have timestamps
    assert {k: v for k, v in got.items() if k not in newest} == pytest.approx(want, rel=1e-12)
    assert ("driftdeck_feature_psi", (("feature", "area"),)) in got
    assert ("driftdeck_cardinality_ratio", (("feature", "address"),)) in got
    # Not computable here (no labels, no confidences): absent, never 0.
    assert not any(k[0] in ("driftdeck_accuracy", "driftdeck_estimated_accuracy") for k in got)
    assert not list(out.parent.glob("*.tmp"))


def test_a_metric_that_cannot_be_computed_is_absent():
    text = exposition(
        {"features": {"x": {"psi": None, "js": 0.2}}, "prediction_drift": {"kl": None}}
    )
    got = parse(text.decode())
    assert got == {
        ("driftdeck_feature_js", (("feature", "x"),)): 0.2,
        ("driftdeck_alerts", (("severity", "critical"),)): 0.0,  # no alert is a count, 0
        ("driftdeck_alerts", (("severity", "warning"),)): 0.0,
    }
    assert "driftdeck_prediction_kl" not in text.decode()


def test_an_unwritable_textfile_is_one_line(tmp_path, capsys):
    make_world(tmp_path)
    config = tmp_path / "driftdeck.toml"
    config.write_text('[columns]\ntarget = "target"\n')
    code = main(
        [
            "monitor",
            "--no-log",
            "--prometheus",
            str(tmp_path / "no" / "such" / "x.prom"),
            "--config",
            str(config),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--prometheus" in err
