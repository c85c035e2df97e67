"""Estimated accuracy (CBPE) against its definition, computed row by row with scikit-learn."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from app.config import Columns, Config
from app.engine import Engine
from app.window import Window
from tests.worlds import files_config, write

CLASSES = np.array(["a", "b", "c"])


def _world(
    root: Path,
    rng: np.random.Generator,
    n: int = 4000,
    labelled: float = 0.6,
    columns: Columns | None = None,
    probabilities: bool = False,
) -> tuple[Config, pd.DataFrame, pd.DataFrame]:
    """Predictions with confidences (rounded, so many ties; some missing, NaN or outside the
    calibration range), labels for the oldest ``labelled`` share, an unrelated reference."""
    start = datetime(2026, 3, 1)
    confidence = np.round(rng.uniform(0.34, 1.0, n), 3)
    confidence[rng.random(n) < 0.02] = np.nan
    correct = rng.random(n) < np.nan_to_num(confidence, nan=0.5) ** 1.5  # over-confident
    predicted = rng.choice(CLASSES, n)
    truth = np.where(correct, predicted, np.roll(CLASSES, 1)[np.searchsorted(CLASSES, predicted)])
    preds = pd.DataFrame(
        {
            "timestamp": [start + timedelta(minutes=15 * i) for i in range(n)],
            "request_id": [f"r{i}" for i in range(n)],
            "prediction": predicted,
        }
    )
    if probabilities:  # one column per class; the predicted class's entry is the confidence
        for cls in CLASSES:
            preds[f"p_{cls}"] = np.where(predicted == cls, confidence, (1 - confidence) / 2)
    else:
        preds["score"] = confidence
    known = int(n * labelled)
    labels = pd.DataFrame({"request_id": preds["request_id"][:known], "label": truth[:known]})
    # Unlabelled rows beyond the calibration range on both ends: clipped to the end knots.
    preds.loc[known + 5, "score" if not probabilities else "p_a"] = 0.05
    inputs = pd.DataFrame(
        {"timestamp": preds["timestamp"], "request_id": preds["request_id"], "x": rng.random(n)}
    )
    write(
        root / "ref.parquet",
        pd.DataFrame({"x": rng.random(500), "label": rng.choice(CLASSES, 500)}),
    )
    write(root / "in.parquet", inputs)
    write(root / "pred.parquet", preds)
    write(root / "lab.parquet", labels)
    config = files_config(root, columns or Columns(target="label", probability="score"))
    frame = preds.assign(label=pd.Series(truth))
    frame["confidence"] = (
        frame["score"]
        if not probabilities
        else frame.apply(lambda r: r[f"p_{r['prediction']}"], axis=1)
    )
    return config, frame, labels


def _expected(frame: pd.DataFrame, labelled: set[str], rows: pd.DataFrame) -> dict:
    """CBPE from its definition: isotonic regression row by row, then mean and band."""
    calibration = frame[frame["request_id"].isin(labelled) & frame["confidence"].notna()]
    model = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    model.fit(calibration["confidence"], calibration["prediction"] == calibration["label"])
    scored = rows[rows["confidence"].notna()]
    c = model.predict(scored["confidence"])
    n = len(c)
    accuracy = c.mean()
    half = 1.96 * np.sqrt(np.sum(c * (1 - c))) / n
    return {"rows": n, "accuracy": accuracy, "lower": accuracy - half, "upper": accuracy + half}


def _close(got: dict, expected: dict) -> None:
    assert got["rows"] == expected["rows"]
    for key in ("accuracy", "lower", "upper"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("probabilities", [False, True])
def test_cbpe_matches_isotonic_regression_row_by_row(tmp_path, probabilities):
    rng = np.random.default_rng(7)
    columns = (
        Columns(target="label", probabilities=tuple((c, f"p_{c}") for c in CLASSES))
        if probabilities
        else None
    )
    config, frame, labels = _world(tmp_path, rng, columns=columns, probabilities=probabilities)
    engine = Engine(config)
    labelled = set(labels["request_id"])
    window = Window(datetime(2026, 3, 20), datetime(2026, 4, 1, 12))
    inside = frame[(frame["timestamp"] >= window.start) & (frame["timestamp"] < window.end)]
    got = engine.estimated_accuracy(window)
    _close(got, _expected(frame, labelled, inside))
    assert (
        got["calibration_rows"]
        == frame["request_id"].isin(labelled).sum()
        - (frame["request_id"].isin(labelled) & frame["confidence"].isna()).sum()
    )
    assert got["unscored_rows"] == inside["confidence"].isna().sum()
    realized = inside[inside["request_id"].isin(labelled)]
    assert got["realized"] == pytest.approx((realized["prediction"] == realized["label"]).mean())

    # Every time bucket, the same way; the buckets add up to the window.
    assert sum(b["rows"] for b in got["over_time"]) == got["rows"]
    for bucket in got["over_time"][:: max(1, len(got["over_time"]) // 5)]:
        rows = inside[
            (inside["timestamp"] >= bucket["start"]) & (inside["timestamp"] < bucket["end"])
        ]
        _close(bucket, _expected(frame, labelled, rows))


def test_without_a_confidence_the_estimate_is_null_and_says_what_to_log(tmp_path):
    rng = np.random.default_rng(1)
    config, _, _ = _world(tmp_path, rng, columns=Columns(target="label"))
    got = Engine(config).estimated_accuracy(Window())
    assert got["accuracy"] is None and "probability" in got["reason"]


def test_the_band_covers_the_true_accuracy_at_its_stated_rate(tmp_path):
    """A calibrated model (right with probability = its confidence): over many worlds, the 95 %
    band of the unlabelled rows covers their true accuracy about 95 % of the time."""
    covered, worlds = 0, 40
    rng = np.random.default_rng(2026)
    for i in range(worlds):
        root = tmp_path / str(i)
        n = 3000
        confidence = rng.uniform(0.4, 1.0, n)
        correct = rng.random(n) < confidence
        predicted = rng.choice(CLASSES, n)
        truth = np.where(correct, predicted, "z")
        start = datetime(2026, 1, 1)
        preds = pd.DataFrame(
            {
                "timestamp": [start + timedelta(minutes=i) for i in range(n)],
                "request_id": [f"r{i}" for i in range(n)],
                "prediction": predicted,
                "probability": confidence,
            }
        )
        write(root / "pred.parquet", preds)
        write(
            root / "lab.parquet",
            pd.DataFrame({"request_id": preds["request_id"][:2000], "label": truth[:2000]}),
        )
        write(root / "in.parquet", preds[["timestamp", "request_id"]].assign(x=1.0))
        write(root / "ref.parquet", pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]}))
        config = files_config(root, Columns(target="label"))
        got = Engine(config).estimated_accuracy(Window(start + timedelta(minutes=2000), None))
        truth_now = correct[2000:].mean()
        covered += got["lower"] <= truth_now <= got["upper"]
    # 95 % nominal; the calibrator's own error widens the miss rate a little. Binomial(40, 0.95)
    # falls under 33 with probability ~0.1 %; a band that ignored the spread would cover ~0.
    assert covered >= 33, covered
