"""The demo world: a housing market, its model in MLflow, and 30 drifting days of production.

``build_demo(out)`` writes ``out/driftdeck.toml``, ``out/mlflow.db`` (+ ``out/mlartifacts``),
``out/data/reference/reference.parquet`` and ``out/data/production/{inputs,predictions,labels}.parquet``.

The story, told by the data (day 1 is the first of the 30 production days):
- days 1-10: production looks like the reference;
- days 11-30: buyers move to the larger, cheaper outskirts, and listings inflate their gross
  square metres more each day (the flats, and so their prices, stay the same): the model
  predicts ever higher categories and its accuracy slips while labels still arrive;
- days 21-30: a new district (never in the reference) opens and a flood of new addresses arrives;
  in one district (Kadikoy) new developments list ever more new builds, a drift of
  building_age inside that district alone;
- days 21-30: a challenger serves a random 20 % of the requests. On day 20 the team retrained
  the production model on its training listings plus a few hundred labelled listings of days
  11-16 (the labels known by then) and registered it as a new version with the ``staging``
  alias; having seen some inflated listings it is a little more accurate on the drifted market
  (about 5-7 points). Every prediction names the registry version that served it
  (``model_version``), and its ``probability`` is that version's;
- labels (delayed ground truth) arrive three days late: days 28-30 have none yet, and their
  accuracy is estimated from the model's confidence (CBPE).

Everything is drawn from ``numpy.random.Generator`` streams keyed by (seed, purpose, chunk), so
the same seed and ``now`` give identical tables whatever the machine. Production is generated,
predicted and written one chunk at a time, so memory stays flat as ``rows`` grows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.demo_market import (
    CATEGORICAL,
    CHUNK_ROWS,
    CLASSES,
    DAYS,
    DISTRICT_NAMES,
    DRIFT_STARTS,
    FEATURE_SCHEMA,
    FEATURES,
    HIGH_CARDINALITY,
    NEW_DISTRICT,
    NUMERICAL,
    STREAM_RECENT,
    STREAM_SERVING,
    STREAM_TRAINING,
    TARGET,
    address_pool_size,
    market,
    production_chunks,
    reference_chunks,
    reference_rows,
    stream_rng,
)
from app.errors import DriftdeckError
from app.progress import Progress, quiet

if TYPE_CHECKING:  # scikit-learn and MLflow load only when the demo is built
    from app.demo_model import ServedModel

__all__ = [  # the market's names that tests and callers read from the demo
    "CATEGORICAL", "CLASSES", "DISTRICT_NAMES", "NEW_DISTRICT", "NUMERICAL", "market",
    "reference_rows", "DemoFiles", "build_demo", "config_text",
]  # fmt: skip

LABELLED_DAYS = 27  # ground truth arrives three days late: the last days have none yet
LABEL_DELAY = DAYS - LABELLED_DAYS
CHALLENGER_STARTS = 20  # days before the staging version serves part of the traffic
CHALLENGER_SHARE = 0.2  # of the requests from then on, each drawn independently
RETRAINED_DAY = CHALLENGER_STARTS - 1  # the challenger was trained as day 20 began
# It also learned from this many labelled production listings of days 11-16 (what was labelled
# by then): enough to make it a little more accurate on the drifted market, not to undo the drift.
RECENT_ROWS = 200

ROW_GROUP_ROWS = 1 << 17  # divides CHUNK_ROWS, so every file has the same row groups
TRAINING_ROWS = 8_000
TEST_ROWS = 2_000


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo world lives inside ``out``."""

    out: Path

    @property
    def config(self) -> Path:
        return self.out / "driftdeck.toml"

    @property
    def mlflow_db(self) -> Path:
        return self.out / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.out / "mlartifacts"

    @property
    def reference(self) -> Path:
        return self.out / "data" / "reference" / "reference.parquet"

    @property
    def inputs(self) -> Path:
        return self.out / "data" / "production" / "inputs.parquet"

    @property
    def predictions(self) -> Path:
        return self.out / "data" / "production" / "predictions.parquet"

    @property
    def labels(self) -> Path:
        return self.out / "data" / "production" / "labels.parquet"

    def foreign(self) -> list[Path]:
        """What already sits where the demo writes without an earlier demo having written it:
        the demo never replaces a user's config, MLflow store or data."""
        if self.config.is_file() and self.config.read_bytes().startswith(CONFIG_MARK.encode()):
            return []  # an earlier demo world (its config is written first)
        paths = (self.config, self.mlflow_db, self.artifacts, self.reference, self.inputs)
        paths += (self.predictions, self.labels)
        return [p for p in paths if p.exists() or p.is_symlink()]


