"""The demo world (SPEC §9): a housing market, its model in MLflow, and 30 drifting days of production.

``build_demo(out)`` writes ``out/driftdeck.toml``, ``out/mlflow.db`` (+ ``out/mlartifacts``),
``out/data/reference/reference.parquet`` and ``out/data/production/{inputs,predictions,labels}.parquet``.

The story, told by the data (day 1 is the first of the 30 production days):
- days 1-10: production looks like the reference;
- days 11-30: buyers move to the larger, cheaper outskirts and square metres inflate, more each
  day; prices rise with them, so the model's accuracy slips while labels still arrive;
- days 21-30: a new district (never in the reference) opens and a flood of new addresses arrives;
- labels (delayed ground truth) exist only for days 1-20.

Everything is drawn from ``numpy.random.Generator`` streams keyed by (seed, purpose, chunk), so
the same seed and ``now`` give identical tables whatever the machine. Production is generated,
predicted and written one chunk at a time, so memory stays flat as ``rows`` grows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app.progress import Progress, quiet

NUMERICAL = ("gross_sqm", "net_sqm", "building_age", "rooms")
CATEGORICAL = ("district", "heating_type", "structure_type", "floor_location", "subscription")
HIGH_CARDINALITY = ("address",)
FEATURES = NUMERICAL + CATEGORICAL + HIGH_CARDINALITY
TARGET = "price_category"
CLASSES = ("low", "medium", "high")

DAYS = 30
DRIFT_STARTS = 10  # days of calm before the mix shift and the inflation begin
NEW_DISTRICT_OPENS = 20  # days before the new district and the address flood appear
LABELLED_DAYS = 20  # ground truth arrives late: only the first days have it

CHUNK_ROWS = 1 << 20  # rows generated, predicted and written at a time
ROW_GROUP_ROWS = 1 << 17  # divides CHUNK_ROWS, so every file has the same row groups
TRAINING_ROWS = 8_000
TEST_ROWS = 2_000

# name, share before the shift, share after it, log price level per m², log size, mean age
_DISTRICTS = (
    ("Kadikoy", 0.10, 0.07, 0.45, 0.00, 32),
    ("Besiktas", 0.07, 0.05, 0.55, 0.02, 35),
    ("Sisli", 0.08, 0.06, 0.35, -0.05, 38),
    ("Uskudar", 0.09, 0.07, 0.25, 0.00, 28),
    ("Sariyer", 0.05, 0.04, 0.60, 0.15, 22),
    ("Bakirkoy", 0.07, 0.05, 0.40, 0.03, 30),
    ("Atasehir", 0.08, 0.07, 0.20, 0.05, 15),
    ("Maltepe", 0.08, 0.08, 0.05, 0.00, 22),
    ("Kartal", 0.07, 0.08, -0.10, 0.00, 20),
    ("Pendik", 0.07, 0.09, -0.20, 0.04, 16),
    ("Bahcelievler", 0.06, 0.06, -0.15, -0.06, 27),
    ("Basaksehir", 0.06, 0.09, -0.05, 0.10, 10),
    ("Beylikduzu", 0.05, 0.09, -0.25, 0.08, 9),
    ("Esenyurt", 0.07, 0.10, -0.45, 0.02, 11),
)
NEW_DISTRICT = ("Arnavutkoy", -0.30, 0.12, 2)  # name, price level, log size, mean age
DISTRICT_NAMES = tuple(d[0] for d in _DISTRICTS) + (NEW_DISTRICT[0],)
_SHARE_BEFORE = np.array([d[1] for d in _DISTRICTS])
_SHARE_AFTER = np.array([d[2] for d in _DISTRICTS])
_PRICE_LEVEL = np.array([d[3] for d in _DISTRICTS] + [NEW_DISTRICT[1]])
_SIZE = np.array([d[4] for d in _DISTRICTS] + [NEW_DISTRICT[2]])
_AGE = np.array([d[5] for d in _DISTRICTS] + [NEW_DISTRICT[3]], dtype=float)

_STREETS = (
    "Ataturk Street", "Cumhuriyet Street", "Inonu Street", "Bagdat Avenue", "Lale Street",
    "Gul Street", "Papatya Street", "Menekse Street", "Cinar Street", "Akasya Street",
    "Ihlamur Street", "Okul Street", "Istasyon Street", "Park Street", "Deniz Street",
    "Bahar Street", "Yildiz Street", "Gunes Street", "Zambak Street", "Sedir Street",
    "Meydan Street", "Pazar Street", "Kavak Street", "Nergis Street", "Karanfil Street",
    "Orkide Street", "Mimoza Street", "Defne Street", "Cami Street", "Fatih Avenue",
)  # fmt: skip
_NEW_STREETS = (
    "Vadi Street", "Panorama Avenue", "Koru Street", "Yeni Yasam Street", "Gokkusagi Street",
    "Manzara Street", "Ufuk Avenue", "Liman Street", "Kule Street", "Bulvar Avenue",
    "Mavi Street", "Yesil Vadi Street", "Havalimani Avenue", "Gol Street", "Park Evler Street",
)  # fmt: skip
_NEW_STREET_NUMBERS = 2_000  # building numbers on the new streets: a big space of new addresses

# category, effect on the log price, shares for buildings new (< 10 y), mid-aged and old (> 30 y)
_HEATING = (
    ("natural_gas_combi", 0.00, 0.55, 0.60, 0.45),
    ("central", 0.03, 0.10, 0.25, 0.25),
    ("floor_heating", 0.08, 0.30, 0.05, 0.05),
    ("air_conditioning", -0.05, 0.05, 0.05, 0.05),
    ("stove", -0.15, 0.00, 0.05, 0.20),
)
_STRUCTURE = (
    ("reinforced_concrete", 0.00, 0.85, 0.85, 0.60),
    ("steel", 0.05, 0.10, 0.02, 0.00),
    ("masonry", -0.08, 0.00, 0.08, 0.30),
    ("wood", -0.10, 0.00, 0.00, 0.05),
    ("prefabricated", -0.06, 0.05, 0.05, 0.05),
)
_FLOORS = (
    ("basement", -0.20, 0.05),
    ("ground", -0.05, 0.15),
    ("low", 0.00, 0.30),
    ("middle", 0.03, 0.30),
    ("high", 0.06, 0.15),
    ("top", 0.02, 0.05),
)
# utility subscriptions already connected; brand-new buildings often have none yet
_SUBSCRIPTION = (
    ("complete", 0.00, 0.55, 0.88),
    ("partial", -0.03, 0.15, 0.09),
    ("none", -0.08, 0.30, 0.03),
)
_ROOMS = np.array([1, 2, 3, 4, 5, 6])
_ROOM_SHARES = np.array([0.07, 0.22, 0.38, 0.22, 0.08, 0.03])

# Class boundaries on the log price, fixed so that the reference market splits about evenly.
_LOW_BELOW, _HIGH_FROM = 4.52, 4.93
_PRICE_NOISE = 0.12
_MISSING = {"building_age": 0.02, "net_sqm": 0.01, "heating_type": 0.015}

# Drift strengths at the end of the 30 days
_SQM_INFLATION = 0.30  # gross m² of listings grow by this share
_MARKET_RISE = 0.10  # log prices rise this much beyond what the features explain
_NEW_DISTRICT_SHARE = (0.05, 0.20)  # share of rows in the new district on day 21 and day 30
_ADDRESS_FLOOD = (0.10, 0.45)  # share of other rows with a never-seen address, day 21 and day 30

_STREAM_REFERENCE, _STREAM_PRODUCTION, _STREAM_TRAINING, _STREAM_TIMES = 1, 2, 3, 4


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


FEATURE_SCHEMA = pa.schema(
    [
        ("gross_sqm", pa.float64()),
        ("net_sqm", pa.float64()),
        ("building_age", pa.int64()),
        ("rooms", pa.int64()),
        ("district", pa.string()),
        ("heating_type", pa.string()),
        ("structure_type", pa.string()),
        ("floor_location", pa.string()),
        ("subscription", pa.string()),
        ("address", pa.string()),
    ]
)
REFERENCE_SCHEMA = FEATURE_SCHEMA.append(pa.field(TARGET, pa.string()))
_TIMESTAMP = pa.field("timestamp", pa.timestamp("us"))
_REQUEST_ID = pa.field("request_id", pa.string())
INPUTS_SCHEMA = pa.schema([_TIMESTAMP, _REQUEST_ID, *FEATURE_SCHEMA])
PREDICTIONS_SCHEMA = pa.schema(
    [_TIMESTAMP, _REQUEST_ID, ("prediction", pa.string()), ("probability", pa.float64())]
)
LABELS_SCHEMA = pa.schema([_REQUEST_ID, _TIMESTAMP, (TARGET, pa.string())])


def reference_rows(rows: int) -> int:
    """Rows of the reference set for ``rows`` production rows: a fifth, within [5 000, 1 000 000]."""
    return max(5_000, min(1_000_000, rows // 5))


def address_pool_size(rows: int) -> int:
    """Distinct addresses of the stable market: small enough that the reference sees nearly all."""
    return max(len(_DISTRICTS), reference_rows(rows) // 4)


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


def _ramp(day: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 before ``start``, 1 from ``end``, linear between."""
    return np.clip((day - start) / (end - start), 0.0, 1.0)


def _pick(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with the given shares (one row of shares per row, or one for all)."""
    cumulative = np.cumsum(shares, axis=-1)
    u = rng.random(n) * cumulative[..., -1]
    if cumulative.ndim == 1:
        return np.searchsorted(cumulative, u, side="right")
    return (u[:, None] >= cumulative).sum(axis=1)


def _by_age(rng: np.random.Generator, table: tuple, age: np.ndarray) -> np.ndarray:
    """Categories whose shares depend on the building's age (new, mid-aged, old)."""
    shares = np.array([row[2:5] for row in table]).T  # (3 age groups, categories)
    group = np.where(age < 10, 0, np.where(age > 30, 2, 1))
    return _pick(rng, shares[group], len(age))


def _strings(values: tuple[str, ...], index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(values).take(pa.array(index, mask=missing))


def market(rng: np.random.Generator, day: np.ndarray | None, pool: int) -> dict[str, pa.Array]:
    """One listing per row, as of ``day`` (days since production began; None = the reference market).

    Returns the feature columns and the true ``price_category``.
    """
    n = pool if day is None and False else (len(day) if day is not None else 0)
    raise NotImplementedError(n)
