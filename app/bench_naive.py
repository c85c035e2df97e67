"""The naive contender of ``driftdeck bench``: ``python -m app.bench_naive SPEC.json``.

What the original dashboard did: load every file whole into pandas, then compute each feature's
metrics with numpy and scipy. ``SPEC.json`` names the files of each role, the feature kinds and
the class columns (``app.bench.run_bench`` writes it from its plan); the metrics are printed as
JSON in the monitor's shape, for ``app.bench_check.cross_check``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

EPS = 1e-4


def load(files: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def shares(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def psi(r, p) -> float:
    r, p = np.maximum(shares(r), EPS), np.maximum(shares(p), EPS)
    return float(np.sum((p - r) * np.log(p / r)))


def kl(r, p) -> float:
    r, p = np.maximum(shares(r), EPS), np.maximum(shares(p), EPS)
    return float(np.sum(r * np.log(r / p)))


def js(r, p) -> float:
    return float(jensenshannon(shares(r), shares(p), base=2))


def counts(r: pd.Series, p: pd.Series) -> tuple[list[int], list[int]]:
    """Counts of each value on both sides, over the values of either."""
    rc, pc = r.value_counts(), p.value_counts()
    keys = list(rc.index) + [k for k in pc.index if k not in rc.index]
    return [int(rc.get(k, 0)) for k in keys], [int(pc.get(k, 0)) for k in keys]


def summary(x: np.ndarray) -> list:
    q = np.quantile(x, [0.25, 0.5, 0.75]) if len(x) else [None] * 3
    return [
        len(x), float(x.mean()), float(x.std(ddof=1)), float(x.min()), *q, float(x.max()),
        len(np.unique(x)),
    ]  # fmt: skip


def numerical(ref: pd.Series, prod: pd.Series) -> dict:
    r = pd.to_numeric(ref).to_numpy(dtype=float, na_value=np.nan)
    p = pd.to_numeric(prod).to_numpy(dtype=float, na_value=np.nan)
    r_ok, p_ok = r[~np.isnan(r)], p[~np.isnan(p)]
    edges = np.unique(np.quantile(r_ok, np.arange(1, 10) / 10))

    def bins(x: np.ndarray, ok: np.ndarray) -> list[int]:
        found = np.bincount(np.searchsorted(edges, ok, side="right"), minlength=len(edges) + 1)
        return [len(x) - len(ok), *found]

    rb, pb = bins(r, r_ok), bins(p, p_ok)
    ks = stats.ks_2samp(r_ok, p_ok)
    w = stats.wasserstein_distance(r_ok, p_ok) / max(float(r_ok.std()), 0.001)
    return {
        "psi": psi(rb, pb),
        "js": js(rb, pb),
        "wasserstein": float(w),
        "ks": {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue)},
        "summary": [summary(r_ok), summary(p_ok)],
    }


def categorical(ref: pd.Series, prod: pd.Series) -> dict:
    r, p = counts(ref, prod)
    rb, pb = r + [int(ref.isna().sum())], p + [int(prod.isna().sum())]
    chi = stats.chi2_contingency(np.array([r, p]), correction=False)
    return {
        "psi": psi(rb, pb),
        "js": js(rb, pb),
        "chi2": {"statistic": float(chi.statistic), "pvalue": float(chi.pvalue)},
    }


def high_cardinality(ref: pd.Series, prod: pd.Series) -> dict:
    r, p = ref.dropna(), prod.dropna()
    distinct_r, distinct_p = r.nunique(), p.nunique()
    new_share = float((~p.isin(r.unique())).mean())
    return {
        "cardinality": {
            "reference": distinct_r,
            "production": distinct_p,
            "ratio": distinct_p / distinct_r,
            "new_value_share": new_share,
        }
    }


def naive(spec: dict) -> dict:
    ref, inp, pred = (load(spec["files"][role]) for role in ("reference", "inputs", "predictions"))
    kinds = {"numerical": numerical, "categorical": categorical}
    features = {
        name: kinds.get(kind, high_cardinality)(ref[name], inp[name])
        for name, kind in spec["kinds"].items()
    }
    drift = None
    if spec["target"] and spec["prediction"]:
        r, p = counts(ref[spec["target"]], pred[spec["prediction"]])
        drift = {"kl": kl(r, p), "js": js(r, p)}
    return {"features": features, "prediction_drift": drift}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        print(json.dumps(naive(json.load(spec_file)), default=int))
