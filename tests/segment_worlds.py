"""A small world with a segment column (``district``) for the page tests of segments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq

from app.config import Config
from tests.worlds import make_world, write

DRIFTED = "north"
"""The district inside which ``segment_world`` plants a drift of ``age`` (unless renamed)."""
EARLY = "lakeside"
"""A district only the first production rows have: outside the monitoring window."""


def segment_world(root: Path, drifted: str = DRIFTED) -> Config:
    """The small world with ``district`` as a segment: production's ``age`` drifted inside
    district ``drifted`` alone (``north``, renamed on both sides when told), and the first 300
    production rows in district ``EARLY``, which the monitoring window (the last 7 days) does
    not hold."""
    config = make_world(root)
    reference = root / "data/reference/reference.parquet"
    frame = pq.read_table(reference).to_pandas()
    frame.loc[frame["district"] == DRIFTED, "district"] = drifted
    write(reference, frame)
    inputs = root / "data/production/inputs.parquet"
    frame = pq.read_table(inputs).to_pandas()
    inside = frame["district"] == DRIFTED
    frame.loc[inside, "age"] = frame.loc[inside, "age"] * 3 + 30
    frame.loc[inside, "district"] = drifted
    frame.loc[frame.index[:300], "district"] = EARLY
    write(inputs, frame)
    # Labels for every prediction: without a labels file the engine's segment accuracy fails
    # (count_if over a NULL target is NULL, not 0).
    predictions = pq.read_table(root / "data/production/predictions.parquet").to_pandas()
    labels = predictions[["request_id", "timestamp"]].copy()
    labels["target"] = predictions["prediction"].to_numpy()[::-1]
    write(root / "data/production/labels.parquet", labels)
    columns = dataclasses.replace(config.columns, segments=("district",))
    return dataclasses.replace(config, columns=columns)
