"""Silences: a muted alert stays visible, marked, and counts in no exit code or webhook."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from app.cli import main
from app.config import load_config
from app.errors import DriftdeckError
from tests.worlds import make_world


def _config(tmp_path, silences: str = "") -> str:
    make_world(tmp_path)
    path = tmp_path / "driftdeck.toml"
    path.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n' + silences)
    return str(path)


def _monitor(config: str, capsys) -> tuple[int, dict]:
    code = main(["monitor", "--json", "--no-log", "--config", config])
    return code, json.loads(capsys.readouterr().out)


def test_silencing_every_critical_alert_exits_0_and_lists_them_apart(tmp_path, capsys):
    config = _config(tmp_path)
    code, report = _monitor(config, capsys)
    critical = [a for a in report["alerts"] if a["severity"] == "critical"]
    assert code == 3 and critical and report["silenced"] == []
    until = (datetime.now() + timedelta(days=2)).replace(microsecond=0).isoformat()
    silences = "".join(
        f'[[silences]]\nmetric = "{a["metric"]}"\nfeature = "{a["feature"]}"\n'
        f'until = "{until}"\nreason = "known: new district opening"\n'
        for a in critical
    )
    config = _config(tmp_path, silences)
    code, muted = _monitor(config, capsys)
    assert code == 0
    assert [a for a in muted["alerts"] if a["severity"] == "critical"] == []
    assert {(a["metric"], a["feature"]) for a in muted["silenced"]} == {
        (a["metric"], a["feature"]) for a in critical
    }
    assert all(a["silenced"]["reason"] == "known: new district opening" for a in muted["silenced"])
    assert muted["retraining_recommended"] is False


def test_an_ended_silence_or_another_feature_mutes_nothing(tmp_path, capsys):
    code, report = _monitor(_config(tmp_path), capsys)
    alert = next(a for a in report["alerts"] if a["severity"] == "critical")
    ended = f'[[silences]]\nmetric = "{alert["metric"]}"\nuntil = 2020-01-01T00:00:00Z\n'
    other = f'[[silences]]\nmetric = "{alert["metric"]}"\nfeature = "nope"\nuntil = 2999-01-01\n'
    code, report = _monitor(_config(tmp_path, ended + other), capsys)
    assert code == 3 and report["silenced"] == []


def test_a_silence_without_feature_mutes_the_metric_everywhere(tmp_path, capsys):
    code, report = _monitor(
        _config(tmp_path, '[[silences]]\nmetric = "psi"\nuntil = 2999-01-01\n'), capsys
    )
    assert all(a["metric"] != "psi" for a in report["alerts"])
    assert any(a["metric"] == "psi" for a in report["silenced"])


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[silences]]\nuntil = 2999-01-01\n", "silences[0].metric"),
        ('[[silences]]\nmetric = "psi"\n', "silences[0].until"),
        ('[[silences]]\nmetric = "psi"\nuntil = "soon"\n', "silences[0].until"),
        ('[[silences]]\nmetric = "psi"\nuntil = 2999-01-01\nwhy = "x"\n', "silences[0].why"),
        ('silences = "all"\n', "silences"),
    ],
)
def test_a_bad_silence_names_its_key(tmp_path, text, key):
    path = tmp_path / "driftdeck.toml"
    path.write_text(text)
    with pytest.raises(DriftdeckError) as err:
        load_config(path)
    assert key in str(err.value) and "\n" not in str(err.value)