REFERENCE_SCHEMA = FEATURE_SCHEMA.append(pa.field(TARGET, pa.string()))
_TIMESTAMP = pa.field("timestamp", pa.timestamp("us"))
_REQUEST_ID = pa.field("request_id", pa.string())
INPUTS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, *FEATURE_SCHEMA])
PREDICTIONS_SCHEMA = pa.schema(
    [
        _TIMESTAMP,
        _REQUEST_ID,
        ("prediction", pa.string()),
        ("probability", pa.float64()),
        ("model_version", pa.string()),
    ]
)
LABELS_SCHEMA = pa.schema([_REQUEST_ID, _TIMESTAMP, (TARGET, pa.string())])


def _market_table(columns: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # No pandas metadata and no wall-clock values: the bytes depend only on the data.
    return pq.ParquetWriter(path, schema, compression="snappy", write_statistics=True)


def _write(writer: pq.ParquetWriter, table: pa.Table) -> None:
    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)


def _training_sample(seed: int, pool: int) -> tuple[pa.Table, pa.Table]:
    """Listings the model learns from and is scored on, drawn from the stable market."""
    columns = market(stream_rng(seed, STREAM_TRAINING), np.zeros(TRAINING_ROWS + TEST_ROWS), pool)
    table = _market_table(columns, REFERENCE_SCHEMA)
    return table.slice(0, TRAINING_ROWS), table.slice(TRAINING_ROWS)


def _recent_labelled(seed: int, pool: int) -> pa.Table:
    """The labelled production listings the challenger was retrained on as well (days 11-16)."""
    rng = stream_rng(seed, STREAM_RECENT)
    day = rng.uniform(DRIFT_STARTS, RETRAINED_DAY - LABEL_DELAY, RECENT_ROWS)
    return _market_table(market(rng, day, pool), REFERENCE_SCHEMA)


def _write_reference(path: Path, seed: int, rows: int, pool: int) -> None:
    with _writer(path, REFERENCE_SCHEMA) as writer:
        for columns in reference_chunks(seed, rows, pool):
            _write(writer, _market_table(columns, REFERENCE_SCHEMA))


