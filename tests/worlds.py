"""Small worlds of parquet files written in a temporary folder, and comparing their reports."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.config import Columns, Config
from app.engine import Engine
from app.report import build_report
from app.window import Window


def write(path: Path, frame: pd.DataFrame | pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(table, path)
    return path


def report_on(root: Path, reference: pd.DataFrame, inputs: pd.DataFrame, columns: Columns) -> dict:
    """The report over ``reference`` and ``inputs`` written as parquet files in ``root``."""
    write(root / "ref.parquet", reference)
    write(root / "in.parquet", inputs)
    config = Config(
        base_dir=root,
        reference="ref.parquet",
        inputs="in.parquet",
        predictions="none.parquet",
        labels=None,
        columns=columns,
    )
    return build_report(Engine(config), Window(), config)


def files_config(root: Path, columns: Columns, **changes) -> Config:
    """A config over ref.parquet, in.parquet, pred.parquet and lab.parquet in ``root``."""
    return Config(
        base_dir=root,
        reference="ref.parquet",
        inputs="in.parquet",
        predictions="pred.parquet",
        labels="lab.parquet",
        columns=columns,
        **changes,
    )


def make_world(root: Path, seed: int = 0, n_ref: int = 3000, n_prod: int = 5000) -> Config:
    """Reference, inputs and predictions with every kind of feature and some mess (NaN, NULL, inf)."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1)

    def frame(n: int, shift: float, new_district: bool) -> pd.DataFrame:
        area = rng.normal(100 + shift, 20, n)
        area[rng.random(n) < 0.02] = np.nan
        rooms = rng.integers(1, 6, n).astype(float)  # ties
        age = rng.exponential(20, n)
        age[:3] = [np.inf, -np.inf, np.nan]
        districts = np.array(
            ["north", "south", "east", "west"] + (["harbour"] if new_district else [])
        )
        district = rng.choice(districts, n).astype(object)
        district[rng.random(n) < 0.03] = None
        address = np.array(
            [f"street {i}" for i in rng.integers(0, 400 if not new_district else 900, n)]
        )
        return pd.DataFrame(
            {"area": area, "rooms": rooms, "age": age, "district": district, "address": address}
        )

    ref = frame(n_ref, 0, False)
    ref["target"] = rng.choice(["low", "medium", "high"], n_ref, p=[0.3, 0.5, 0.2])
    prod = frame(n_prod, 8, True)
    prod.insert(0, "timestamp", [start + timedelta(minutes=10 * i) for i in range(n_prod)])
    prod.insert(1, "request_id", [f"r{i}" for i in range(n_prod)])
    preds = pd.DataFrame(
        {
            "timestamp": prod["timestamp"],
            "request_id": prod["request_id"],
            "prediction": rng.choice(["low", "medium", "high"], n_prod, p=[0.2, 0.5, 0.3]),
        }
    )
    write(root / "data/reference/reference.parquet", ref)
    write(root / "data/production/inputs.parquet", prod)
    write(root / "data/production/predictions.parquet", preds)
    return Config(
        base_dir=root,
        columns=Columns(high_cardinality=("address",), target="target"),
    )


def assert_close(
    a: object,
    b: object,
    path: str = "",
    *,
    rel: float = 1e-9,
    abs: float = 1e-12,  # noqa: A002 - pytest.approx's name
    float_sums: tuple[str, ...] = (),
) -> None:
    """Equal, floats to ``rel`` relative (default 1e-9: DuckDB adds floats in parallel and file by
    file, so means and standard deviations over several files may differ in their last digits,
    the tolerance docs/metrics.md allows them). Floats under a key named in ``float_sums`` always
    get that 1e-9, whatever ``rel`` is."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_close(a[key], b[key], f"{path}/{key}", rel=rel, abs=abs, float_sums=float_sums)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]", rel=rel, abs=abs, float_sums=float_sums)
    elif isinstance(a, float) and isinstance(b, float):
        loose = any(part in float_sums for part in path.split("/"))
        assert a == pytest.approx(b, rel=1e-9 if loose else rel, abs=abs), path
    else:
        assert a == b, path


def start_monitor(config_file: Path) -> subprocess.Popen:
    """``driftdeck monitor --json --no-log`` on ``config_file`` in a process of its own (this
    checkout's ``app``), its output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = ["monitor", "--json", "--no-log", "--config", str(config_file)]
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
