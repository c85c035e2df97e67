"""Every case of the bad-input corpus through ``driftdeck monitor --json --no-log``."""

from __future__ import annotations

import hashlib
import json

import pytest

from app.cli import main
from tests.bad_inputs import CASES, ERRORS


def _hashes(root):
    """Every file of the user's (Driftdeck's own result store aside)."""
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".driftdeck" not in p.relative_to(root).parts
    }


@pytest.mark.parametrize("name", list(CASES))
def test_case_gives_json_or_one_line(name, tmp_path, capsys):
    config = CASES[name](tmp_path)
    before = _hashes(tmp_path)
    code = main(["monitor", "--json", "--no-log", "--config", str(config)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert _hashes(tmp_path) == before, "the user's files must stay byte-identical"
    if name in ERRORS:
        assert code == 2
        assert out == ""
        assert len(err.strip().splitlines()) == 1 and ERRORS[name] in err
        return
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1
        assert "parquet" in err  # names the file
        return
    assert code in (0, 3), err
    report = json.loads(out)
    assert {"features", "status", "alerts", "rows"} <= set(report)
    if name != "healthy":
        problems = [s for s in report["status"] if not s["ok"]]
        assert problems or report["data_quality"]["schema"] != {
            "only_in_reference": [],
            "only_in_production": [],
            "type_changes": [],
        }


def test_hostile_names_are_measured(tmp_path, capsys):
    main(
        ["monitor", "--json", "--no-log", "--config", str(CASES["hostile column names"](tmp_path))]
    )
    features = json.loads(capsys.readouterr().out)["features"]
    for name in (
        "a b",
        'it\'s "q"',
        "ünïcode ☃",
        "select",
        'x"; DROP TABLE reference; --',
        "{format}",
    ):
        assert features[name]["psi"] is not None, name


def test_xss_values_stay_data(tmp_path, capsys):
    main(
        [
            "monitor",
            "--json",
            "--no-log",
            "--config",
            str(CASES["HTML and JS in category values"](tmp_path)),
        ]
    )
    unseen = json.loads(capsys.readouterr().out)["features"]["colour"]["summary"]["production"][
        "unseen"
    ]
    assert "<script>alert(1)</script>" in {u["value"] for u in unseen}


def test_an_unreadable_only_file_is_named_in_the_error(tmp_path, capsys):
    config = CASES["truncated parquet"](tmp_path)
    code = main(["monitor", "--json", "--no-log", "--config", str(config)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")  # no production inputs left: nothing to compare
    assert "inputs.parquet is not readable parquet" in err and err.count("\n") == 1


def test_a_file_damaged_behind_its_footer_is_skipped_and_the_rest_used(tmp_path, capsys):
    config = CASES["data damaged behind a sound footer"](tmp_path)
    code = main(["monitor", "--json", "--no-log", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code in (0, 3) and err == ""
    report = json.loads(out)
    assert report["rows"]["inputs"] == 600  # a.parquet and c.parquet
    inputs = next(s for s in report["status"] if s["component"] == "inputs")
    assert "b.parquet is not readable parquet" in inputs["message"]
