"""The result store: warm runs equal cold runs, shared by processes, safe from killed writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine import Engine
from app.report import full_report
from app.report_json import to_json
from app.store import MISSING, Store
from app.window import Window
from tests.worlds import assert_close, make_world, start_monitor, write


def _report(config) -> tuple[dict, Engine]:
    engine = Engine(config)
    report = full_report(engine, engine.monitoring_window(), config, mlflow=False)
    return report, engine


def _metrics(report: dict) -> str:
    """What must be identical between two runs on the same data, as the JSON prints it."""
    return to_json({k: v for k, v in report.items() if k not in ("generated_at", "status")})


def _store_lines(report: dict) -> list[dict]:
    return [s for s in report["status"] if s["component"] == "store"]


def test_a_warm_run_reads_every_result_back_and_equals_the_cold_run(tmp_path):
    config = make_world(tmp_path)
    cold, cold_engine = _report(config)
    assert cold_engine.computations["production_profile"] == 1
    warm, warm_engine = _report(config)  # a new process would build a new Engine like this
    assert sum(warm_engine.computations.values()) == 0
    assert _metrics(warm) == _metrics(cold)
    assert "0 computed" in _store_lines(warm)[-1]["message"]
    assert (tmp_path / ".driftdeck" / "results" / "FORMAT").is_file()


def test_new_files_are_computed_and_equal_a_run_without_the_store(tmp_path):
    config = make_world(tmp_path)
    inputs = Path(config.path("inputs"))
    frame = pd.read_parquet(inputs)
    # Daily files in a folder, as a logger writes them.
    folder = tmp_path / "data/production/inputs"
    for day, part in frame.groupby(frame["timestamp"].dt.date):
        write(folder / f"{day}.parquet", part)
    inputs.unlink()
    config = replace(config, inputs="data/production/inputs")
    first, _ = _report(config)
    later = frame.tail(300).assign(timestamp=lambda f: f["timestamp"] + pd.Timedelta(days=2))
    write(folder / "later.parquet", later)
    incremental, engine = _report(config)
    assert engine.computations["production_profile"] == 1  # the new data version is computed
    cold, _ = _report(replace(config, store=None))
    assert_close(json.loads(_metrics(incremental)), json.loads(_metrics(cold)))
    assert _metrics(incremental) != _metrics(first)
    assert not (tmp_path / "nowhere").exists()


def test_a_damaged_entry_or_a_foreign_store_is_rebuilt_and_said(tmp_path):
    config = make_world(tmp_path)
    cold, _ = _report(config)
    store = tmp_path / ".driftdeck" / "results"
    (tmp_path / ".driftdeck" / "notifications.json").write_text("{}")  # other state: kept
    for name in ("report", "production_profile"):  # the report is kept too: damage both
        entry = next((store / name).glob("*.pkl"))
        entry.write_bytes(entry.read_bytes()[:100])
    damaged, engine = _report(config)
    assert engine.computations["report"] == engine.computations["production_profile"] == 1
    assert _metrics(damaged) == _metrics(cold)
    assert any("damaged" in s["message"] and not s["ok"] for s in _store_lines(damaged))

    (store / "FORMAT").write_text("driftdeck store 0 0.0.1\n")
    rebuilt, engine = _report(config)
    assert engine.computations["reference_profile"] == 1
    assert _metrics(rebuilt) == _metrics(cold)
    assert any("another Driftdeck version" in s["message"] for s in _store_lines(rebuilt))
    assert (tmp_path / ".driftdeck" / "notifications.json").read_text() == "{}"


def test_a_store_that_cannot_be_written_is_said_and_the_run_goes_on(tmp_path):
    config = make_world(tmp_path)
    (tmp_path / "a file").write_text("not a folder")
    report, _ = _report(replace(config, store="a file/store"))
    lines = _store_lines(report)
    assert any("not writable" in s["message"] and not s["ok"] for s in lines)
    assert report["features"]["area"]["psi"] is not None


def test_store_false_writes_nothing(tmp_path):
    config = replace(make_world(tmp_path), store=None)
    report, engine = _report(config)
    assert engine.store is None and _store_lines(report) == []
    assert not (tmp_path / ".driftdeck").exists()


def test_two_processes_share_one_store_at_once(tmp_path):
    make_world(tmp_path)
    config_file = tmp_path / "driftdeck.toml"
    config_file.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n')
    runs = [start_monitor(config_file), start_monitor(config_file)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [3, 3], [err for _, err in outputs]
    assert all(err == "" for _, err in outputs)
    first, second = (json.loads(_metrics(json.loads(out))) for out, _ in outputs)
    assert_close(first, second)
    third = start_monitor(config_file)
    out, _ = third.communicate(timeout=300)
    assert_close(json.loads(_metrics(json.loads(out))), first)
    assert not list((tmp_path / ".driftdeck").rglob("*.tmp"))


def test_a_writer_killed_mid_write_leaves_nothing_read_as_valid(tmp_path):
    """A process killed while it writes a result (here: stopped inside fsync, before the rename)
    leaves a temporary file only; the next process neither reads it nor trips on it."""
    root = tmp_path / "store"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, time
                from app.store import Store
                store = Store({str(root)!r})
                os.fsync = lambda fd: time.sleep(60)  # hold the write open
                store.put("profile", ("key",), list(range(100000)))
                """
            ),
        ]
    )
    deadline = time.monotonic() + 60
    while not list(root.glob("results/profile/*.tmp")):
        assert time.monotonic() < deadline and writer.poll() is None, "the writer never wrote"
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert list(root.glob("results/profile/*.tmp")) and not list(root.glob("results/profile/*.pkl"))
    store = Store(root)
    assert store.get("profile", ("key",)) is MISSING
    store.put("profile", ("key",), [1, 2, 3])
    assert Store(root).get("profile", ("key",)) == [1, 2, 3]


def test_a_window_and_a_data_version_key_every_result(tmp_path):
    config = make_world(tmp_path)
    engine = Engine(config)
    everything = engine.window_rows(Window())["inputs"]
    recent = engine.window_rows(engine.monitoring_window())["inputs"]
    again = Engine(config)
    assert again.window_rows(Window())["inputs"] == everything != recent
    assert again.window_rows(engine.monitoring_window())["inputs"] == recent


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=4999), min_size=1, max_size=5, unique=True),
    removed=st.integers(min_value=0, max_value=5),
)
def test_any_file_layout_appends_and_removals_give_the_cold_report(tmp_path_factory, cuts, removed):
    """The same rows split into random files; files appended and one removed: every report read
    with the store equals one computed without it."""
    root = tmp_path_factory.mktemp("layout")
    config = make_world(root)
    frame = pd.read_parquet(config.path("inputs"))
    Path(config.path("inputs")).unlink()
    folder = root / "data/production/inputs"
    edges = [0, *sorted(cuts), len(frame)]
    parts = [frame.iloc[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    config = replace(config, inputs="data/production/inputs")
    for i, part in enumerate(parts[:-1]):
        write(folder / f"part-{i}.parquet", part)
    steps = [lambda: write(folder / f"part-{len(parts) - 1}.parquet", parts[-1])]
    steps.append(lambda: (folder / f"part-{removed % max(1, len(parts) - 1)}.parquet").unlink())
    _report(config)
    for step in steps:
        step()
        with_store, _ = _report(config)
        cold, _ = _report(replace(config, store=None))
        assert_close(json.loads(_metrics(with_store)), json.loads(_metrics(cold)))
        again, engine = _report(config)  # warm: nothing computed, the same report
        assert sum(engine.computations.values()) == 0
        assert _metrics(again) == _metrics(with_store)
