"""The synthetic set of ``driftdeck bench``: the demo's housing market (``app.demo_market``) at any size.

The listings, their drift over the 30 production days, timestamps and request ids are the demo
world's, drawn by its generator one chunk at a time, so memory stays flat up to 100M rows. The
bench adds what it needs to measure and leaves out what it does not:

- eight more continuous measurements per listing (coordinates, distances, fees, scores), so the
  exact KS and Wasserstein have real work on a dozen numerical features, as on a wide model log;
- the ``subscription`` column is left out: four categorical features, the shape the figures in
  the README were measured on;
- predictions come without a model: the class of the price the listing appears to have (its
  inflated gross area taken at face value, ``app.demo_market.SEEN_PRICE``) plus a little noise, so they
  drift as the demo's do without training anything;
- a tenth as many reference rows as production rows; no labels, no MLflow store.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app import demo_market as demo
from app.demo import ROW_GROUP_ROWS
from app.progress import Progress

GENERATOR_VERSION = 2
"""Bump when the synthetic data changes, so cached sets are rebuilt (2: the demo's generator)."""

SEED = 20260101
START = datetime(2026, 1, 1)  # production covers the 30 days from here
_STREAM_MEASUREMENTS, _STREAM_MODEL = 101, 102  # beside the demo's streams, never equal to one

MEASUREMENTS = (
    "floor_number", "distance_to_center_km", "latitude", "longitude", "monthly_fee",
    "area_price_per_sqm", "crime_index", "school_score",
)  # fmt: skip
NUMERICAL = demo.NUMERICAL + MEASUREMENTS
CATEGORICAL = tuple(c for c in demo.CATEGORICAL if c != "subscription")
CLASSES = demo.CLASSES

_FEATURES = [f for f in demo.FEATURE_SCHEMA if f.name in (*demo.NUMERICAL, *CATEGORICAL)]
_FEATURES += [pa.field(name, pa.float64()) for name in MEASUREMENTS]
_FEATURES.append(demo.FEATURE_SCHEMA.field("address"))
_TIMESTAMP = pa.field("timestamp", pa.timestamp("us"))
_REQUEST_ID = pa.field("request_id", pa.string())
REFERENCE_SCHEMA = pa.schema([*_FEATURES, pa.field(demo.TARGET, pa.string())])
INPUTS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, *_FEATURES])
PREDICTIONS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, pa.field("prediction", pa.string())])

CONFIG_TOML = f"""\
# The synthetic set of `driftdeck bench` (generator version {GENERATOR_VERSION}).
[data]
reference = "reference/reference.parquet"
inputs = "production/inputs.parquet"
predictions = "production/predictions.parquet"

[columns]
timestamp = "timestamp"
id = "request_id"
target = "{demo.TARGET}"
prediction = "prediction"
high_cardinality = ["address"]
"""


def reference_rows(rows: int) -> int:
    return max(1, rows // 10)


def measurements(rng: np.random.Generator, day: np.ndarray) -> dict[str, pa.Array]:
    """The bench's extra measurements of each listing; some drift as the demo's market does."""
    n = len(day)
    shift = np.clip((day - demo.DRIFT_STARTS) / (demo.DAYS - demo.DRIFT_STARTS), 0.0, 1.0)
    columns = {
        "floor_number": np.minimum(rng.poisson(4.0, n), 40).astype(float),
        "distance_to_center_km": np.round(rng.lognormal(np.log(8.0) + 0.35 * shift, 0.6), 3),
        "latitude": 41.02 + rng.normal(0.0, 0.07, n) + 0.02 * shift,
        "longitude": 28.98 + rng.normal(0.0, 0.15, n),
        "monthly_fee": np.round(rng.lognormal(np.log(900.0), 0.45, n) * (1 + 0.25 * shift), 2),
        "area_price_per_sqm": np.round(rng.lognormal(9.6, 0.3, n) * (1 + 0.1 * shift)),
        "crime_index": rng.beta(2.0, 5.0, n) * 100,
        "school_score": np.round(np.clip(rng.normal(70.0, 10.0, n), 0, 100), 1),
    }
    return {name: pa.array(values) for name, values in columns.items()}


def _predicted(rng: np.random.Generator, seen_price: np.ndarray) -> pa.Array:
    """The class a model reading the listing would predict: the seen price, a little noisy."""
    score = seen_price + rng.normal(0.0, 0.08, len(seen_price))
    return demo.price_class(score)


def _write(path: Path, schema: pa.Schema, tables) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)


