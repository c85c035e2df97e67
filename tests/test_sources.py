"""Messy data (README, Data contract): file layouts, timestamp flavours, tiny and broken files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest

from app.config import Columns, Config
from app.engine import Engine
from app.report import build_report
from app.sources import Sources
from app.window import Window
from tests.worlds import write


def _frame(n: int, start=datetime(2026, 1, 1)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": [start + timedelta(hours=i) for i in range(n)],
            "x": [float(i % 7) for i in range(n)],
            "c": [["a", "b", "c"][i % 3] for i in range(n)],
        }
    )


def _config(root, **data) -> Config:
    return Config(base_dir=root, **data)


def test_directory_glob_and_hive_layouts(tmp_path):
    for day in range(3):
        write(
            tmp_path / f"logs/date=2026-01-0{day + 1}/part.parquet",
            _frame(5, datetime(2026, 1, day + 1)),
        )
    write(tmp_path / "ref.parquet", _frame(10))
    for location in ("logs", "logs/*/*.parquet", "logs/**/*.parquet"):
        sources = Sources(_config(tmp_path, reference="ref.parquet", inputs=location))
        assert sources.available("inputs"), location
        assert sources.fetchall("SELECT count(*) FROM inputs")[0][0] == 15
        assert len(sources.state("inputs").files) == 3


@pytest.mark.parametrize(
    "flavour",
    ["timestamp_us", "timestamp_ns", "timestamptz", "iso_string", "iso_string_offset"],
)
def test_timestamp_flavours_become_utc(tmp_path, flavour):
    base = datetime(2026, 1, 1, 12)
    values = [base + timedelta(hours=i) for i in range(4)]
    if flavour == "timestamp_us":
        col = pa.array(values, pa.timestamp("us"))
    elif flavour == "timestamp_ns":
        col = pa.array(values, pa.timestamp("ns"))
    elif flavour == "timestamptz":
        aware = [
            v.replace(tzinfo=timezone(timedelta(hours=2))) + timedelta(hours=2) for v in values
        ]
        col = pa.array(aware, pa.timestamp("us", tz="+02:00"))
    elif flavour == "iso_string":
        col = pa.array([v.isoformat() for v in values])
    else:
        col = pa.array([(v + timedelta(hours=2)).isoformat() + "+02:00" for v in values])
    write(tmp_path / "in.parquet", pa.table({"timestamp": col, "x": [1.0, 2.0, 3.0, 4.0]}))
    sources = Sources(_config(tmp_path, inputs="in.parquet"))
    assert sources.schema("inputs")["timestamp"] == "TIMESTAMP"
    got = [r[0] for r in sources.fetchall("SELECT timestamp FROM inputs ORDER BY 1")]
    assert got == values


def test_broken_files_are_skipped_and_named(tmp_path):
    write(tmp_path / "logs/good.parquet", _frame(6))
    (tmp_path / "logs/empty.parquet").write_bytes(b"")
    (tmp_path / "logs/fake.parquet").write_text("id,x\n1,2\n")
    good = (tmp_path / "logs/good.parquet").read_bytes()
    (tmp_path / "logs/truncated.parquet").write_bytes(good[: len(good) // 2])
    before = {p.name: p.read_bytes() for p in (tmp_path / "logs").iterdir()}
    sources = Sources(_config(tmp_path, inputs="logs"))
    state = sources.state("inputs")
    assert len(state.files) == 1
    assert sorted(s.split("/")[-1].split(" ")[0] for s in state.skipped) == [
        "empty.parquet",
        "fake.parquet",
        "truncated.parquet",
    ]
    assert sources.fetchall("SELECT count(*) FROM inputs")[0][0] == 6
    assert {p.name: p.read_bytes() for p in (tmp_path / "logs").iterdir()} == before


def test_missing_file_is_reported_not_raised(tmp_path):
    sources = Sources(_config(tmp_path, inputs="nope.parquet"))
    assert not sources.available("inputs")
    assert "nope.parquet" in sources.state("inputs").problem


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_tiny_production_gives_a_report(tmp_path, rows):
    write(tmp_path / "ref.parquet", _frame(50))
    write(
        tmp_path / "in.parquet",
        _frame(rows) if rows else pa.Table.from_pandas(_frame(1)).slice(0, 0),
    )
    config = _config(
        tmp_path, reference="ref.parquet", inputs="in.parquet", columns=Columns(target=None)
    )
    report = build_report(Engine(config), Window(), config)
    assert report["rows"]["inputs"] == rows
    x = report["features"]["x"]
    if rows == 0:
        assert x["psi"] is None and x["reason"]
    else:
        assert x["psi"] is not None and x["ks"]["statistic"] is not None


def test_data_version_changes_when_a_file_lands(tmp_path):
    write(tmp_path / "logs/a.parquet", _frame(5))
    write(tmp_path / "ref.parquet", _frame(5))
    engine = Engine(_config(tmp_path, reference="ref.parquet", inputs="logs"))
    assert engine.window_rows(Window())["inputs"] == 5
    assert not engine.refresh()
    write(tmp_path / "logs/b.parquet", _frame(7))
    assert engine.refresh()
    assert engine.window_rows(Window())["inputs"] == 12


def test_reference_with_subset_of_columns(tmp_path):
    prod = _frame(30)
    prod["extra"] = 1.5
    write(tmp_path / "in.parquet", prod)
    write(tmp_path / "ref.parquet", _frame(30).drop(columns=["c"]))
    config = _config(tmp_path, reference="ref.parquet", inputs="in.parquet")
    report = build_report(Engine(config), Window(), config)
    assert report["features"]["c"]["psi"] is None
    assert "only in production" in report["features"]["c"]["reason"]
    assert report["features"]["x"]["psi"] is not None
    assert set(report["data_quality"]["schema"]["only_in_production"]) == {"c", "extra"}


def test_real_nan_counts_as_missing(tmp_path):
    """pyarrow writes NaN without NaN statistics; DuckDB must still see it (duckdb#25521)."""
    import numpy as np

    values = np.array([1.0, np.nan, 3.0, np.nan, 5.0])
    write(tmp_path / "ref.parquet", pa.table({"x": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}))
    write(tmp_path / "in.parquet", pa.table({"x": values}))
    config = _config(tmp_path, reference="ref.parquet", inputs="in.parquet")
    report = build_report(Engine(config), Window(), config)
    summary = report["features"]["x"]["summary"]["production"]
    assert summary["missing"] == 2
    assert summary["max"] == 5.0 and summary["mean"] == 3.0
    assert report["features"]["x"]["ks"]["statistic"] is not None


@pytest.mark.parametrize("change", ["removed", "rewritten"])
def test_a_file_that_changes_under_a_report_is_read_again(tmp_path, change):
    """A logger rotating or rewriting a file between the engine's look and its queries: the
    report is computed over the files as they are now, not refused."""
    from app.report import full_report

    for name in ("a", "b"):
        write(tmp_path / f"logs/{name}.parquet", _frame(5))
    write(tmp_path / "ref.parquet", _frame(5))
    config = _config(tmp_path, reference="ref.parquet", inputs="logs", predictions="none.parquet")
    engine = Engine(config)
    assert engine.sources.fetchall("SELECT count(*) FROM inputs")[0][0] == 10
    if change == "removed":
        (tmp_path / "logs/b.parquet").unlink()
    else:  # half of a new version: no footer yet
        (tmp_path / "logs/b.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    report = full_report(engine, Window(), config, mlflow=False)
    assert report["rows"]["inputs"] == 5
    inputs = next(s for s in report["status"] if s["component"] == "inputs")
    assert inputs["files"] == 1
