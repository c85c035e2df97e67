"""The metrics of docs/metrics.md transcribed with numpy and pandas, independently of the engine:
what the report's numbers are checked against."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

EPS = 1e-4


def floored_psi(p_counts, q_counts):
    p = np.asarray(p_counts, float) / np.sum(p_counts)
    q = np.asarray(q_counts, float) / np.sum(q_counts)
    p, q = np.maximum(p, EPS), np.maximum(q, EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def linear_quantile(values: np.ndarray, q: float) -> float:
    """Linear interpolation between order statistics, rounded as DuckDB's ``quantile_cont``
    rounds it: DuckDB computes lo·(1 − d) + hi·d with one fused multiply-add, not numpy's
    lo + (hi − lo)·d (of [-4, 1] at 0.9 the first gives 0.5000000000000001, the second 0.5);
    ±inf interpolate as in maths."""
    h = (len(values) - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, len(values) - 1)
    a, b = float(values[lo]), float(values[hi])
    if h == lo or a == b:
        return a
    d = h - lo
    if not (np.isfinite(a) and np.isfinite(b)):
        with np.errstate(invalid="ignore"):
            return float(np.float64(a) * (1 - d) + np.float64(b) * d)
    return float(Fraction(a) * Fraction(1 - d) + Fraction(b * d))  # fma(a, 1 - d, b·d)


def numerical_bins(ref: pd.Series, prod: pd.Series):
    """docs/metrics.md: edges = reference deciles (linear), de-duplicated; bin = edges <= x; missing bin."""
    ref_present = np.sort(ref[ref.notna()].to_numpy())
    deciles = (
        [linear_quantile(ref_present, q / 10) for q in range(1, 10)] if len(ref_present) else []
    )
    edges = np.unique(deciles)
    edges = edges[~np.isnan(edges)]

    def counts(s: pd.Series):
        present = s[s.notna()].to_numpy()
        idx = np.searchsorted(edges, present, side="right")
        return [int(s.isna().sum())] + [int((idx == i).sum()) for i in range(len(edges) + 1)]

    return counts(ref), counts(prod)


def categorical_bins(ref: pd.Series, prod: pd.Series):
    cats = list(dict.fromkeys(list(ref.dropna().unique()) + list(prod.dropna().unique())))
    r = [int((ref == c).sum()) for c in cats] + [int(ref.isna().sum())]
    p = [int((prod == c).sum()) for c in cats] + [int(prod.isna().sum())]
    return r, p
