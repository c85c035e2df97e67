"""Drift measures from small count vectors (docs/metrics.md): PSI, KL, Jensen–Shannon, chi-square."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EPSILON = 1e-4


def shares(counts: Sequence[float]) -> np.ndarray | None:
    """Counts as shares of their total, or None when there are no rows."""
    arr = np.asarray(counts, dtype=float)
    total = arr.sum()
    return arr / total if total > 0 else None


def psi(reference: Sequence[float], production: Sequence[float]) -> float | None:
    """Σ (q−p)·ln(q/p) over aligned bins, each share floored at ε (no renormalisation)."""
    p, q = shares(reference), shares(production)
    if p is None or q is None:
        return None
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


SIGNIFICANCE = 0.001
"""A PSI counts as drift only above what pure noise reaches this rarely at its sample sizes."""


def psi_floor(reference: Sequence[float], production: Sequence[float]) -> float | None:
    """The PSI that noise alone stays under with probability 1 − SIGNIFICANCE at these sample
    sizes: with k bins non-empty on either side, (1/n_ref + 1/n_prod)⁻¹ · PSI is about χ²(k − 1)
    when nothing drifted, so the floor is χ²₀.₉₉₉(k − 1) · (1/n_ref + 1/n_prod).
    None when a side is empty or there are fewer than two bins (nothing to compare)."""
    from scipy.special import chdtri  # the χ² quantile, without importing scipy.stats

    ref, prod = np.asarray(reference, dtype=float), np.asarray(production, dtype=float)
    bins = int(np.count_nonzero((ref > 0) | (prod > 0)))
    n_ref, n_prod = ref.sum(), prod.sum()
    if bins < 2 or n_ref <= 0 or n_prod <= 0:
        return None
    return float(chdtri(bins - 1, SIGNIFICANCE) * (1 / n_ref + 1 / n_prod))


def significant(value: float | None, floor: float | None) -> bool | None:
    """Whether a PSI is at or over its sample-size floor; None when there is no PSI."""
    if value is None:
        return None
    return floor is not None and value >= floor


def kl(reference: Sequence[float], production: Sequence[float]) -> float | None:
    """Σ p·ln(p/q) with the same ε floor (prediction drift)."""
    p, q = shares(reference), shares(production)
    if p is None or q is None:
        return None
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return float(np.sum(p * np.log(p / q)))


def js(reference: Sequence[float], production: Sequence[float]) -> float | None:
    """``scipy.spatial.distance.jensenshannon(p, q, base=2)`` on the bins, without ε: its
    arithmetic step for step (importing scipy.spatial costs more than the whole computation)."""
    from scipy.special import rel_entr

    p, q = shares(reference), shares(production)
    if p is None or q is None:
        return None
    p, q = p / np.sum(p, keepdims=True), q / np.sum(q, keepdims=True)
    m = (p + q) / 2.0
    total = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
    total /= np.log(2)
    value = float(np.sqrt(total / 2.0))
    return value if math.isfinite(value) else None


def chi2(reference: Sequence[float], production: Sequence[float]) -> tuple[float, float] | None:
    """``chi2_contingency`` without correction on the 2×k table (statistic, p-value): scipy's
    arithmetic step for step (expected counts from the margins, Pearson's sum, the χ² survival
    function of scipy.special), without importing scipy.stats."""
    from scipy.special import chdtrc

    table = np.array([reference, production], dtype=float)
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    if table.shape[1] == 0 or (table.sum(axis=1) == 0).any():
        return None
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    dof = expected.size - sum(expected.shape) + expected.ndim - 1
    if dof == 0:
        return 0.0, 1.0
    statistic = np.sum((table - expected) ** 2 / expected)
    return float(statistic), float(chdtrc(float(dof), statistic))


def aligned(reference: dict, production: dict) -> tuple[list, list, list]:
    """Keys of ref ∪ prod (reference order first) with both sides' counts aligned."""
    keys = list(reference) + [k for k in production if k not in reference]
    return keys, [reference.get(k, 0) for k in keys], [production.get(k, 0) for k in keys]
