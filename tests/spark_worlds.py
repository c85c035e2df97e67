"""A held-out world for the backend parity tests: every kind of mess the metrics meet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.worlds import make_world, write


def messy_world(root: Path, files: int = 6) -> Path:
    """``make_world`` (NaN, ±inf, ties, NULL, unseen categories, a high-cardinality column) plus an
    empty column, a single-value column, labels, and the inputs split over several files;
    returns the config file (``[monitoring] window = "all"``)."""
    make_world(root, n_ref=1500, n_prod=2400)
    ref_path = root / "data/reference/reference.parquet"
    ref = pd.read_parquet(ref_path)
    ref["empty"] = np.full(len(ref), np.nan)
    ref["constant"] = 7.0
    write(ref_path, ref)
    inputs_path = root / "data/production/inputs.parquet"
    inputs = pd.read_parquet(inputs_path)
    inputs["empty"] = np.full(len(inputs), np.nan)
    inputs["constant"] = 7.0
    inputs_path.unlink()
    bounds = np.linspace(0, len(inputs), files + 1).astype(int)
    for i in range(files):
        part = inputs.iloc[bounds[i] : bounds[i + 1]]
        write(root / f"data/production/inputs/part-{i}.parquet", part)
    rng = np.random.default_rng(1)
    labels = inputs[["request_id"]].iloc[::3].copy()
    labels["target"] = rng.choice(["low", "medium", "high"], len(labels))
    write(root / "data/production/labels.parquet", labels)
    config = root / "driftdeck.toml"
    config.write_text(
        '[data]\nreference = "data/reference/reference.parquet"\n'
        'inputs = "data/production/inputs"\n'
        'predictions = "data/production/predictions.parquet"\n'
        'labels = "data/production/labels.parquet"\n'
        '[columns]\nid = "request_id"\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        '[monitoring]\nwindow = "all"\n[engine]\nstore = false\n',
        encoding="utf-8",
    )
    return config
