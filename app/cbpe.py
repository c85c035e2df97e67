"""Estimated accuracy without labels (CBPE, confidence-based; docs/metrics.md).

The calibrator is scikit-learn's isotonic regression of "the prediction was right" on the model's
confidence, fitted on every labelled row; its fitted function is piecewise linear between knots
and flat outside them, so the engine can apply it to any number of production rows inside one
DuckDB query (``queries/cbpe_estimate.sql``) and only sums reach Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.96


@dataclass(frozen=True)
class Calibrator:
    """The fitted calibrator as its knots: calibrated(x) is linear between (x[k], y[k]) and
    (x[k+1], y[k+1]), y[0] below x[0] and y[-1] above x[-1]."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    rows: int

    @property
    def slopes(self) -> list[float]:
        """The slope from each knot to the next (0 after the last: flat beyond it)."""
        out = [
            (self.y[k + 1] - self.y[k]) / (self.x[k + 1] - self.x[k])
            for k in range(len(self.x) - 1)
        ]
        return [*out, 0.0]


def fit_calibrator(confidence: Sequence[float], n: Sequence[int], correct: Sequence[int]):
    """Isotonic regression of correct on confidence over the whole calibration set, each
    distinct confidence once with its row count as weight (the same fit as row by row)."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    x = np.asarray(confidence, dtype=float)
    weight = np.asarray(n, dtype=float)
    y = np.asarray(correct, dtype=float) / weight
    model = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    model.fit(x, y, sample_weight=weight)
    return Calibrator(
        tuple(float(v) for v in model.X_thresholds_),
        tuple(float(v) for v in model.y_thresholds_),
        int(weight.sum()),
    )


def estimate(rows: int, total: float, spread: float) -> dict:
    """Estimated accuracy of ``rows`` predictions whose calibrated confidences sum to ``total``
    and whose c(1 − c) sum to ``spread``, with its 95 % band."""
    if not rows:
        return {"rows": 0, "accuracy": None, "lower": None, "upper": None}
    accuracy = total / rows
    half = Z_95 * math.sqrt(max(spread, 0.0)) / rows
    return {"rows": rows, "accuracy": accuracy, "lower": accuracy - half, "upper": accuracy + half}
