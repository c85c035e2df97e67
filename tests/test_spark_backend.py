"""The Spark backend against DuckDB on the same held-out files (Spark in local mode, one
session for the whole run): the same ``monitor --json`` and pages that build."""

from __future__ import annotations

import json
import math

import pytest

from app.cli import main
from app.config import load_config
from app.monitor import Monitor
from app.pages import PAGES, build_page
from tests.page_helpers import render, shown_text
from tests.spark_worlds import messy_world

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark")

TIMING = ("generated_at", "age_seconds", "computation_seconds", "seconds")
"""Fields that tell when or how fast, not what: they differ between any two runs."""

LOOSE = ("mean", "std", "wasserstein")
"""Floats summed in an order the engine does not choose: equal to 1e-9 relative."""


def assert_same(a: object, b: object, path: str = "") -> None:
    """Counts, bins, KS statistics, distinct counts and alerts identical; floats within 1e-12
    relative (1e-9 for means, standard deviations and Wasserstein distances)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            if key not in TIMING:
                assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not (math.isnan(a) and math.isnan(b)):
        loose = any(word in path.lower() for word in LOOSE)
        assert a == pytest.approx(b, rel=1e-9 if loose else 1e-12, abs=0 if a else 1e-300), path
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark-world")
    duck = messy_world(root)
    spark = root / "spark.toml"
    spark.write_text(
        duck.read_text(encoding="utf-8").replace("[engine]\n", '[engine]\nbackend = "spark"\n')
        + '[engine.spark]\nmaster = "local[2]"\n',
        encoding="utf-8",
    )
    return duck, spark


def _monitor(config, capsys) -> tuple[int, dict]:
    code = main(["monitor", "--json", "--no-log", "--config", str(config)])
    return code, json.loads(capsys.readouterr().out)


def test_monitor_json_is_the_same_on_spark(configs, capsys):
    duck, spark = configs
    want_code, want = _monitor(duck, capsys)
    code, got = _monitor(spark, capsys)
    assert code == want_code
    assert want["features"], "the world has features to compare"
    assert any(f.get("ks") for f in want["features"].values()), "KS is compared"
    assert_same(want, got)


def test_the_six_pages_build_on_spark(configs):
    _, spark = configs
    monitor = Monitor(load_config(spark))  # the engine the monitor test warmed
    assert monitor.engine.sources.backend.name == "spark"
    for slug in PAGES:
        text = shown_text(render(build_page(slug, monitor)))
        assert text.strip(), slug
        assert "Traceback" not in text, slug
