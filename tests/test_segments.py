"""Segments: metrics inside each segment against numpy, and attribution that finds what was planted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.config import Columns, Config
from app.drift import EPSILON
from app.engine import Engine
from app.report import full_report
from app.segments import MAX_SEGMENTS, MIN_ROWS, OTHER
from app.window import Window
from tests.worlds import files_config, write

REGIONS = ["north", "south", "east", "west"]


def _side(rng, n: int, shares, drift_in: str | None = None) -> pd.DataFrame:
    region = rng.choice(REGIONS, n, p=shares).astype(object)
    x = rng.normal(10, 2, n)
    x[rng.random(n) < 0.03] = np.nan
    if drift_in:
        x = np.where(region == drift_in, x + 4, x)
    colour = rng.choice(["red", "blue", "green"], n).astype(object)
    colour[rng.random(n) < 0.02] = None
    return pd.DataFrame({"region": region, "x": x, "colour": colour})


def _world(root: Path, ref: pd.DataFrame, prod: pd.DataFrame, rng) -> Config:
    ref = ref.assign(label=rng.choice(["a", "b"], len(ref)))
    start = datetime(2026, 2, 1)
    ids = [f"r{i}" for i in range(len(prod))]
    prod = prod.assign(
        timestamp=[start + timedelta(minutes=i) for i in range(len(prod))], request_id=ids
    )
    predicted = np.where(prod["region"] == "north", "b", rng.choice(["a", "b"], len(prod)))
    write(root / "ref.parquet", ref)
    write(root / "in.parquet", prod)
    write(
        root / "pred.parquet",
        pd.DataFrame({"timestamp": prod["timestamp"], "request_id": ids, "prediction": predicted}),
    )
    labels = rng.choice(["a", "b"], len(prod))
    write(root / "lab.parquet", pd.DataFrame({"request_id": ids, "label": labels}))
    return files_config(
        root, Columns(target="label", segments=("region",)), monitoring_window="all"
    )


def _psi_numpy(ref: np.ndarray, prod: np.ndarray) -> float:
    """PSI from its definition: the reference's deciles (linear), bins = edges <= x, a missing bin."""
    present = ref[~np.isnan(ref)]
    edges = np.unique(np.quantile(present, np.arange(1, 10) / 10))

    def shares(values):
        missing = np.isnan(values)
        bins = np.searchsorted(edges, values[~missing], side="right")
        counts = np.append(np.bincount(bins, minlength=len(edges) + 1), missing.sum())
        return np.maximum(counts / len(values), EPSILON)

    p, q = shares(ref), shares(prod)
    return float(np.sum((q - p) * np.log(q / p)))


def test_segment_psi_matches_numpy_and_attribution_finds_the_planted_segment(tmp_path):
    rng = np.random.default_rng(4)
    shares = [0.25, 0.25, 0.25, 0.25]
    ref, prod = _side(rng, 4000, shares), _side(rng, 3000, shares, drift_in="north")
    config = _world(tmp_path, ref, prod, rng)
    report = full_report(Engine(config), Window(), config, mlflow=False)

    segments = report["segments"]["region"]
    assert set(segments) == set(REGIONS)
    for region in REGIONS:
        inside_ref, inside_prod = ref[ref["region"] == region], prod[prod["region"] == region]
        entry = segments[region]
        assert entry["rows"] == {"reference": len(inside_ref), "production": len(inside_prod)}
        assert entry["share"]["production"] == pytest.approx(len(inside_prod) / len(prod))
        expected = _psi_numpy(inside_ref["x"].to_numpy(), inside_prod["x"].to_numpy())
        assert entry["features"]["x"]["psi"] == pytest.approx(expected, rel=1e-12)
        assert entry["features"]["x"]["significant"] == (region == "north")
        assert "colour" in entry["features"] and "region" not in entry["features"]
        # Prediction KL and accuracy inside the segment (inputs joined to predictions by id).
        assert entry["prediction_kl"] is not None
        joined = pd.read_parquet(tmp_path / "pred.parquet").merge(
            pd.read_parquet(tmp_path / "lab.parquet"), on="request_id"
        )
        joined = joined[joined["request_id"].isin(set(inside_prod.index.map(lambda i: f"r{i}")))]
        assert entry["accuracy"] == pytest.approx((joined["prediction"] == joined["label"]).mean())

    top = report["drift_attribution"]["x"][0]
    assert (top["segment"], top["value"]) == ("region", "north")
    assert top["contribution"] == pytest.approx(top["production_share"] * top["psi"])
    assert report["attribution_verdicts"]["x"].startswith("x drifted mostly inside region = north")
    assert report["mix_shift"]["region"] < 0.01


def test_a_changed_mix_is_told_apart_from_drift_inside_segments(tmp_path):
    """x differs by region; production has another region mix but the same x inside each."""
    rng = np.random.default_rng(9)
    ref = _side(rng, 4000, [0.4, 0.4, 0.1, 0.1])
    prod = _side(rng, 4000, [0.1, 0.1, 0.4, 0.4])
    for frame in (ref, prod):
        frame["x"] = frame["x"] + frame["region"].map(
            {"north": 0, "south": 0, "east": 6, "west": 6}
        )
    config = _world(tmp_path, ref, prod, rng)
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert report["features"]["x"]["psi"] > 0.25
    assert all(not e["significant"] for e in report["drift_attribution"]["x"])
    assert report["mix_shift"]["region"] > 0.25
    assert "the mix of region changed" in report["attribution_verdicts"]["x"]


