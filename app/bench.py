"""``driftdeck bench``: the monitor against the scan floor and the pandas+scipy way.

Every step runs as a whole process of its own, so start-up and imports count, and its peak
resident memory is read from the kernel when it exits (``os.wait4``):

- **scan floor** — a Python process that imports duckdb and runs one query reading every column
  the monitor uses, in every file, once (``queries/bench_floor.sql``);
- **monitor** — ``python -m app.cli monitor --json --no-log --config <bench config>``;
- **naive** — load the frames whole into pandas and compute each feature with numpy/scipy, as
  the original dashboard did; skipped when the frames would not fit in half the machine's memory.

The data is a synthetic housing market (``--rows`` production rows, a tenth as many reference
rows) built once and cached under ``--out``; ``--config`` benchmarks the user's own data instead.
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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.errors import DriftdeckError
from app.progress import Progress, terminal_progress
from queries import ident, literal, render

GENERATOR_VERSION = 1
"""Bump when the synthetic data changes, so cached sets are rebuilt."""

CHUNK_ROWS = 1 << 20  # rows generated and written at a time: one parquet row group each
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in epoch microseconds
SPAN_US = 30 * 86_400 * 1_000_000  # production covers 30 days
SEED = 20260101

TARGET_RATIO = 3.0  # monitor wall time ≤ 3 × the scan floor
TARGET_RSS_BYTES = 1.5e9  # monitor peak RSS ≤ 1.5 GB
TARGET_WARM_RATIO = 0.5  # the same monitor again, results from the store: ≤ 0.5 × the scan floor
MB = 1e6

NUMERICAL = (
    "gross_sqm", "net_sqm", "building_age", "rooms", "floor_number", "distance_to_center_km",
    "latitude", "longitude", "monthly_fee", "area_price_per_sqm", "crime_index", "school_score",
)  # fmt: skip
CATEGORICAL = ("district", "heating_type", "structure_type", "floor_location")
CLASSES = ("low", "medium", "high")

# name, share before the drift, share after it, price level (log)
_DISTRICTS = (
    ("Kadikoy", 0.10, 0.07, 0.45), ("Besiktas", 0.07, 0.05, 0.55), ("Sisli", 0.08, 0.06, 0.35),
    ("Uskudar", 0.09, 0.07, 0.25), ("Sariyer", 0.05, 0.04, 0.60), ("Bakirkoy", 0.07, 0.05, 0.40),
    ("Atasehir", 0.08, 0.07, 0.20), ("Maltepe", 0.08, 0.08, 0.05), ("Kartal", 0.07, 0.08, -0.10),
    ("Pendik", 0.07, 0.09, -0.20), ("Bahcelievler", 0.06, 0.06, -0.15), ("Basaksehir", 0.06, 0.09, -0.05),
    ("Beylikduzu", 0.05, 0.09, -0.25), ("Esenyurt", 0.07, 0.10, -0.45),
)  # fmt: skip
_NEW_DISTRICT = ("Arnavutkoy", -0.30)  # opens in production only
DISTRICTS = tuple(d[0] for d in _DISTRICTS) + (_NEW_DISTRICT[0],)
_SHARE_BEFORE = np.array([d[1] for d in _DISTRICTS])
_SHARE_AFTER = np.array([d[2] for d in _DISTRICTS])
_PRICE_LEVEL = np.array([d[3] for d in _DISTRICTS] + [_NEW_DISTRICT[1]])
_HEATING = ("natural_gas_combi", "central", "floor_heating", "air_conditioning", "stove")
_HEATING_BEFORE = np.array([0.55, 0.20, 0.12, 0.05, 0.08])
_HEATING_AFTER = np.array([0.45, 0.15, 0.30, 0.06, 0.04])
_STRUCTURE = ("reinforced_concrete", "steel", "masonry", "wood", "prefabricated")
_STRUCTURE_SHARES = np.array([0.78, 0.05, 0.12, 0.02, 0.03])
_FLOORS = ("basement", "ground", "low", "middle", "high", "top")
_STREETS = tuple(
    f"{name} {kind}"
    for kind in ("Street", "Avenue", "Lane")
    for name in (
        "Ataturk", "Cumhuriyet", "Inonu", "Bagdat", "Lale", "Gul", "Papatya", "Menekse", "Cinar",
        "Akasya", "Ihlamur", "Okul", "Istasyon", "Park", "Deniz", "Bahar", "Yildiz", "Gunes", "Zambak", "Sedir",
    )
)  # fmt: skip
_STABLE_NUMBERS = 400  # building numbers of the reference market; production adds 2 000 more
_NEW_NUMBERS = 2_000
_ROOMS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
_ROOM_SHARES = np.array([0.07, 0.22, 0.38, 0.22, 0.08, 0.03])
_LOW_BELOW, _HIGH_FROM = -0.04, 0.38  # class boundaries on the price score: thirds of the reference


# -- the synthetic set -------------------------------------------------------------------------
_TIMESTAMP = pa.field("timestamp", pa.timestamp("us"))
_REQUEST_ID = pa.field("request_id", pa.string())
FEATURE_FIELDS = [pa.field(n, pa.float64()) for n in NUMERICAL] + [
    pa.field(n, pa.string()) for n in (*CATEGORICAL, "address")
]
REFERENCE_SCHEMA = pa.schema([*FEATURE_FIELDS, pa.field("price_category", pa.string())])
INPUTS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, *FEATURE_FIELDS])
PREDICTIONS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, pa.field("prediction", pa.string())])

CONFIG_TOML = """\
# The synthetic set of `driftdeck bench` (generator version {version}).
[data]
reference = "reference/reference.parquet"
inputs = "production/inputs.parquet"
predictions = "production/predictions.parquet"

