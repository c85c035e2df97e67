"""Per-file partial aggregates: any split of the same rows into files, any append or removal,
gives the report of one file; only new files are scanned; killed and concurrent writers are safe."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import exact_grid
from app.engine import Engine
from app.report import full_report
from app.report_json import to_json
from app.report_types import as_report
from app.sources import Sources
from app.window import Window
from tests.worlds import assert_close, make_world, start_monitor, write

FLOAT_SUMS = ("mean", "std", "std_pop", "wasserstein")
"""Metrics computed from float sums, equal to 1e-9 relative (docs/metrics.md); every other
number must agree to 1e-12 relative (counts, PSI, KS, chi², JS, KL, distinct counts, quantiles)."""


def _metrics(report: dict) -> dict:
    return json.loads(
        to_json({k: v for k, v in report.items() if k not in ("generated_at", "status")})
    )


def _assert_same_metrics(a: object, b: object) -> None:
    assert_close(a, b, rel=1e-12, abs=1e-15, float_sums=FLOAT_SUMS)


def _report(config, window: Window | None = None) -> tuple[dict, Engine]:
    engine = Engine(config)
    chosen = engine.monitoring_window() if window is None else window
    # As ``monitor --json`` prints it: the typed report, with its judgements.
    typed = as_report(full_report(engine, chosen, config, mlflow=False), config)
    return _metrics(typed.as_dict()), engine


def _with_level(config):
    """The world with one more feature, ``level``: undrifted, on a grid that one far reference
    value makes coarse, so that many buckets hold values of both sides and the ECDFs cross inside
    them (the exact refinements have work to do)."""
    rng = np.random.default_rng(7)
    for role in ("reference", "inputs"):
        frame = pd.read_parquet(config.path(role))
        frame["level"] = np.round(rng.normal(100, 20, len(frame)), 3)
        if role == "reference":
            frame.loc[0, "level"] = 1e5
        write(Path(config.path(role)), frame)
    return config


def _split(root: Path, config, cuts: list[int]):
    """The world's inputs and predictions as files cut at ``cuts`` (row numbers); the config
    reading the folders, and the parts of each role."""
    out = {}
    for role in ("inputs", "predictions"):
        frame = pd.read_parquet(config.path(role))
        edges = [0, *sorted(cuts), len(frame)]
        out[role] = [frame.iloc[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    return out


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=4999), min_size=1, max_size=4, unique=True),
    removed=st.integers(min_value=0, max_value=4),
    whole=st.booleans(),
)
def test_any_split_append_and_removal_gives_the_one_file_report(
    tmp_path_factory, cuts, removed, whole
):
    """The same rows in random files, in the monitoring window (which cuts files) and all rows,
    in either order on one store: cold, warm and incremental reports equal the report of the rows
    in one file, every exact metric to 1e-12 (means, stds and Wasserstein to 1e-9)."""
    root = tmp_path_factory.mktemp("split")
    single = _with_level(make_world(root / "single"))
    config = _with_level(make_world(root / "files"))
    parts = _split(root, config, cuts)
    for role in ("inputs", "predictions"):
        Path(config.path(role)).unlink()
    config = replace(config, inputs="data/production/in", predictions="data/production/pred")
    folders = {
        "inputs": root / "files/data/production/in",
        "predictions": root / "files/data/production/pred",
    }

    def put(i: int) -> None:
        for role, folder in folders.items():
            write(folder / f"part-{i}.parquet", parts[role][i])

    for i in range(len(parts["inputs"]) - 1):
        put(i)
    # Both windows on one store: the monitoring window cuts files (their rows in it are read),
    # all rows holds every file whole.
    windows = [Window(), Engine(single).monitoring_window()]
    if not whole:
        windows.reverse()

    def one_file() -> list[dict]:
        return [_report(replace(single, store=None), w)[0] for w in windows]

    for window in windows:  # a first run on all files but the last fills the store
        _report(config, window)
    put(len(parts["inputs"]) - 1)  # the last file lands
    expected = one_file()
    for window, wanted in zip(windows, expected, strict=True):
        incremental, _ = _report(config, window)
        _assert_same_metrics(incremental, wanted)
        warm, warm_engine = _report(config, window)
        assert sum(warm_engine.computations.values()) == 0
        assert warm == incremental
        cold, _ = _report(replace(config, store=None), window)
        _assert_same_metrics(cold, wanted)
    # A file is removed: its partials drop out; the report is that of the remaining rows.
    gone = removed % len(parts["inputs"])
    for folder in folders.values():
        (folder / f"part-{gone}.parquet").unlink()
    rest = {
        role: pd.concat([p for i, p in enumerate(ps) if i != gone]) for role, ps in parts.items()
    }
    write(Path(single.path("inputs")), rest["inputs"])
    write(Path(single.path("predictions")), rest["predictions"])
    for window, wanted in zip(windows, one_file(), strict=True):
        _assert_same_metrics(_report(config, window)[0], wanted)


def _inputs_in_two_files(tmp_path: Path, config) -> tuple:
    """The inputs split in three parts, the first two as the files of a folder the config
    reads (the third left to append): the config, the folder and the parts."""
    parts = _split(tmp_path, config, [2000, 4000])
    Path(config.path("inputs")).unlink()
    config = replace(config, inputs="data/production/in")
    folder = tmp_path / "data/production/in"
    for i in range(2):
        write(folder / f"part-{i}.parquet", parts["inputs"][i])
    return config, folder, parts


def test_only_a_new_file_is_scanned_for_the_profile(tmp_path, monkeypatch):
    config = make_world(tmp_path)
    config, folder, parts = _inputs_in_two_files(tmp_path, config)
    _report(config, Window())
    write(folder / "part-2.parquet", parts["inputs"][2])
    scanned: list[str] = []
    for how in ("fetchrecords", "fetchnumpy", "fetchall"):
        original = getattr(Sources, how)

        def spy(self, sql, params=None, original=original):
            if isinstance(params, dict) and "partial_file" in params:
                scanned.append(Path(params["partial_file"]).name)
            return original(self, sql, params)

        monkeypatch.setattr(Sources, how, spy)
    _report(config, Window())
    assert scanned and set(scanned) == {"part-2.parquet"}, scanned


def test_merged_buckets_equal_the_buckets_of_one_scan(tmp_path):
    """Counts, smallest and largest values and first positions merge exactly; position sums to
    rounding."""
    from app import partials

    config = make_world(tmp_path)
    parts = _split(tmp_path, config, [1234, 3000])
    Path(config.path("inputs")).unlink()
    folder = tmp_path / "data/production/in"
    for i, part in enumerate(parts["inputs"]):
        write(folder / f"part-{i}.parquet", part)
    engine = Engine(replace(config, inputs="data/production/in", store=None))
    reference = engine.reference_profile()
    profile = reference["area"]["exact_profile"]
    features = [f for f in engine.roles().features if f.name == "area"]
    paths = [s.path for s in engine.sources.state("inputs").files]
    found = partials.scan_files(
        engine.sources,
        "inputs",
        paths,
        [(features[0], reference["area"]["mean"])],
        [],
        reference,
        "TRUE",
        {},
    )
    merged = partials.merge([found[p] for p in paths], reference, ["area"], [])
    whole = exact_grid.production_buckets(
        engine.sources.fetchall,
        profile,
        exact_grid.Side("inputs", "area"),
        engine.sources.fetchnumpy,
    )
    got = merged.buckets["area"]
    for name in ("counts", "lows", "highs", "first_positions"):
        assert np.array_equal(getattr(got, name), getattr(whole, name)), name
    assert np.allclose(got.position_sums, whole.position_sums, rtol=1e-12, atol=1e-9)
    assert merged.present["area"] == int(whole.counts.sum())


def _folder_world(root: Path):
    config = make_world(root)
    parts = _split(root, config, [1500, 3000, 4500])
    Path(config.path("inputs")).unlink()
    folder = root / "data/production/in"
    for i, part in enumerate(parts["inputs"][:-1]):
        write(folder / f"part-{i}.parquet", part)
    (root / "driftdeck.toml").write_text(
        '[data]\ninputs = "data/production/in"\n'
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
    )
    return replace(config, inputs="data/production/in"), folder, parts["inputs"][-1]


def test_two_processes_append_to_one_store_at_once(tmp_path):
    config, folder, last = _folder_world(tmp_path)
    _report(config)
    write(folder / "part-3.parquet", last)  # both processes find the same new file
    runs = [start_monitor(tmp_path / "driftdeck.toml") for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [3, 3], [err for _, err in outputs]
    cold, _ = _report(replace(config, store=None))
    for out, _err in outputs:
        _assert_same_metrics(_metrics(json.loads(out)), cold)
    assert not list((tmp_path / ".driftdeck").rglob("*.tmp"))


@pytest.mark.parametrize("after", [0.3, 1.0, 2.0])
def test_a_monitor_killed_while_it_keeps_partials_leaves_a_valid_store(tmp_path, after):
    """A monitor killed at some point of its run (while it computes or writes partials): the next
    run reads only what was written whole, and equals a run without the store."""
    config, folder, last = _folder_world(tmp_path)
    _report(config)
    write(folder / "part-3.parquet", last)
    run = start_monitor(tmp_path / "driftdeck.toml")
    time.sleep(after)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate()
    again, _ = _report(config)
    cold, _ = _report(replace(config, store=None))
    _assert_same_metrics(again, cold)


def test_an_append_refines_exact_metrics_without_reading_an_old_file(tmp_path, monkeypatch):
    """KS, Wasserstein and quantiles of a continuous feature after a new file: the buckets they
    refine are read from values kept per file (only the new file is read), and equal a cold run."""
    config = _with_level(make_world(tmp_path))
    config, folder, parts = _inputs_in_two_files(tmp_path, config)
    Engine(config).production_profile(Window())
    write(folder / "part-2.parquet", parts["inputs"][2])
    reads: list[tuple[str, dict]] = []
    for how in ("fetchrecords", "fetchnumpy", "fetchall"):
        original = getattr(Sources, how)

        def spy(self, sql, params=None, original=original):
            reads.append((sql, params if isinstance(params, dict) else {}))
            return original(self, sql, params)

        monkeypatch.setattr(Sources, how, spy)
    incremental = Engine(config).production_profile(Window())["level"]
    level = [(sql, params) for sql, params in reads if '"level"' in sql]
    assert level, "the new file's partials read level"
    assert all(
        Path(params.get("partial_file", "")).name == "part-2.parquet" for _sql, params in level
    ), [getattr(sql, "name", sql[:40]) for sql, _ in level]
    assert "column_values" in {getattr(sql, "name", None) for sql, _ in level}
    assert incremental["exact"].refined_buckets > 0  # the refinement had work to do
    monkeypatch.undo()
    cold = Engine(replace(config, store=None)).production_profile(Window())["level"]
    for name in ("ks_statistic", "ks_pvalue"):
        assert getattr(incremental["exact"], name) == getattr(cold["exact"], name)
    assert incremental["exact"].wasserstein == pytest.approx(cold["exact"].wasserstein, rel=1e-9)
    for name in ("p25", "median", "p75", "bins", "distinct"):
        assert incremental[name] == cold[name], name
