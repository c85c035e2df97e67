"""The demo's housing market: listings as of any production day, drawn a chunk at a time.

``market(rng, day, pool)`` is one listing per row with the story of the 30 production days told by
its drift (``app.demo`` tells it); ``reference_chunks`` and ``production_chunks`` draw the
reference and production markets of any size, so memory stays flat as rows grow. The demo world
(``app.demo``) and ``driftdeck bench``'s synthetic set (``app.bench_data``) are both drawn here.
Everything comes from ``numpy.random.Generator`` streams keyed by (seed, purpose, chunk).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUMERICAL = ("gross_sqm", "net_sqm", "building_age", "rooms")
CATEGORICAL = ("district", "heating_type", "structure_type", "floor_location", "subscription")
HIGH_CARDINALITY = ("address",)
FEATURES = NUMERICAL + CATEGORICAL + HIGH_CARDINALITY
TARGET = "price_category"
SEEN_PRICE = "seen_log_price"  # a column of ``market(..., seen_price=True)`` only
CLASSES = ("low", "medium", "high")

DAYS = 30
DRIFT_STARTS = 10  # days of calm before the mix shift and the inflation begin
NEW_DISTRICT_OPENS = 20  # days before the new district and the address flood appear
RENEWED_DISTRICT = "Kadikoy"  # where new builds flood in over days 21-30
_RENEWAL_SHARE = 0.8  # of its listings by day 30
CHUNK_ROWS = 1 << 18  # rows generated, predicted and written at a time (~150 MB of work space)


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
# The district that opens on day 21: new builds near the new airport, never in the reference.
NEW_DISTRICT = "Arnavutkoy"
_NEW_DISTRICT_MARKET = (NEW_DISTRICT, None, None, -0.30, 0.12, 2)
DISTRICT_NAMES = tuple(d[0] for d in _DISTRICTS) + (NEW_DISTRICT,)
_SHARE_BEFORE = np.array([d[1] for d in _DISTRICTS])
_SHARE_AFTER = np.array([d[2] for d in _DISTRICTS])
_PRICE_LEVEL = np.array([d[3] for d in (*_DISTRICTS, _NEW_DISTRICT_MARKET)])
_SIZE = np.array([d[4] for d in (*_DISTRICTS, _NEW_DISTRICT_MARKET)])
_AGE = np.array([d[5] for d in (*_DISTRICTS, _NEW_DISTRICT_MARKET)], dtype=float)

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
_LOW_BELOW, _HIGH_FROM = 4.43, 4.87
_PRICE_NOISE = 0.16
_MISSING = {"building_age": 0.02, "net_sqm": 0.01, "heating_type": 0.015}

# Drift strengths at the end of the 30 days
# More and more listings quote gross area with shared spaces included: the reported gross m²
# grows by up to this share (fast at first, then slower) while the flats stay what they were.
_SQM_INFLATION = 0.60
_NEW_DISTRICT_SHARE = (0.05, 0.20)  # share of rows in the new district on day 21 and day 30
_ADDRESS_FLOOD = (0.10, 0.45)  # share of other rows with a never-seen address, day 21 and day 30

STREAM_REFERENCE, STREAM_PRODUCTION, STREAM_TRAINING, STREAM_TIMES = 1, 2, 3, 4
STREAM_RECENT, STREAM_SERVING = 5, 6


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


def reference_rows(rows: int) -> int:
    """Rows of the reference set for ``rows`` production rows: a fifth, within [5 000, 1 000 000]."""
    return max(5_000, min(1_000_000, rows // 5))


def address_pool_size(rows: int) -> int:
    """Distinct addresses of the stable market: small enough that the reference sees nearly all."""
    return max(len(_DISTRICTS), reference_rows(rows) // 4)


def stream_rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    """The random numbers of one purpose (``STREAM_*``) and chunk: independent of every other."""
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


def _strings(
    values: tuple[str, ...], index: np.ndarray, missing: np.ndarray | None = None
) -> pa.Array:
    return pa.array(values).take(pa.array(index, mask=missing))


def market(
    rng: np.random.Generator, day: np.ndarray, pool: int, seen_price: bool = False
) -> dict[str, pa.Array]:
    """One listing per row as of ``day`` (days since production began; 0 = the reference market).

    Returns the feature columns and the true ``price_category``. ``pool`` is the number of
    distinct addresses of the stable market. With ``seen_price`` also ``SEEN_PRICE``: the log
    price the listing appears to have, its inflated gross area taken at face value (what a model
    that reads the listing would estimate; ``driftdeck bench`` predicts from it). It draws no
    random numbers, so the other columns are the same either way.
    """
    n = len(day)
    shift = _ramp(day, DRIFT_STARTS, DAYS)
    opened = day >= NEW_DISTRICT_OPENS
    since_opening = _ramp(day, NEW_DISTRICT_OPENS, DAYS)

    # The district mix moves from one set of shares to another: a mixture of the two.
    district = np.where(
        rng.random(n) < shift, _pick(rng, _SHARE_AFTER, n), _pick(rng, _SHARE_BEFORE, n)
    )
    lo, hi = _NEW_DISTRICT_SHARE
    in_new_district = opened & (rng.random(n) < lo + (hi - lo) * since_opening)
    district = np.where(in_new_district, len(_DISTRICTS), district)

    rooms = _ROOMS[_pick(rng, _ROOM_SHARES, n)]
    log_gross = np.log(20 + 28 * rooms) + _SIZE[district] + rng.normal(0.0, 0.16, n)
    gross = np.round(np.exp(log_gross), 1)
    net = np.round(gross * rng.uniform(0.78, 0.90, n), 1)
    reported_gross = np.round(gross * (1 + _SQM_INFLATION * shift**0.7), 1)
    age = np.minimum(np.round(rng.gamma(2.0, _AGE[district] / 2.0)), 80).astype(np.int64)
    # One district's own drift: from day 21 a wave of new developments in Kadikoy lists ever more
    # new builds there (nowhere else), so segment attribution has something true to find.
    renewal = (district == DISTRICT_NAMES.index(RENEWED_DISTRICT)) & (
        rng.random(n) < _RENEWAL_SHARE * since_opening
    )
    age = np.where(renewal, rng.integers(0, 3, n), age)

    heating = _by_age(rng, _HEATING, age)
    structure = _by_age(rng, _STRUCTURE, age)
    floor = _pick(rng, np.array([f[2] for f in _FLOORS]), n)
    subscription_shares = np.array([[s[2] for s in _SUBSCRIPTION], [s[3] for s in _SUBSCRIPTION]])
    subscription = _pick(rng, subscription_shares[(age >= 2).astype(int)], n)

    log_price = (
        np.log(gross)
        + _PRICE_LEVEL[district]
        - 0.007 * age
        + np.where(age < 5, 0.10, 0.0)  # new builds sell at a premium
        - 0.4 * np.maximum(0.0, np.log(gross / 160))  # very large flats sell for less per m²
        + _effects(_HEATING)[heating]
        + _effects(_STRUCTURE)[structure]
        + _effects(_FLOORS)[floor]
        + _effects(_SUBSCRIPTION)[subscription]
        + rng.normal(0.0, _PRICE_NOISE, n)
    )

    # Addresses: the stable market reuses a fixed pool; the flood and the new district bring new ones.
    lo, hi = _ADDRESS_FLOOD
    new_address = in_new_district | (opened & (rng.random(n) < lo + (hi - lo) * since_opening))
    pool_sizes = np.maximum(1, np.round(pool * _SHARE_BEFORE)).astype(np.int64)
    pool_sizes = np.append(pool_sizes, 1)  # the new district has no old addresses
    k = np.floor(rng.random(n) * pool_sizes[district]).astype(np.int64)
    street = (k + 11 * district) % len(_STREETS)
    number = k // len(_STREETS) + 1
    street = np.where(new_address, len(_STREETS) + rng.integers(0, len(_NEW_STREETS), n), street)
    number = np.where(new_address, rng.integers(1, _NEW_STREET_NUMBERS + 1, n), number)
    district_names = _strings(DISTRICT_NAMES, district)
    address = pc.binary_join_element_wise(
        _strings(_STREETS + _NEW_STREETS, street),
        " No. ",
        pc.cast(pa.array(number), pa.string()),
        ", ",
        district_names,
        "",
    )

    missing = {name: rng.random(n) < share for name, share in _MISSING.items()}
    seen = {SEEN_PRICE: log_price + np.log(reported_gross / gross)} if seen_price else {}
    return {
        **seen,
        "gross_sqm": pa.array(reported_gross),
        "net_sqm": pa.array(net, mask=missing["net_sqm"]),
        "building_age": pa.array(age, mask=missing["building_age"]),
        "rooms": pa.array(rooms.astype(np.int64)),
        "district": district_names,
        "heating_type": _strings(_names(_HEATING), heating, missing["heating_type"]),
        "structure_type": _strings(_names(_STRUCTURE), structure),
        "floor_location": _strings(_names(_FLOORS), floor),
        "subscription": _strings(_names(_SUBSCRIPTION), subscription),
        "address": address,
        TARGET: price_class(log_price),
    }


def price_class(log_price: np.ndarray) -> pa.Array:
    """The price category of each log price: low, medium or high."""
    category = np.where(log_price < _LOW_BELOW, 0, np.where(log_price >= _HIGH_FROM, 2, 1))
    return _strings(CLASSES, category)


def _names(table: tuple) -> tuple[str, ...]:
    return tuple(row[0] for row in table)


def _effects(table: tuple) -> np.ndarray:
    return np.array([row[1] for row in table])


def _timestamps(
    seed: int, chunk: int, start: datetime, first: int, stop: int, rows: int
) -> np.ndarray:
    """Microseconds since ``start`` of rows ``first..stop`` of ``rows``, in time order.

    Traffic follows the clock (quiet nights, busy evenings), is higher at weekends and grows a
    little over the month. Row i lands where the cumulative traffic reaches (i + jitter) / rows,
    so every chunk is sorted and follows on from the one before.
    """
    minutes = np.arange(DAYS * 24 * 60)
    moment = np.datetime64(start, "m") + minutes
    hour = (minutes + start.hour * 60 + start.minute) % 1440 / 60
    weekday = (moment.astype("datetime64[D]").view("int64") + 3) % 7  # 1970-01-01 was a Thursday
    traffic = (
        (0.15 + np.exp(-(((hour - 13.5) / 4.0) ** 2)) + 0.8 * np.exp(-(((hour - 20.5) / 2.0) ** 2)))
        * np.where(weekday >= 5, 1.25, 1.0)
        * (1 + 0.2 * minutes / minutes[-1])
    )
    cumulative = np.concatenate([[0.0], np.cumsum(traffic)])
    cumulative /= cumulative[-1]
    position = (
        np.arange(first, stop) + stream_rng(seed, STREAM_TIMES, chunk).random(stop - first)
    ) / rows
    at = np.interp(position, cumulative, np.arange(len(cumulative), dtype=float))
    return np.minimum(np.floor(at * 60e6).astype(np.int64), DAYS * 86_400_000_000 - 1)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _request_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUID strings, built without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for begin, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - begin] = digits[:, begin:end]
    offsets = pa.py_buffer(np.arange(0, 36 * (n + 1), 36, dtype=np.int32))
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(text.tobytes()))


def _chunks(rows: int) -> Iterator[tuple[int, int, int]]:
    """(chunk number, first row, stop row) covering ``rows`` rows."""
    for number, first in enumerate(range(0, rows, CHUNK_ROWS)):
        yield number, first, min(rows, first + CHUNK_ROWS)


def reference_chunks(
    seed: int, rows: int, pool: int, seen_price: bool = False
) -> Iterator[dict[str, pa.Array]]:
    """The reference market, ``rows`` listings a chunk of columns at a time."""
    for number, first, stop in _chunks(rows):
        rng = stream_rng(seed, STREAM_REFERENCE, number)
        yield market(rng, np.zeros(stop - first), pool, seen_price)


def production_chunks(
    seed: int, rows: int, pool: int, start: datetime, seen_price: bool = False
) -> Iterator[tuple[int, np.ndarray, dict[str, pa.Array]]]:
    """The 30 production days from ``start``, in time order: (chunk number, microseconds since
    ``start`` of each row, the listing columns with ``timestamp`` and ``request_id``)."""
    start_us = np.datetime64(start, "us")
    for number, first, stop in _chunks(rows):
        offset = _timestamps(seed, number, start, first, stop, rows)
        rng = stream_rng(seed, STREAM_PRODUCTION, number)
        columns = market(rng, offset / 86_400_000_000, pool, seen_price)
        columns["timestamp"] = pa.array(start_us + offset.astype("timedelta64[us]"))
        columns["request_id"] = _request_ids(rng, stop - first)
        yield number, offset, columns