[columns]
timestamp = "timestamp"
id = "request_id"
target = "price_category"
prediction = "prediction"
high_cardinality = ["address"]
"""


def reference_rows(rows: int) -> int:
    return max(1, rows // 10)


def _pick(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(shares / shares.sum()), rng.random(n), side="right").clip(
        0, len(shares) - 1
    )


def _mix(
    rng: np.random.Generator, before: np.ndarray, after: np.ndarray, drift: np.ndarray
) -> np.ndarray:
    """Category indices whose shares move from ``before`` to ``after`` as ``drift`` goes 0 → 1."""
    n = len(drift)
    return np.where(rng.random(n) < drift, _pick(rng, after, n), _pick(rng, before, n))


def _strings(
    values: tuple[str, ...], index: np.ndarray, missing: np.ndarray | None = None
) -> pa.Array:
    return pa.array(values).take(pa.array(index, mask=missing))


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    values[rng.random(len(values)) < share] = np.nan
    return values


def listings(
    rng: np.random.Generator, drift: np.ndarray, model: bool = False
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Feature columns for one listing per row, and its price score (``drift`` 0 = the reference).

    With ``model`` the score is the model's estimate: it sees the features, not the market.
    Drifting with ``drift``: gross and net m², distance to the centre, latitude, monthly fee,
    area price, the district and heating mixes, a new district and a flood of new addresses.
    Stable: building age, rooms, floor number, longitude, crime index, school score, structure.
    """
    import pyarrow.compute as pc

    n = len(drift)
    district = _mix(rng, _SHARE_BEFORE, _SHARE_AFTER, drift)
    district = np.where(rng.random(n) < 0.15 * drift, len(_DISTRICTS), district)  # the new district
    rooms = _ROOMS[_pick(rng, _ROOM_SHARES, n)]
    log_gross = np.log(20 + 28 * rooms) + rng.normal(0.0, 0.16, n)
    gross = np.round(np.exp(log_gross) * (1 + 0.30 * drift), 1)
    floor_number = np.minimum(rng.poisson(4.0, n), 40).astype(float)
    noise = rng.normal(0.0, 0.08 if model else 0.12, n)
    score = _PRICE_LEVEL[district] + 0.9 * np.log(gross / 100) + noise
    columns = {
        "gross_sqm": gross,
        "net_sqm": _with_missing(rng, np.round(gross * rng.uniform(0.78, 0.90, n), 1), 0.01),
        "building_age": _with_missing(
            rng, np.round(np.minimum(rng.gamma(2.0, 12.0, n), 80.0), 2), 0.02
        ),
        "rooms": rooms,
        "floor_number": floor_number,
        "distance_to_center_km": np.round(rng.lognormal(np.log(8.0) + 0.35 * drift, 0.6), 3),
        "latitude": 41.02 + rng.normal(0.0, 0.07, n) + 0.02 * drift,
        "longitude": 28.98 + rng.normal(0.0, 0.15, n),
        "monthly_fee": np.round(rng.lognormal(np.log(900.0), 0.45, n) * (1 + 0.25 * drift), 2),
        "area_price_per_sqm": np.round(
            np.exp(9.6 + _PRICE_LEVEL[district] + rng.normal(0.0, 0.1, n)) * (1 + 0.1 * drift)
        ),
        "crime_index": rng.beta(2.0, 5.0, n) * 100,
        "school_score": np.round(np.clip(rng.normal(70.0, 10.0, n), 0, 100), 1),
    }
    out: dict[str, pa.Array] = {name: pa.array(values) for name, values in columns.items()}
    out["district"] = _strings(DISTRICTS, district)
    out["heating_type"] = _strings(
        _HEATING, _mix(rng, _HEATING_BEFORE, _HEATING_AFTER, drift), rng.random(n) < 0.015
    )
    out["structure_type"] = _strings(_STRUCTURE, _pick(rng, _STRUCTURE_SHARES, n))
    level = np.select(
        [
            floor_number == 0,
            floor_number == 1,
            floor_number <= 3,
            floor_number <= 8,
            rng.random(n) < 0.8,
        ],
        [0, 1, 2, 3, 4],
        5,
    )
    out["floor_location"] = _strings(_FLOORS, level)
    # "12 Lale Street, Kadikoy": a stable pool the reference sees, then a flood of new buildings.
    new_building = rng.random(n) < 0.4 * drift
    number = np.where(
        new_building,
        _STABLE_NUMBERS + rng.integers(1, _NEW_NUMBERS + 1, n),
        rng.integers(1, _STABLE_NUMBERS + 1, n),
    )
    street = _strings(_STREETS, rng.integers(0, len(_STREETS), n))
    house = pc.binary_join_element_wise(pc.cast(pa.array(number), pa.string()), street, " ")
    out["address"] = pc.binary_join_element_wise(house, out["district"], ", ")
    return out, score