def _table(columns: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _reference(rows: int, pool: int, progress: Progress):
    done = 0
    for number, columns in enumerate(demo.reference_chunks(SEED, rows, pool)):
        n = len(columns[demo.TARGET])
        rng = np.random.default_rng([SEED, _STREAM_MEASUREMENTS, 0, number])
        columns.update(measurements(rng, np.zeros(n)))
        done += n
        progress(f"reference rows {done:,}/{rows:,}")
        yield _table(columns, REFERENCE_SCHEMA)


def _production(rows: int, pool: int, progress: Progress):
    """Pairs of (inputs, predictions) tables, in time order."""
    done = 0
    for number, offset, columns in demo.production_chunks(SEED, rows, pool, START, True):
        day = offset / 86_400_000_000
        columns.update(
            measurements(np.random.default_rng([SEED, _STREAM_MEASUREMENTS, 1, number]), day)
        )
        model = np.random.default_rng([SEED, _STREAM_MODEL, number])
        columns["prediction"] = _predicted(model, columns[demo.SEEN_PRICE])
        done += len(day)
        progress(f"production rows {done:,}/{rows:,}")
        yield _table(columns, INPUTS_SCHEMA), _table(columns, PREDICTIONS_SCHEMA)


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
    pool = demo.address_pool_size(rows)
    try:
        reference = _reference(reference_rows(rows), pool, progress)
        _write(building / "reference" / "reference.parquet", REFERENCE_SCHEMA, reference)
        inputs_path = building / "production" / "inputs.parquet"
        predictions_path = building / "production" / "predictions.parquet"
        inputs_path.parent.mkdir(parents=True)
        with (
            pq.ParquetWriter(inputs_path, INPUTS_SCHEMA) as inputs,
            pq.ParquetWriter(predictions_path, PREDICTIONS_SCHEMA) as preds,
        ):
            for inp, pred in _production(rows, pool, progress):
                inputs.write_table(inp, row_group_size=ROW_GROUP_ROWS)
                preds.write_table(pred, row_group_size=ROW_GROUP_ROWS)
        (building / "driftdeck.toml").write_text(CONFIG_TOML, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return config


def link_or_copy(source: Path, target: Path) -> None:
    """The same file under a second name (a copy where the file system has no hard links)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


APPEND_SHARE = 0.01
"""The append step's new file: this share of the production rows."""


def append_set(out: Path, rows: int, progress: Progress) -> tuple[Path, dict[str, Path]]:
    """The append step's world: the synthetic set's files as the first day in folders (linked,
    not copied), and a new day of ``APPEND_SHARE`` of its rows to copy in (the set's last rows,
    a day later). Returns its config and the new files by role folder (cached like the set)."""
    source = synthetic_set(out, rows, progress).parent
    folder = out / f"append-{rows}-g{GENERATOR_VERSION}"
    config = folder / "driftdeck.toml"
    new = {role: folder / "new" / f"{role}.parquet" for role in ("inputs", "predictions")}
    if config.is_file():
        return config, new
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "new").mkdir(parents=True)
    link_or_copy(source / "reference" / "reference.parquet", folder / "reference.parquet")
    progress("the append step's new file")
    for role in ("inputs", "predictions"):
        (folder / role).mkdir()
        original = source / "production" / f"{role}.parquet"
        link_or_copy(original, folder / role / "day-000.parquet")
        whole = pq.ParquetFile(original)
        total = whole.metadata.num_rows
        count = max(1, int(total * APPEND_SHARE))
        # Only the row groups holding the last rows are read (memory stays flat at 100M).
        first, before = whole.metadata.num_row_groups, total
        while first > 0 and total - before < count:
            first -= 1
            before -= whole.metadata.row_group(first).num_rows
        groups = whole.read_row_groups(range(first, whole.metadata.num_row_groups))
        last = groups.slice(len(groups) - count)
        day = pa.scalar(86_400_000_000, pa.duration("us"))
        column = last.schema.get_field_index("timestamp")
        last = last.set_column(column, "timestamp", pc.add(last["timestamp"], day))
        pq.write_table(last, new[role], row_group_size=ROW_GROUP_ROWS)
    text = (source / "driftdeck.toml").read_text(encoding="utf-8")
    for old, path in (
        ("reference/reference.parquet", "reference.parquet"),
        ("production/inputs.parquet", "inputs"),
        ("production/predictions.parquet", "predictions"),
    ):
        text = text.replace(f'"{old}"', f'"{path}"')
    config.write_text(text, encoding="utf-8")
    return config, new
