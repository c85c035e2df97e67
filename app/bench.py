"""``driftdeck bench``: the monitor against the scan floor and the pandas+scipy way.

Every step runs as a whole process of its own, so start-up and imports count, and its peak
resident memory is read from the kernel when it exits (``os.wait4``):

- **scan floor** — ``python -m app.bench_floor``: imports duckdb and runs one query reading every
  column the monitor uses, in every file, once (``queries/bench_floor.sql``, ``app.bench_plan``);
- **monitor** — ``python -m app.cli monitor --json --no-log --config <bench config>``, cold (no
  result store) and warm (the same files again);
- **naive** — ``python -m app.bench_naive``: load the frames whole into pandas and compute each
  feature with numpy/scipy, as the original dashboard did; skipped when the frames would not fit
  in half the machine's memory.

The data is the demo's housing market at ``--rows`` production rows (``app.bench_data``), built
once and cached under ``--out``; ``--config`` benchmarks the user's own data instead.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.bench_check import check_monitor, cross_check, metric_differences, summarise_profile
from app.bench_data import (
    APPEND_SHARE,
    GENERATOR_VERSION,
    NUMERICAL,
    append_set,
    link_or_copy,
    synthetic_set,
)
from app.bench_plan import MB, floor_sql, make_plan, memory_bytes, naive_decision
from app.errors import DriftdeckError
from app.progress import terminal_progress

__all__ = ["NUMERICAL", "floor_sql", "make_plan", "run_bench", "synthetic_set"]

TARGET_RATIO = 3.0  # monitor wall time ≤ 3 × the scan floor
TARGET_RSS_BYTES = 1.5e9  # monitor peak RSS ≤ 1.5 GB
TARGET_WARM_RATIO = 0.5  # the same monitor again, results from the store: ≤ 0.5 × the scan floor
TARGET_APPEND_RATIO = 0.5  # after one new file of 1 % of the rows: ≤ 0.5 × the scan floor


@dataclass
class Run:
    """One measured process: wall seconds, peak resident memory, exit code, stderr."""

    seconds: float
    peak_rss_bytes: int
    returncode: int
    stderr: str


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDECK_CONFIG"}
    root = str(Path(__file__).resolve().parents[1])  # so ``-m app.cli`` is this checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def measure(cmd: list[str], stdout: Path | None = None) -> Run:
    """Run ``cmd`` to completion; its wall time and peak RSS as the kernel reports them at exit."""
    if not hasattr(os, "wait4"):
        raise DriftdeckError("bench needs os.wait4 (Linux or macOS) to read peak memory")
    with tempfile.TemporaryFile() as err, open(stdout or os.devnull, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_child_env()
        )
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", errors="replace")
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return Run(seconds, usage.ru_maxrss * unit, proc.returncode, text)


def _failure(step: str, run: Run) -> DriftdeckError:
    lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
    return DriftdeckError(
        f"{step} failed with exit {run.returncode}: {lines[-1] if lines else 'no message'}"
    )


def _without_run_details(report: dict) -> dict:
    """A monitor report without what differs between two runs on the same data: when it was
    generated and the status (ages of files, what the store reused)."""
    return {k: v for k, v in report.items() if k not in ("generated_at", "status")}


def _step(runs: list[Run], floor_seconds: float | None) -> dict:
    seconds = statistics.median(r.seconds for r in runs)
    return {
        "seconds": seconds,
        "runs_seconds": [r.seconds for r in runs],
        "peak_rss_mb": max(r.peak_rss_bytes for r in runs) / MB,
        "ratio_to_floor": seconds / floor_seconds if floor_seconds else 1.0,
    }


def _machine() -> dict:
    import duckdb

    total, available = memory_bytes()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "memory_total_mb": total / MB if total else None,
        "memory_available_mb": available / MB if available else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def _earlier_rss(out: Path, rows: int, rss_mb: float) -> dict[str, float]:
    """Monitor peak RSS by production rows from this and earlier runs in ``out`` (is it flat?)."""
    found: dict[int, float] = {}
    for path in out.glob("bench-*.json"):
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            found[int(old["rows"]["production"])] = float(old["steps"]["monitor"]["peak_rss_mb"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    found[rows] = rss_mb
    return {str(k): found[k] for k in sorted(found)}


def _table(result: dict) -> str:
    rows, machine = result["rows"], result["machine"]
    lines = [
        f"driftdeck bench: {rows['production']:,} production rows, {rows['reference']:,} reference rows ({result['data']})",
        f"{machine['cpu_count']} CPUs, DuckDB {machine['duckdb']}, Python {machine['python']}; "
        f"median of {result['repeats']} run(s) for floor and monitor",
        "",
        f"{'step':<26} {'seconds':>9} {'peak RSS MB':>12} {'× floor':>8}",
    ]
    names = {
        "floor": "scan floor (1 DuckDB query)",
        "monitor": "driftdeck monitor",
        "warm": "monitor again (warm)",
        "append": f"append ({APPEND_SHARE:.0%} new file)",
        "naive": "naive pandas+scipy",
    }
    for key, label in names.items():
        step = result["steps"].get(key) or {"skipped": "not measured"}
        if "seconds" not in step:
            lines.append(f"{label:<26} {step.get('skipped') or step.get('failed')}")
            continue
        lines.append(
            f"{label:<26} {step['seconds']:>9.2f} {step['peak_rss_mb']:>12,.0f} {step['ratio_to_floor']:>8.2f}"
        )
        if step.get("failed"):
            lines.append(f"{'':<26} {step['failed']}")
    verdict = result["verdict"]
    ratio, rss = verdict["monitor_over_floor"], verdict["monitor_peak_rss_mb"]
    warm = verdict["warm_over_floor"]
    same = (
        ""
        if result["steps"]["warm"]["same_metrics"]
        else "; its metrics DIFFER from the cold run's"
    )
    append = verdict.get("append_over_floor")
    appended = []
    if append:
        differs = result["steps"]["append"]["differences_from_cold"]
        same = (
            f"; {len(differs)} metrics DIFFER from a cold run's"
            if differs
            else ", same metrics as cold"
        )
        appended.append(
            f"append ≤ {append['target']:g}× floor: {'met' if append['met'] else 'NOT met'} "
            f"({append['value']:.2f}×{same})"
        )
    lines += [
        "",
        f"monitor ≤ {ratio['target']:g}× floor: {'met' if ratio['met'] else 'NOT met'} ({ratio['value']:.2f}×)",
        f"warm monitor ≤ {warm['target']:g}× floor: {'met' if warm['met'] else 'NOT met'} ({warm['value']:.2f}×{same})",
        *appended,
        f"monitor peak RSS ≤ {rss['target']:,.0f} MB: {'met' if rss['met'] else 'NOT met'} ({rss['value']:,.0f} MB)",
    ]
    if len(result["monitor_rss_by_rows"]) > 1:
        by_rows = ", ".join(
            f"{int(k):,} rows {v:,.0f} MB" for k, v in result["monitor_rss_by_rows"].items()
        )
        lines.append(f"monitor peak RSS by size (this and earlier runs): {by_rows}")
    for problem in result["monitor_problems"]:
        lines.append(f"monitor output problem: {problem}")
    check = result.get("cross_check")
    if check:
        agree = (
            "agree"
            if not check["disagreements"]
            else f"{len(check['disagreements'])} disagreements"
        )
        lines.append(
            f"monitor vs pandas+scipy: {check['compared']} numbers compared, {agree} "
            f"(max relative difference {check['max_relative_difference']:.1e})"
        )
        lines += [f"  {d}" for d in check["disagreements"][:5]]
    profile = result.get("profile")
    if profile:
        lines += [
            "",
            f"where the monitor's time goes (in-process, {profile['total_seconds']:.2f} s; "
            f"imports {profile['import_seconds']:.2f} s, queries {profile['query_seconds']:.2f} s, "
            f"other Python {profile['other_seconds']:.2f} s):",
        ]
        for c in profile["by_caller"][:12]:
            lines.append(f"  {c['seconds']:>8.2f} s {c['queries']:>4} × {c['caller']}")
    return "\n".join(lines)


def _append_step(
    out: Path, rows: int, monitor_cmd: list[str], repeats: int, floor: float, progress
) -> dict:
    """The monitor after one new file of 1 % of the rows lands beside the set (in folders, the
    store holding the first day's partials), and whether it prints what a cold run prints."""
    config, new = append_set(out, rows, progress)
    from app.config import load_config

    store = load_config(config).store_path
    cmd = [*monitor_cmd[: monitor_cmd.index("--config") + 1], str(config)]
    landed = {role: config.parent / role / "day-001.parquet" for role in new}
    appended_out, cold_out = (
        out / f"monitor-{rows}-append.json",
        out / f"monitor-{rows}-append-cold.json",
    )
    runs = []
    for i in range(repeats):
        for path in landed.values():
            path.unlink(missing_ok=True)
        if store:
            shutil.rmtree(store, ignore_errors=True)
        progress(f"append: the first day into the store (not timed), run {i + 1} of {repeats}")
        run = measure(cmd)
        if run.returncode not in (0, 3):
            raise _failure("monitor before the append", run)
        for role, path in landed.items():
            link_or_copy(new[role], path)
        progress(
            f"append: one new file of {APPEND_SHARE:.0%} of the rows, run {i + 1} of {repeats}"
        )
        run = measure(cmd, stdout=appended_out)
        if run.returncode not in (0, 3):
            raise _failure("monitor after the append", run)
        runs.append(run)
    progress("append: the same files cold (no store), to compare")
    if store:
        shutil.rmtree(store, ignore_errors=True)
    cold = measure(cmd, stdout=cold_out)
    if cold.returncode not in (0, 3):
        raise _failure("cold monitor after the append", cold)
    step = _step(runs, floor)
    step["cold_seconds"] = cold.seconds
    try:
        appended = json.loads(appended_out.read_text(encoding="utf-8"))
        cold_report = json.loads(cold_out.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DriftdeckError(f"monitor printed no valid JSON ({exc})") from None
    step["differences_from_cold"] = metric_differences(
        _without_run_details(appended), _without_run_details(cold_report)
    )[:20]
    return step


def run_bench(args) -> int:
    """Measure floor, monitor and naive as whole processes; print a table; write ``bench-<rows>.json``."""
    progress = terminal_progress("driftdeck bench")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.config:
        config_file = Path(args.config).resolve()
        if not config_file.is_file():
            raise DriftdeckError(f"{config_file}: config file not found")
        data = f"data of {config_file}"
    else:
        if args.rows < 1000:
            raise DriftdeckError(f"--rows must be at least 1000, got {args.rows}")
        progress("synthetic set")
        config_file = synthetic_set(out, args.rows, progress).resolve()
        data = f"synthetic, generator version {GENERATOR_VERSION}, {config_file.parent}"
    plan = make_plan(config_file)
    rows = plan.rows["inputs"]
    floor_file = out / f"floor-{rows}.sql"
    floor_file.write_text(floor_sql(plan), encoding="utf-8")
    floor_cmd = [sys.executable, "-m", "app.bench_floor", str(floor_file)]
    monitor_cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "monitor",
        "--json",
        "--no-log",
        "--all-rows",  # every row, as the scan floor and the naive way read them
        "--config",
        str(config_file),
    ]
    monitor_out = out / f"monitor-{rows}.json"
    repeats = getattr(args, "repeats", None) or (3 if rows <= 2_000_000 else 1)
    machine = _machine()

    progress("warming the page cache (an untimed scan)")
    warm = measure(floor_cmd)
    if warm.returncode:
        raise _failure("scan floor", warm)
    from app.config import load_config

    store = load_config(config_file).store_path
    floors, monitors, warms = [], [], []
    warm_out = out / f"monitor-{rows}-warm.json"
    for i in range(repeats):
        progress(f"scan floor, run {i + 1} of {repeats}")
        run = measure(floor_cmd)
        if run.returncode:
            raise _failure("scan floor", run)
        floors.append(run)
        progress(f"monitor (cold: no result store), run {i + 1} of {repeats}")
        if store:
            shutil.rmtree(store, ignore_errors=True)
        run = measure(monitor_cmd, stdout=monitor_out)
        if run.returncode not in (0, 3):  # 3: a critical alert, which drifted data should raise
            raise _failure("monitor", run)
        monitors.append(run)
        progress(f"monitor (warm: the same files again), run {i + 1} of {repeats}")
        run = measure(monitor_cmd, stdout=warm_out)
        if run.returncode not in (0, 3):
            raise _failure("warm monitor", run)
        warms.append(run)
    try:
        report = json.loads(monitor_out.read_text(encoding="utf-8"))
        warm_report = json.loads(warm_out.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DriftdeckError(f"monitor printed no valid JSON ({exc})") from None
    floor = _step(floors, None)
    monitor = _step(monitors, floor["seconds"])
    warm = _step(warms, floor["seconds"])
    warm["same_metrics"] = _without_run_details(warm_report) == _without_run_details(report)

    append = (
        None
        if args.config
        else _append_step(out, args.rows, monitor_cmd, repeats, floor["seconds"], progress)
    )

    naive: dict = {}
    cross = None
    skipped = naive_decision(plan, args.naive_max_rows)
    if skipped:
        naive = {"skipped": skipped}
    else:
        progress("naive pandas+scipy")
        spec_file = out / f"naive-{rows}.spec.json"
        spec = {
            "files": plan.files,
            "kinds": plan.kinds,
            "target": plan.target,
            "prediction": plan.prediction,
        }
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        naive_out = out / f"naive-{rows}.json"
        naive_cmd = [sys.executable, "-m", "app.bench_naive", str(spec_file)]
        run = measure(naive_cmd, stdout=naive_out)
        naive = _step([run], floor["seconds"])
        if run.returncode:
            naive["failed"] = str(_failure("naive pandas+scipy", run))
        else:
            cross = cross_check(report, json.loads(naive_out.read_text(encoding="utf-8")))

    backend = load_config(config_file).backend
    if backend != "duckdb":
        # the same monitor on DuckDB, for the ratio of this backend to the default one
        progress(f"monitor on DuckDB (the ratio of {backend} to DuckDB)")
        duck_out = out / f"monitor-{rows}-duckdb.json"
        duck_cmd = [*monitor_cmd, "--backend", "duckdb"]
        duck_runs = []
        for _ in range(repeats):
            if store:
                shutil.rmtree(store, ignore_errors=True)
            run = measure(duck_cmd, stdout=duck_out)
            if run.returncode not in (0, 3):
                raise _failure("monitor on DuckDB", run)
            duck_runs.append(run)
        duck = _step(duck_runs, floor["seconds"])
        duck["ratio_of_backend"] = round(monitor["seconds"] / duck["seconds"], 2)
        duck["backend"] = backend

    ratio = monitor["ratio_to_floor"]
    profile = None
    if ratio > TARGET_RATIO or getattr(args, "profile", False):
        progress("profiling the monitor's queries (in-process, not part of the figures)")
        profile_out = out / f"profile-{rows}.json"
        profile_cmd = [sys.executable, "-m", "app.bench_profile", str(config_file)]
        run = measure(profile_cmd, stdout=profile_out)
        if run.returncode == 0:
            profile = summarise_profile(json.loads(profile_out.read_text(encoding="utf-8")))

    result = {
        "rows": {
            "production": rows,
            "reference": plan.rows["reference"],
            "predictions": plan.rows["predictions"],
        },
        "data": data,
        "generator_version": None if args.config else GENERATOR_VERSION,
        "machine": machine,
        "duckdb_version": machine["duckdb"],
        "repeats": repeats,
        "backend": backend,
        "steps": {
            "floor": floor,
            "monitor": monitor,
            "warm": warm,
            **({"append": append} if append else {}),
            "naive": naive,
        },
        "verdict": {
            "monitor_over_floor": {
                "target": TARGET_RATIO,
                "value": ratio,
                "met": ratio <= TARGET_RATIO,
            },
            "warm_over_floor": {
                "target": TARGET_WARM_RATIO,
                "value": warm["ratio_to_floor"],
                "met": warm["ratio_to_floor"] <= TARGET_WARM_RATIO and warm["same_metrics"],
            },
            "monitor_peak_rss_mb": {
                "target": TARGET_RSS_BYTES / MB,
                "value": monitor["peak_rss_mb"],
                "met": monitor["peak_rss_mb"] * MB <= TARGET_RSS_BYTES,
            },
        },
        "monitor_problems": check_monitor(report, plan),
        "monitor_rss_by_rows": _earlier_rss(out, rows, monitor["peak_rss_mb"]),
        "cross_check": cross,
        "profile": profile,
        "commands": {"floor": floor_cmd, "monitor": monitor_cmd},
        "floor_sql": str(floor_file),
    }
    verdict = result["verdict"]
    if append:
        verdict["append_over_floor"] = {
            "target": TARGET_APPEND_RATIO,
            "value": append["ratio_to_floor"],
            "met": append["ratio_to_floor"] <= TARGET_APPEND_RATIO
            and not append["differences_from_cold"],
        }
    verdict["met"] = (
        verdict["monitor_over_floor"]["met"]
        and verdict["warm_over_floor"]["met"]
        and verdict.get("append_over_floor", {"met": True})["met"]
        and verdict["monitor_peak_rss_mb"]["met"]
        and not result["monitor_problems"]
    )
    if backend != "duckdb":
        result["steps"]["monitor_duckdb"] = duck
    result_file = out / f"bench-{rows}.json"
    result_file.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(_table(result))
    if backend != "duckdb":
        print(
            f"\nmonitor on {backend}: {monitor['seconds']:.2f} s; on DuckDB: {duck['seconds']:.2f} s"
            f" ({duck['ratio_of_backend']:.1f}x DuckDB's time)"
        )
    print(f"\nwrote {result_file}")
    return 0