def _classes(score: np.ndarray) -> pa.Array:
    return _strings(CLASSES, np.digitize(score, [_LOW_BELOW, _HIGH_FROM]))


def _write(path: Path, schema: pa.Schema, chunks) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for table in chunks:
            writer.write_table(table, row_group_size=CHUNK_ROWS)


def _reference_chunks(rows: int, progress: Progress):
    for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([SEED, 1, i])
        columns, score = listings(rng, np.zeros(n))
        columns["price_category"] = _classes(score)
        progress(f"reference rows {start + n:,}/{rows:,}")
        yield pa.table(columns, schema=REFERENCE_SCHEMA)


def _production_chunks(rows: int, progress: Progress):
    """Pairs of (inputs, predictions) tables, in time order; drift grows over the last 20 days."""
    import pyarrow.compute as pc

    for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([SEED, 2, i])
        index = np.arange(start, start + n, dtype=np.int64)
        drift = np.clip((index / rows - 1 / 3) * 1.5, 0.0, 1.0)
        columns, estimate = listings(rng, drift, model=True)
        timestamp = pa.array(START_US + index * SPAN_US // rows, pa.timestamp("us"))
        request_id = pc.binary_join_element_wise(
            "r", pc.utf8_lpad(pc.cast(pa.array(index), pa.string()), 10, "0"), ""
        )
        inputs = pa.table(
            {"timestamp": timestamp, "request_id": request_id, **columns}, schema=INPUTS_SCHEMA
        )
        predictions = pa.table(
            {"timestamp": timestamp, "request_id": request_id, "prediction": _classes(estimate)},
            schema=PREDICTIONS_SCHEMA,
        )
        progress(f"production rows {start + n:,}/{rows:,}")
        yield inputs, predictions


def synthetic_set(out: Path, rows: int, progress: Progress) -> Path:
    """The bench config for ``rows`` production rows, building its data once (cached by version)."""
    folder = out / f"data-{rows}-g{GENERATOR_VERSION}"
    config = folder / "driftdeck.toml"
    if config.is_file():  # written last: its presence means the set is complete
        return config
    out.mkdir(parents=True, exist_ok=True)
    building = out / f".building-{rows}-g{GENERATOR_VERSION}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        _write(
            building / "reference" / "reference.parquet",
            REFERENCE_SCHEMA,
            _reference_chunks(reference_rows(rows), progress),
        )
        inputs_path = building / "production" / "inputs.parquet"
        predictions_path = building / "production" / "predictions.parquet"
        inputs_path.parent.mkdir(parents=True)
        with (
            pq.ParquetWriter(inputs_path, INPUTS_SCHEMA) as inputs,
            pq.ParquetWriter(predictions_path, PREDICTIONS_SCHEMA) as preds,
        ):
            for inp, pred in _production_chunks(rows, progress):
                inputs.write_table(inp, row_group_size=CHUNK_ROWS)
                preds.write_table(pred, row_group_size=CHUNK_ROWS)
        (building / "driftdeck.toml").write_text(
            CONFIG_TOML.format(version=GENERATOR_VERSION), encoding="utf-8"
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return config


# -- what the monitor reads --------------------------------------------------------------------
@dataclass
class Plan:
    """The files of each role, the columns the monitor uses in them, and the feature kinds."""

    files: dict[str, list[str]]
    columns: dict[str, list[str]]
    kinds: dict[str, str]
    target: str | None
    prediction: str | None
    rows: dict[str, int] = field(default_factory=dict)


def make_plan(config_file: Path) -> Plan:
    """What the monitor would read for this config: roles inferred exactly as the engine does."""
    from app.config import load_config
    from app.roles import infer_roles
    from app.sources import Sources

    config = load_config(config_file)
    sources = Sources(config)
    try:
        roles = infer_roles(sources, config)
        files = {
            role: [f.path for f in sources.state(role).files]
            for role in ("reference", "inputs", "predictions")
        }
        missing = [role for role, paths in files.items() if not paths]
        if missing:
            raise DriftdeckError(
                f"no data to benchmark for {', '.join(missing)} ({sources.state(missing[0]).problem})"
            )
        ref, inp, pred = (sources.schema(r) for r in ("reference", "inputs", "predictions"))
        extra_ref = [c for c in (roles.target, roles.prediction) if c and c in ref]
        columns = {
            "reference": [f.name for f in roles.features if f.reference_type] + extra_ref,
            "inputs": [c for c in [roles.timestamp.get("inputs")] if c]
            + [f.name for f in roles.features if f.production_type],
            "predictions": [
                c for c in (roles.timestamp.get("predictions"), roles.prediction) if c and c in pred
            ],
        }
        columns["inputs"] = [c for c in columns["inputs"] if c in inp]
        rows = {
            role: sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
            for role, paths in files.items()
        }
        kinds = {f.name: f.kind for f in roles.features if f.on_both_sides and not f.type_changed}
        target = next((c for c in (roles.prediction, roles.target) if c and c in ref), None)
        return Plan(files, columns, kinds, target, roles.prediction, rows)
    finally:
        sources.close()


def _file_list(paths: list[str]) -> str:
    """A quoted DuckDB list of file paths (paths cannot be bound as parameters in a FROM)."""
    return "[" + ", ".join(literal(p) for p in paths) + "]"


def _decode_everything(column: str, duckdb_type: str) -> str:
    """An aggregate DuckDB can only answer by decoding every value of the column."""
    col = ident(column)
    kind = duckdb_type.upper()
    if kind in ("VARCHAR", "BLOB"):
        return f"sum(length({col}))"
    if kind.startswith(("TIMESTAMP", "DATE")):
        return f"sum(epoch_us(CAST({col} AS TIMESTAMP)))"
    if kind == "BOOLEAN":
        return f"sum(CAST({col} AS INTEGER))"
    from app.roles import type_family

    if type_family(kind) == "numeric":
        return f"sum(CAST({col} AS DOUBLE))"
    return f"sum(length(CAST({col} AS VARCHAR)))"


def floor_sql(plan: Plan) -> str:
    """The one query of the scan floor (``queries/bench_floor.sql``) for this plan."""
    import duckdb

    parts = {}
    con = duckdb.connect()
    try:
        for role in ("reference", "inputs", "predictions"):
            files = _file_list(plan.files[role])
            describe = f"DESCRIBE SELECT * FROM read_parquet({files}, union_by_name = true)"  # noqa: S608
            described = con.execute(describe).fetchall()
            types = {row[0]: row[1] for row in described}
            aggregates = [
                _decode_everything(c, types[c]) for c in plan.columns[role] if c in types
            ] or ["count(*)"]
            parts[role] = ", ".join(aggregates)
            parts[f"{role}_files"] = files
    finally:
        con.close()
    return render("bench_floor", **parts)


# -- the three contenders, each a whole process ----------------------------------------------
FLOOR_SCRIPT = """\
import sys
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(open(sys.argv[1], encoding="utf-8").read()).fetchall()
"""

NAIVE_SCRIPT = """\
import json, sys
import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

spec = json.load(open(sys.argv[1], encoding="utf-8"))
def load(files):
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
ref, inp, pred = (load(spec["files"][role]) for role in ("reference", "inputs", "predictions"))
EPS = 1e-4
def shares(counts):
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()
def psi(r, p):
    r, p = np.maximum(shares(r), EPS), np.maximum(shares(p), EPS)
    return float(np.sum((p - r) * np.log(p / r)))
def kl(r, p):
    r, p = np.maximum(shares(r), EPS), np.maximum(shares(p), EPS)
    return float(np.sum(r * np.log(r / p)))
def js(r, p):
    return float(jensenshannon(shares(r), shares(p), base=2))
def counts(r, p):
    rc, pc = r.value_counts(), p.value_counts()
    keys = list(rc.index) + [k for k in pc.index if k not in rc.index]
    return [int(rc.get(k, 0)) for k in keys], [int(pc.get(k, 0)) for k in keys]
def summary(x):
    q = np.quantile(x, [0.25, 0.5, 0.75]) if len(x) else [None] * 3
    return [len(x), float(x.mean()), float(x.std(ddof=1)), float(x.min()), *q, float(x.max()), len(np.unique(x))]
out = {}
for name, kind in spec["kinds"].items():
    if kind == "numerical":
        r = pd.to_numeric(ref[name]).to_numpy(dtype=float, na_value=np.nan)
        p = pd.to_numeric(inp[name]).to_numpy(dtype=float, na_value=np.nan)
        r_ok, p_ok = r[~np.isnan(r)], p[~np.isnan(p)]
        edges = np.unique(np.quantile(r_ok, np.arange(1, 10) / 10))
        def bins(x, ok):
            found = np.bincount(np.searchsorted(edges, ok, side="right"), minlength=len(edges) + 1)
            return [len(x) - len(ok), *found]
        rb, pb = bins(r, r_ok), bins(p, p_ok)
        ks = stats.ks_2samp(r_ok, p_ok)
        w = stats.wasserstein_distance(r_ok, p_ok) / max(float(r_ok.std()), 0.001)
        out[name] = {"psi": psi(rb, pb), "js": js(rb, pb), "wasserstein": float(w),
                     "ks": {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue)},
                     "summary": [summary(r_ok), summary(p_ok)]}
    elif kind == "categorical":
        r, p = counts(ref[name], inp[name])
        rb, pb = r + [int(ref[name].isna().sum())], p + [int(inp[name].isna().sum())]
        chi = stats.chi2_contingency(np.array([r, p]), correction=False)
        out[name] = {"psi": psi(rb, pb), "js": js(rb, pb),
                     "chi2": {"statistic": float(chi.statistic), "pvalue": float(chi.pvalue)}}
    else:
        r, p = ref[name].dropna(), inp[name].dropna()
        distinct_r, distinct_p = r.nunique(), p.nunique()
        out[name] = {"cardinality": {"reference": distinct_r, "production": distinct_p,
                                     "ratio": distinct_p / distinct_r,
                                     "new_value_share": float((~p.isin(r.unique())).mean())}}
drift = None
if spec["target"] and spec["prediction"]:
    r, p = counts(ref[spec["target"]], pred[spec["prediction"]])
    drift = {"kl": kl(r, p), "js": js(r, p)}
print(json.dumps({"features": out, "prediction_drift": drift}, default=int))
"""

PROFILE_SCRIPT = """\
import json, sys, time
started = time.perf_counter()
from app.config import load_config
from app.engine import Engine
from app.report import full_report
from app.sources import Sources
from app.window import Window
imported = time.perf_counter()
queries = []
def timed(fetch):
    def run(self, sql, params=None):
        frame, chain = sys._getframe(1), []
        while frame is not None and len(chain) < 2:
            name = frame.f_code.co_filename.replace("\\\\", "/")
            if "/app/" in name and not name.endswith("/sources.py"):
                chain.append(name.rsplit("/", 1)[1][:-3] + "." + frame.f_code.co_name)
            frame = frame.f_back
        start = time.perf_counter()
        try:
            return fetch(self, sql, params)
        finally:
            queries.append({"caller": " < ".join(chain), "seconds": time.perf_counter() - start,
                            "sql": " ".join(sql.split())[:200]})
    return run
Sources.fetchall = timed(Sources.fetchall)
Sources.fetchnumpy = timed(Sources.fetchnumpy)
config = load_config(sys.argv[1]).with_overrides(store=None)  # computed, not read back
full_report(Engine(config), Window(), config, mlflow=False)  # every row, as the bench's monitor
finished = time.perf_counter()
json.dump({"import_seconds": imported - started, "total_seconds": finished - started, "queries": queries},
          sys.stdout)
"""


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


def naive_estimate_bytes(plan: Plan) -> int:
    """A generous guess of the naive way's peak memory: every column of every file in pandas, twice."""
    total = 0
    for paths in plan.files.values():
        for path in paths:
            meta = pq.ParquetFile(path).metadata
            per_row = sum(
                8 if meta.schema.column(i).physical_type != "BYTE_ARRAY" else 48
                for i in range(meta.num_columns)
            )
            total += 2 * per_row * meta.num_rows
    return total


def _memory_bytes() -> tuple[int | None, int | None]:
    """Total and available memory of the machine (None where unknown)."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(info["MemTotal"].split()[0]) * 1024, int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), None
        except (ValueError, OSError, AttributeError):
            return None, None


def naive_decision(plan: Plan, limit_rows: int | None) -> str | None:
    """Why the naive way is skipped, or None to run it."""
    rows = plan.rows["inputs"]
    if limit_rows is not None:
        return (
            None
            if rows <= limit_rows
            else f"skipped: {rows:,} rows > --naive-max-rows {limit_rows:,}"
        )
    need = naive_estimate_bytes(plan)
    total, available = _memory_bytes()
    budget = (
        min(x for x in (total and total // 2, available) if x) if (total or available) else None
    )
    if budget is not None and need > budget:
        return f"skipped: needs about {need / MB:,.0f} MB, over half the memory ({budget / MB:,.0f} MB)"
    return None


# -- checking results --------------------------------------------------------------------------
def _metrics(feature: dict) -> dict[str, float | None]:
    """The comparable numbers of one feature in a monitor or naive report."""
    out = {
        "psi": feature.get("psi"),
        "js": feature.get("js"),
        "wasserstein": feature.get("wasserstein"),
    }
    for group in ("ks", "chi2"):
        for key, value in (feature.get(group) or {}).items():
            out[f"{group}.{key}"] = value
    for key in ("ratio", "new_value_share"):
        if feature.get("cardinality"):
            out[f"cardinality.{key}"] = feature["cardinality"].get(key)
    return {k: v for k, v in out.items() if v is not None or k in ("psi", "js")}


def check_monitor(report: dict, plan: Plan) -> list[str]:
    """Problems that would make the monitor's time meaningless: features or metrics missing."""
    problems = []
    features = report.get("features", {})
    for name, kind in plan.kinds.items():
        entry = features.get(name)
        if entry is None:
            problems.append(f"feature {name} missing from the report")
            continue
        wanted = {
            "numerical": ("psi", "ks.statistic", "ks.pvalue", "wasserstein"),
            "categorical": ("psi", "chi2.statistic"),
        }
        got = _metrics(entry)
        wanted_keys = wanted.get(kind, ("cardinality.ratio", "cardinality.new_value_share"))
        problems += [f"{name}: {key} is null" for key in wanted_keys if got.get(key) is None]
    return problems


def cross_check(monitor: dict, naive: dict) -> dict:
    """How far the monitor's numbers are from pandas+scipy on the same data."""
    worst, disagreements, compared = 0.0, [], 0
    pairs = [
        (f"{name}.{key}", value, _metrics(monitor["features"].get(name, {})).get(key))
        for name, feature in naive["features"].items()
        for key, value in _metrics(feature).items()
    ]
    drift = naive.get("prediction_drift") or {}
    pairs += [
        (f"prediction_drift.{k}", v, (monitor.get("prediction_drift") or {}).get(k))
        for k, v in drift.items()
    ]
    for label, expected, got in pairs:
        if expected is None or got is None:
            if expected != got:
                disagreements.append(f"{label}: monitor {got}, pandas+scipy {expected}")
            continue
        compared += 1
        error = abs(got - expected) / max(abs(expected), 1e-12)
        if abs(got - expected) > 1e-9 + 1e-6 * abs(expected):
            disagreements.append(f"{label}: monitor {got!r}, pandas+scipy {expected!r}")
        worst = max(worst, error if abs(got - expected) > 1e-12 else 0.0)
    return {
        "compared": compared,
        "max_relative_difference": worst,
        "disagreements": disagreements[:20],
    }


def summarise_profile(profile: dict) -> dict:
    """Query time per engine call site, largest first."""
    by_caller: dict[str, list[float]] = defaultdict(list)
    for q in profile["queries"]:
        by_caller[q["caller"]].append(q["seconds"])
    total = profile["total_seconds"]
    in_queries = sum(q["seconds"] for q in profile["queries"])
    callers = [
        {
            "caller": caller,
            "queries": len(times),
            "seconds": sum(times),
            "share": sum(times) / total if total else None,
        }
        for caller, times in by_caller.items()
    ]
    callers.sort(key=lambda c: -c["seconds"])
    slowest = sorted(profile["queries"], key=lambda q: -q["seconds"])[:10]
    return {
        "total_seconds": total,
        "import_seconds": profile["import_seconds"],
        "query_seconds": in_queries,
        "other_seconds": total - profile["import_seconds"] - in_queries,
        "by_caller": callers,
        "slowest_queries": slowest,
    }


# -- the run -----------------------------------------------------------------------------------
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

    total, available = _memory_bytes()
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
        "naive": "naive pandas+scipy",
    }
    for key, label in names.items():
        step = result["steps"][key]
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
    lines += [
        "",
        f"monitor ≤ {ratio['target']:g}× floor: {'met' if ratio['met'] else 'NOT met'} ({ratio['value']:.2f}×)",
        f"warm monitor ≤ {warm['target']:g}× floor: {'met' if warm['met'] else 'NOT met'} ({warm['value']:.2f}×{same})",
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
    floor_cmd = [sys.executable, "-c", FLOOR_SCRIPT, str(floor_file)]
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
        run = measure([sys.executable, "-c", NAIVE_SCRIPT, str(spec_file)], stdout=naive_out)
        naive = _step([run], floor["seconds"])
        if run.returncode:
            naive["failed"] = str(_failure("naive pandas+scipy", run))
        else:
            cross = cross_check(report, json.loads(naive_out.read_text(encoding="utf-8")))

    ratio = monitor["ratio_to_floor"]
    profile = None
    if ratio > TARGET_RATIO or getattr(args, "profile", False):
        progress("profiling the monitor's queries (in-process, not part of the figures)")
        profile_out = out / f"profile-{rows}.json"
        run = measure([sys.executable, "-c", PROFILE_SCRIPT, str(config_file)], stdout=profile_out)
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
        "steps": {"floor": floor, "monitor": monitor, "warm": warm, "naive": naive},
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
    verdict["met"] = (
        verdict["monitor_over_floor"]["met"]
        and verdict["warm_over_floor"]["met"]
        and verdict["monitor_peak_rss_mb"]["met"]
        and not result["monitor_problems"]
    )
    result_file = out / f"bench-{rows}.json"
    result_file.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(_table(result))
    print(f"\nwrote {result_file}")
    return 0
