"""Model versions and A/B tests against scipy/numpy on data the engine never saw."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from sklearn.isotonic import IsotonicRegression

from app.config import Columns, Config
from app.drift import EPSILON
from app.engine import Engine
from app.report import full_report
from app.versions import ab_tests
from app.window import Window
from tests.worlds import files_config, write

CLASSES = np.array(["low", "mid", "high"])


def _world(
    root: Path,
    rng,
    n: int = 6000,
    accuracy=(0.70, 0.80),
    share_b: float = 0.3,
    skew_b: float = 0.0,
    version_column: str | None = "model_version",
) -> Config:
    """Predictions by version v1 and v2 (v2 serves ``share_b``), right with the given rates;
    v2's inputs shifted by ``skew_b`` (a split that is not random)."""
    start = datetime(2026, 4, 1)
    version = np.where(rng.random(n) < share_b, "v2", "v1")
    right = rng.random(n) < np.where(version == "v2", accuracy[1], accuracy[0])
    predicted = rng.choice(CLASSES, n, p=[0.3, 0.4, 0.3])
    truth = np.where(right, predicted, np.roll(CLASSES, 1)[np.searchsorted(CLASSES, predicted)])
    confidence = np.round(np.clip(rng.normal(np.where(right, 0.8, 0.6), 0.1), 0.34, 1), 2)
    ids = [f"r{i}" for i in range(n)]
    times = [start + timedelta(minutes=5 * i) for i in range(n)]
    size = rng.normal(100, 15, n) + np.where(version == "v2", skew_b, 0)
    colour = rng.choice(["red", "blue"], n)
    preds = pd.DataFrame(
        {"timestamp": times, "request_id": ids, "prediction": predicted, "probability": confidence}
    )
    if version_column:
        preds[version_column] = version
    write(root / "pred.parquet", preds)
    write(
        root / "in.parquet",
        pd.DataFrame({"timestamp": times, "request_id": ids, "size": size, "colour": colour}),
    )
    write(root / "lab.parquet", pd.DataFrame({"request_id": ids, "label": truth}))
    write(
        root / "ref.parquet",
        pd.DataFrame(
            {
                "size": rng.normal(100, 15, 800),
                "colour": rng.choice(["red", "blue"], 800),
                "label": rng.choice(CLASSES, 800),
            }
        ),
    )
    return files_config(root, Columns(target="label"), monitoring_window="all")


def _frame(root: Path) -> pd.DataFrame:
    return (
        pd.read_parquet(root / "pred.parquet")
        .merge(pd.read_parquet(root / "lab.parquet"), on="request_id")
        .merge(
            pd.read_parquet(root / "in.parquet")[["request_id", "size", "colour"]], on="request_id"
        )
    )


def _psi_numpy(ref: np.ndarray, prod: np.ndarray) -> float:
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, prod, side="right"), minlength=len(edges) + 1) / len(
        prod
    )
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def test_per_version_metrics_and_the_ab_test_match_scipy(tmp_path):
    rng = np.random.default_rng(12)
    config = _world(tmp_path, rng, skew_b=6.0)
    report = full_report(Engine(config), Window(), config, mlflow=False)
    frame = _frame(tmp_path)
    versions = report["versions"]
    assert set(versions) == {"v1", "v2"}
    for name, entry in versions.items():
        mine = frame[frame["model_version"] == name]
        assert entry["rows"] == len(mine)
        assert entry["share"] == pytest.approx(len(mine) / len(frame))
        assert entry["accuracy"] == pytest.approx(
            (mine["prediction"] == mine["label"]).mean(), rel=1e-12
        )
        # CBPE calibrated on this version's labelled rows only.
        model = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
        model.fit(mine["probability"], mine["prediction"] == mine["label"])
        assert entry["estimated_accuracy"] == pytest.approx(
            model.predict(mine["probability"]).mean(), rel=1e-9
        )
        # Inputs this version served against those the other served.
        others = frame[frame["model_version"] != name]
        expected = _psi_numpy(others["size"].to_numpy(), mine["size"].to_numpy())
        assert entry["input_psi"]["size"]["psi"] == pytest.approx(expected, rel=1e-12)
    assert versions["v2"]["input_psi"]["size"]["significant"] is True  # the split is not random
    assert versions["v2"]["input_psi"]["colour"]["significant"] is False

    (test,) = report["ab_tests"]
    a, b = frame[frame["model_version"] == "v1"], frame[frame["model_version"] == "v2"]
    right_a, right_b = (a["prediction"] == a["label"]).sum(), (b["prediction"] == b["label"]).sum()
    table = [[right_a, len(a) - right_a], [right_b, len(b) - right_b]]
    acc_a, acc_b = right_a / len(a), right_b / len(b)
    half = 1.96 * np.sqrt(acc_a * (1 - acc_a) / len(a) + acc_b * (1 - acc_b) / len(b))
    assert (test["a"], test["b"], test["n_a"], test["n_b"]) == ("v1", "v2", len(a), len(b))
    assert test["difference"] == pytest.approx(acc_b - acc_a, rel=1e-12)
    assert (test["lower"], test["upper"]) == pytest.approx(
        (acc_b - acc_a - half, acc_b - acc_a + half), rel=1e-12
    )
    assert test["pvalue"] == pytest.approx(
        chi2_contingency(table, correction=False).pvalue, rel=1e-9
    )
    assert test["verdict"].startswith(
        f"v2 is more accurate than v1 by {(acc_b - acc_a) * 100:.1f} points"
    )
    traffic = report["version_traffic"]["buckets"]
    assert sum(sum(b["rows"].values()) for b in traffic) == len(frame)


