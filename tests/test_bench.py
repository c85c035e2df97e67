"""``driftdeck bench`` on a tiny synthetic set: every step runs as a process, the JSON is sane."""

from __future__ import annotations

import json
import math
from argparse import Namespace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.bench import NUMERICAL, floor_sql, make_plan, run_bench, synthetic_set
from app.config import Config
from app.progress import quiet
from app.sources import Sources

ROWS = 20_000


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    synthetic_set(out, ROWS, quiet)
    return out


def args(out: Path, **changes) -> Namespace:
    values = {"rows": ROWS, "out": str(out), "naive_max_rows": None, "config": None, "repeats": 1}
    return Namespace(**{**values, **changes})


def test_synthetic_set_has_the_promised_columns_and_is_cached(bench_dir):
    config = synthetic_set(bench_dir, ROWS, quiet)  # cached: nothing is rebuilt
    folder = config.parent
    before = (folder / "production" / "inputs.parquet").stat().st_mtime_ns
    assert synthetic_set(bench_dir, ROWS, quiet) == config
    assert (folder / "production" / "inputs.parquet").stat().st_mtime_ns == before

    inputs = pq.ParquetFile(folder / "production" / "inputs.parquet")
    reference = pq.ParquetFile(folder / "reference" / "reference.parquet")
    predictions = pq.ParquetFile(folder / "production" / "predictions.parquet")
    assert inputs.metadata.num_rows == ROWS == predictions.metadata.num_rows
    assert reference.metadata.num_rows == ROWS // 10
    assert {"timestamp", "request_id", "address", *NUMERICAL} <= set(inputs.schema_arrow.names)
    assert "price_category" in reference.schema_arrow.names
    assert {"timestamp", "request_id", "prediction"} <= set(predictions.schema_arrow.names)

    plan = make_plan(config)
    kinds = list(plan.kinds.values())
    assert kinds.count("numerical") >= 10
    assert kinds.count("categorical") == 4
    assert plan.kinds["address"] == "high_cardinality"
    # Continuous values, not a handful of levels: the exact KS has real work to do.
    inputs_file = folder / "production" / "inputs.parquet"
    sql = f"SELECT count(DISTINCT latitude) FROM read_parquet('{inputs_file}')"  # noqa: S608
    distinct = duckdb.connect().execute(sql).fetchall()[0][0]
    assert distinct > ROWS * 0.9


def test_floor_decodes_every_used_column_without_statistics_shortcuts(bench_dir):
    plan = make_plan(synthetic_set(bench_dir, ROWS, quiet))
    sql = floor_sql(plan)
    for role, columns in plan.columns.items():
        for column in columns:
            assert f'"{column}"' in sql, (role, column)
    assert "request_id" not in sql  # the monitor never reads it
    for shortcut in ("min(", "max(", "count("):
        assert shortcut not in sql.lower()
    row = duckdb.connect().execute(sql).fetchall()[0]
    assert len(row) == sum(len(c) for c in plan.columns.values())
    # Sums over every value: positive, or NaN for columns holding NaN.
    assert all(value is not None and (math.isnan(value) or value > 0) for value in row)


def test_bench_measures_floor_monitor_and_naive(bench_dir, capsys):
    assert run_bench(args(bench_dir)) == 0
    result = json.loads((bench_dir / f"bench-{ROWS}.json").read_text(encoding="utf-8"))

    assert result["rows"] == {"production": ROWS, "reference": ROWS // 10, "predictions": ROWS}
    assert result["machine"]["cpu_count"] >= 1
    assert result["duckdb_version"] == duckdb.__version__
    steps = result["steps"]
    for name in ("floor", "monitor", "warm", "naive"):
        step = steps[name]
        assert 0 < step["seconds"] < 600, name
        assert 20 < step["peak_rss_mb"] < 8000, name  # a Python process with duckdb/pandas loaded
        assert "failed" not in step, step.get("failed")
    assert steps["floor"]["ratio_to_floor"] == 1.0
    assert steps["monitor"]["ratio_to_floor"] == pytest.approx(
        steps["monitor"]["seconds"] / steps["floor"]["seconds"]
    )
    assert steps["naive"]["ratio_to_floor"] == pytest.approx(
        steps["naive"]["seconds"] / steps["floor"]["seconds"]
    )

    verdict = result["verdict"]
    assert verdict["monitor_over_floor"]["value"] == steps["monitor"]["ratio_to_floor"]
    assert verdict["monitor_over_floor"]["met"] == (steps["monitor"]["ratio_to_floor"] <= 3.0)
    assert verdict["monitor_peak_rss_mb"]["met"] == (steps["monitor"]["peak_rss_mb"] <= 1500)
    assert isinstance(verdict["met"], bool)
    # The warm run reads the store the cold run filled: the same metrics, and faster.
    assert steps["warm"]["same_metrics"] is True
    assert steps["warm"]["seconds"] < steps["monitor"]["seconds"]
    assert verdict["warm_over_floor"]["value"] == steps["warm"]["ratio_to_floor"]
    # One new file of 1 % of the rows beside the set: the store's partials of the first day are
    # merged with the new file's, and the report equals a cold run's on the same files.
    append = steps["append"]
    assert 0 < append["seconds"] < 600 and 20 < append["peak_rss_mb"] < 8000
    assert append["differences_from_cold"] == []
    assert verdict["append_over_floor"]["value"] == append["ratio_to_floor"]

    table = capsys.readouterr().out
    for label in (
        "scan floor",
        "driftdeck monitor",
        "monitor again (warm)",
        "append (1% new file)",
        "naive pandas+scipy",
        "× floor",
    ):
        assert label in table

    # The monitor's time means something only if it computed every metric, and computed it right.
    check = result["cross_check"]
    assert check["compared"] >= 12 * 5 + 4 * 3 + 2
    if (result["monitor_problems"] or check["disagreements"]) and not engine_sees_parquet_nan(
        bench_dir
    ):
        pytest.xfail(
            "the engine's DuckDB views skip NaN in pyarrow-written parquet (statistics exclude NaN; "
            "duckdb/duckdb#25521): needs parquet_can_have_nan / can_have_nan = true; "
            f"{check['disagreements'][:2]}"
        )
    assert result["monitor_problems"] == []
    assert check["disagreements"] == []


def engine_sees_parquet_nan(folder: Path) -> bool:
    """Whether the engine's views find the NaN of a parquet file written by pyarrow."""
    path = folder / "nan-probe" / "probe.parquet"
    path.parent.mkdir(exist_ok=True)
    pq.write_table(pa.table({"x": [1.0, float("nan"), 3.0]}), path)
    sources = Sources(Config(base_dir=path.parent, reference=str(path), inputs=str(path)))
    try:
        return sources.fetchall('SELECT count(*) FROM "reference" WHERE isnan(x)')[0][0] == 1
    finally:
        sources.close()


def test_bench_skips_the_naive_way_above_its_size(bench_dir, capsys):
    assert run_bench(args(bench_dir, naive_max_rows=ROWS - 1)) == 0
    result = json.loads((bench_dir / f"bench-{ROWS}.json").read_text(encoding="utf-8"))
    assert result["steps"]["naive"]["skipped"].startswith("skipped")
    assert "seconds" not in result["steps"]["naive"]
    assert result["steps"]["monitor"]["seconds"] > 0
    assert "skipped" in capsys.readouterr().out