def _write_production(
    files: dict[str, Path],
    models: dict[str, ServedModel],
    seed: int,
    rows: int,
    pool: int,
    start: datetime,
    progress: Progress,
) -> None:
    from app.demo_model import model_input, predict

    production, staging = models["production"], models["staging"]
    labelled_until = LABELLED_DAYS * 86_400_000_000
    chunks = -(-rows // CHUNK_ROWS)
    with (
        _writer(files["inputs"], INPUTS_SCHEMA) as inputs,
        _writer(files["predictions"], PREDICTIONS_SCHEMA) as predictions,
        _writer(files["labels"], LABELS_SCHEMA) as labels,
    ):
        for number, offset, columns in production_chunks(seed, rows, pool, start):
            first = number * CHUNK_ROWS
            stop = first + len(offset)
            table = _market_table(columns, INPUTS_SCHEMA)
            _write(inputs, table)

            # Each request is served by one version: the challenger's share from day 21 on.
            challenger = (offset >= CHALLENGER_STARTS * 86_400_000_000) & (
                stream_rng(seed, STREAM_SERVING, number).random(stop - first) < CHALLENGER_SHARE
            )
            frame = model_input(table.select(FEATURES), NUMERICAL)
            predicted = np.empty(stop - first, dtype=object)
            probability = np.empty(stop - first)
            for served, rows_served in ((production, ~challenger), (staging, challenger)):
                if rows_served.any():
                    predicted[rows_served], probability[rows_served] = predict(
                        served.model, frame[rows_served]
                    )
            del frame
            columns["prediction"] = pa.array(predicted, pa.string())
            columns["probability"] = pa.array(np.round(probability, 4))
            columns["model_version"] = pa.array(
                np.where(challenger, staging.version, production.version), pa.string()
            )
            _write(predictions, _market_table(columns, PREDICTIONS_SCHEMA))

            known = int(np.searchsorted(offset, labelled_until))
            if known:
                _write(labels, _market_table(columns, LABELS_SCHEMA).slice(0, known))
            if chunks > 1 and (10 * stop // rows) > (10 * first // rows):  # every tenth
                progress(f"production: {stop:,} of {rows:,} rows")


CONFIG_MARK = "# Driftdeck demo world, written by `driftdeck demo`"
"""How the demo's config begins: a folder whose config begins so holds a demo world."""


def config_text() -> str:
    """The demo's ``driftdeck.toml``; every path is relative to the file's folder."""

    def names(values: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return f'''{CONFIG_MARK}; paths are relative to this file.

[data]
reference = "data/reference/reference.parquet"
inputs = "data/production/inputs.parquet"
predictions = "data/production/predictions.parquet"
labels = "data/production/labels.parquet"

[columns]
timestamp = "timestamp"
id = "request_id"
target = "{TARGET}"
prediction = "prediction"
numerical = {names(NUMERICAL)}
categorical = {names(CATEGORICAL)}
high_cardinality = {names(HIGH_CARDINALITY)}
probability = "probability"
model_version = "model_version"
segments = ["district"]

[thresholds]
psi = {{ critical = 0.25, warning = 0.10 }}
cardinality_ratio = {{ critical = 1.3, warning = 1.15 }}
prediction_kl = {{ critical = 0.15, warning = 0.10 }}
accuracy_drop = {{ critical = 0.10, warning = 0.05 }}

[monitoring]
window = "7d"   # the default window: the 7 days up to the newest production row ("all": every row)

[mlflow]
tracking_uri = "sqlite:///mlflow.db"
training_experiment = "training"
monitoring_experiment = "monitoring"
registered_model = "HousingPriceClassifier"
timeout_seconds = 5

[server]
port = 8501
refresh_seconds = 30
'''


def _utc_naive(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _publish_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database over ``target`` with SQLite's backup API.

    Unlike replacing the file, this updates the database that open connections (a running
    dashboard, MLflow's cached engines) already hold.
    """
    with closing(sqlite3.connect(source)) as built:
        try:
            with closing(sqlite3.connect(target)) as published:
                built.backup(published)
        except sqlite3.DatabaseError:  # not a database we can write into: start afresh
            target.unlink()
            with closing(sqlite3.connect(target)) as published:
                built.backup(published)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def build_demo(
    out: Path,
    rows: int = 100_000,
    seed: int = 0,
    now: datetime | None = None,
    progress: Progress = quiet,
) -> None:
    """Write the demo world into ``out``: config, MLflow store, reference and 30 days of production.

    ``rows`` production rows end at ``now`` (naive UTC; default: this second). The same ``seed``
    and ``now`` give the same data. Only an earlier demo world's files in ``out`` are replaced
    (the config, the four parquet files, ``mlflow.db`` and ``mlartifacts/``); anything else in
    their place is a clear error.
    """
    from app.demo_model import REGISTERED_MODEL, create_store, model_input, train_and_register

    if rows < 1:
        raise DriftdeckError(f"demo: rows must be positive, got {rows}")
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise DriftdeckError(f"{out}: is not a folder, cannot build the demo world in it")
    now = _utc_naive(now)
    start = now - timedelta(days=DAYS)
    files = DemoFiles(out)
    pool = address_pool_size(rows)
    foreign = files.foreign()
    if foreign:
        raise DriftdeckError(
            f"{foreign[0]}: already exists and was not written by driftdeck demo; "
            "build the demo world in an empty folder (driftdeck demo --out DIR)"
        )

    files.reference.parent.mkdir(parents=True, exist_ok=True)
    files.inputs.parent.mkdir(parents=True, exist_ok=True)
    # The config first: a build stopped halfway leaves a folder a new build may replace.
    files.config.write_text(config_text(), encoding="utf-8")
    _remove(files.artifacts)

    progress(f"training {REGISTERED_MODEL} in MLflow ({files.mlflow_db})")
    train, test = _training_sample(seed, pool)
    recent = _recent_labelled(seed, pool)
    # MLflow keeps a store per URI for the life of the process, so a store rebuilt in place would
    # be read through the old one: build under a fresh name, then copy it into mlflow.db.
    handle, building = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=out)
    os.close(handle)
    try:
        models = train_and_register(
            create_store(Path(building)),
            files.artifacts,
            model_input(train, NUMERICAL),
            model_input(test, NUMERICAL),
            model_input(recent, NUMERICAL),
            target=TARGET,
            numerical=NUMERICAL,
            categorical=CATEGORICAL,
            classes=CLASSES,
            trained_at=start - timedelta(days=2),
            retrained_at=start + timedelta(days=RETRAINED_DAY),
            recent_source=(
                f"labelled production listings of days {DRIFT_STARTS + 1}-"
                f"{RETRAINED_DAY - LABEL_DELAY}"
            ),
            progress=progress,
        )
        _publish_sqlite(Path(building), files.mlflow_db)
    finally:
        Path(building).unlink(missing_ok=True)

    # Write beside the final files and swap them in at the end: a dashboard reading the folder
    # meanwhile never meets a half-written parquet file.
    final = {
        "reference": files.reference,
        "inputs": files.inputs,
        "predictions": files.predictions,
        "labels": files.labels,
    }
    partial = {role: path.with_name(path.name + ".partial") for role, path in final.items()}
    try:
        count = reference_rows(rows)
        progress(f"reference: {count:,} rows")
        _write_reference(partial["reference"], seed, count, pool)
        progress(
            f"production: {rows:,} rows from {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC"
        )
        _write_production(partial, models, seed, rows, pool, start, progress)
        for role, path in final.items():
            os.replace(partial[role], path)
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)

    from app.config import load_config
    from app.monitoring_history import backfill

    progress("monitoring history: one monitor run per production day")
    backfill(load_config(files.config), start, now, progress)
    progress(f"demo world ready: {files.config}")