def _simulated_verdicts(rng, accuracy: tuple[float, float], runs: int) -> int:
    """How many of ``runs`` simulated A/B tests (2,000 and 1,000 labelled rows) give a verdict."""
    shown = 0
    for _ in range(runs):
        right_a, right_b = rng.binomial(2000, accuracy[0]), rng.binomial(1000, accuracy[1])
        versions = {
            "v1": {"rows": 2000, "labelled": 2000, "correct": int(right_a)},
            "v2": {"rows": 1000, "labelled": 1000, "correct": int(right_b)},
        }
        shown += not ab_tests(versions)[0]["verdict"].startswith("no difference")
    return shown


def test_a_real_difference_is_found_and_no_difference_is_rarely_claimed():
    from scipy.stats import norm

    rng = np.random.default_rng(2026)
    runs = 400

    def close_to(rate: float, shown: int) -> bool:  # within 4 binomial standard deviations
        return abs(shown / runs - rate) <= 4 * np.sqrt(rate * (1 - rate) / runs)

    # A 5-point gain at these sizes: the stated power is Φ(d / se − 1.96), about 0.88.
    se = np.sqrt(0.75 * 0.25 / 2000 + 0.80 * 0.20 / 1000)
    power = norm.cdf(0.05 / se - 1.96)
    assert 0.8 < power < 0.95
    assert close_to(power, _simulated_verdicts(rng, (0.75, 0.80), runs))
    # No difference: a verdict (p < 0.05) 5 % of the time, never more.
    assert close_to(0.05, _simulated_verdicts(rng, (0.80, 0.80), runs))


def test_without_a_version_column_there_are_no_versions(tmp_path):
    rng = np.random.default_rng(1)
    config = _world(tmp_path, rng, version_column=None)
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert report["versions"] == {} and report["ab_tests"] == []


def test_a_variant_column_is_found_by_its_name(tmp_path):
    rng = np.random.default_rng(4)
    config = _world(tmp_path, rng, version_column="variant", accuracy=(0.8, 0.8))
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert set(report["versions"]) == {"v1", "v2"}
    assert report["ab_tests"][0]["verdict"].startswith("no difference shown yet, n = ")
    assert "variant" not in report["features"]


def test_a_verdict_names_registry_version_numbers_as_versions():
    versions = {
        "1": {"rows": 8000, "labelled": 8000, "correct": 6000},
        "2": {"rows": 2000, "labelled": 2000, "correct": 1700},
    }
    (test,) = ab_tests(versions)
    assert test["verdict"].startswith("version 2 is more accurate than version 1 by 10.0 points")
    versions["2"]["correct"] = 1300  # now worse: the better one is named first
    assert ab_tests(versions)[0]["verdict"].startswith("version 1 is more accurate than version 2")