def test_small_segments_say_why_and_many_values_are_pooled(tmp_path):
    rng = np.random.default_rng(2)
    ref, prod = _side(rng, 3000, [0.25] * 4), _side(rng, 3000, [0.25] * 4)
    # 25 rare values beyond the four regions: the 20 largest are listed, the rest pooled.
    prod.loc[: 25 * 40 - 1, "region"] = [f"rare{i:02d}" for i in range(25) for _ in range(40)]
    prod.loc[1000:1009, "region"] = "tiny"
    config = _world(tmp_path, ref, prod, rng)
    segments = full_report(Engine(config), Window(), config, mlflow=False)["segments"]["region"]
    assert len(segments) == MAX_SEGMENTS + 1 and OTHER in segments
    assert sum(e["rows"]["production"] for e in segments.values()) == len(prod)
    rare = next(v for v in segments if v.startswith("rare"))
    assert segments[rare]["rows"]["reference"] == 0
    assert segments[rare]["features"] == {} and "reference (0)" in segments[rare]["reason"]
    assert f"fewer than {MIN_ROWS} rows" in segments[rare]["reason"]
    assert segments["north"]["features"]["x"]["psi"] is not None


def test_a_segment_column_that_is_not_categorical_is_named_in_the_status(tmp_path):
    rng = np.random.default_rng(3)
    config = _world(tmp_path, _side(rng, 500, [0.25] * 4), _side(rng, 500, [0.25] * 4), rng)
    config = config.with_overrides(columns=Columns(target="label", segments=("x", "nope")))
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert report["segments"] == {}
    messages = " ".join(s["message"] for s in report["status"] if not s["ok"])
    assert "'x' is not a categorical column" in messages and "'nope'" in messages


def test_drift_in_every_segment_is_not_pinned_on_one(tmp_path):
    rng = np.random.default_rng(6)
    ref, prod = (
        _side(rng, 4000, [0.55, 0.15, 0.15, 0.15]),
        _side(rng, 4000, [0.55, 0.15, 0.15, 0.15]),
    )
    prod["x"] = prod["x"] + 3
    config = _world(tmp_path, ref, prod, rng)
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert report["drift_attribution"]["x"][0]["value"] == "north"  # the largest contribution
    assert report["attribution_verdicts"]["x"].startswith("x drifted across region: in 4 of 4")


def test_a_segment_window_gives_the_report_of_that_segment_alone(tmp_path):
    """Feature Statistics filtered to one segment: the same features as a report over files that
    hold only that segment's rows, on both sides."""
    from tests.worlds import report_on

    rng = np.random.default_rng(8)
    ref, prod = _side(rng, 3000, [0.25] * 4), _side(rng, 2000, [0.25] * 4, drift_in="east")
    config = _world(tmp_path / "all", ref, prod, rng)
    window = Window(segment=("region", "east"))
    engine = Engine(config)
    got = full_report(engine, window, config, mlflow=False)
    alone = report_on(
        tmp_path / "alone",
        ref[ref["region"] == "east"],
        prod[prod["region"] == "east"],
        Columns(segments=()),
    )
    for name in ("x", "colour"):
        mine, theirs = got["features"][name], alone["features"][name]
        assert mine["psi"] == pytest.approx(theirs["psi"], rel=1e-12)
        assert mine["summary"]["reference"]["rows"] == (ref["region"] == "east").sum()
        assert mine["summary"]["production"]["rows"] == (prod["region"] == "east").sum()
    assert got["features"]["x"]["ks"] == pytest.approx(alone["features"]["x"]["ks"], rel=1e-12)
    for side in ("reference", "production"):
        mine, theirs = (r["features"]["x"]["summary"][side] for r in (got, alone))
        for key in ("rows", "missing", "mean", "std", "min", "p25", "median", "p75", "max"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-9), (side, key)
    assert got["features"]["x"]["wasserstein"] == pytest.approx(
        alone["features"]["x"]["wasserstein"], rel=1e-9
    )
    assert got["features"]["colour"]["chi2"] == pytest.approx(
        alone["features"]["colour"]["chi2"], rel=1e-12
    )
    assert got["features"]["x"]["psi"] == pytest.approx(
        got["segments"]["region"]["east"]["features"]["x"]["psi"], rel=1e-12
    )
    shown = engine.distribution("x", window)
    assert sum(shown["production"]) == prod.loc[prod["region"] == "east", "x"].notna().sum()


def test_segments_without_labels_or_predictions_ids(tmp_path):
    """No labels file: segments still come, with accuracy null."""
    rng = np.random.default_rng(13)
    config = _world(tmp_path, _side(rng, 1000, [0.25] * 4), _side(rng, 1000, [0.25] * 4), rng)
    config = replace(config, labels="missing-labels.parquet")
    report = full_report(Engine(config), Window(), config, mlflow=False)
    north = report["segments"]["region"]["north"]
    assert north["accuracy"] is None and north["prediction_kl"] is not None
    assert north["features"]["x"]["psi"] is not None
