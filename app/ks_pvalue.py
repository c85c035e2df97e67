"""The Kolmogorov–Smirnov p-value as ``scipy.stats.ks_2samp`` computes it, from the sizes and the statistic."""

from __future__ import annotations

import math
import threading
import types
from functools import cache
from pathlib import Path

import numpy as np

MAX_EXACT_N = 10000
"""``scipy.stats.ks_2samp(method="auto")`` computes the exact p-value when both sizes are at most this."""


# -- the p-value, as scipy.stats.ks_2samp computes it ------------------------------------------------
def ks_2samp_result(n1: int, n2: int, d: float) -> tuple[float, float]:
    """The (statistic, p-value) ``scipy.stats.ks_2samp(method="auto")`` reports for samples of sizes
    n1 and n2 whose largest ECDF gap, by scipy's float formula, is d (two-sided).

    A transcription of scipy 1.17's code path; in exact mode scipy reports the statistic as the
    rational h / lcm(n1, n2) it rounds d to.
    """
    prob = math.nan
    exact = False
    if max(n1, n2) <= MAX_EXACT_N:
        exact, d, prob = _attempt_exact(n1, n2, d)
    if not exact:
        m, n = sorted([float(n1), float(n2)], reverse=True)
        en = m * n / (m + n)
        prob = _kstwo_sf(d, np.round(en))
    return float(d), float(np.clip(prob, 0, 1))


def _kstwo_sf(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)`` for a whole n >= 1: 1 up to the support's start 0.5 / n,
    0 from its end 1, between them scipy's ``kolmogn(n, d, cdf=False)``."""
    if d <= 0.5 / n:
        return 1.0
    if d >= 1.0:
        return 0.0
    return float(_ksstats().kolmogn(n, d, cdf=False))


_KSSTATS_LOCK = threading.Lock()
"""Features are compared two at a time: one compiles scipy's source while the other waits (CPython
3.11 does not allow ``compile`` from two threads at once)."""


def _ksstats():
    with _KSSTATS_LOCK:
        return _compiled_ksstats()


@cache
def _compiled_ksstats():
    """scipy's ``scipy/stats/_ksstats.py`` (the Kolmogorov distribution), run from its own source
    without importing the package ``scipy.stats`` (a second or more of start-up for every run
    that computes a p-value). Its one import from scipy.stats, a numerical derivative, serves only
    the density, which is never asked for here. Falls back to scipy.stats when the source is not
    where scipy keeps it."""
    import scipy

    path = Path(scipy.__file__).parent / "stats" / "_ksstats.py"
    needed = "from scipy.stats._finite_differences import _derivative"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        source = ""
    if needed not in source:
        from scipy.stats import _ksstats

        return _ksstats
    module = types.ModuleType("driftdeck_ksstats")
    module.__file__ = str(path)
    code = compile(source.replace(needed, "_derivative = None"), str(path), "exec")
    exec(code, module.__dict__)  # noqa: S102 - scipy's own installed source
    return module


def _attempt_exact(n1: int, n2: int, d: float) -> tuple[bool, float, float]:
    """scipy's ``_attempt_exact_2kssamp`` (two-sided): (success, statistic, probability)."""
    from scipy.stats._stats_py import _compute_outer_prob_inside_method  # compiled (pythran)

    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    h = int(np.round(d * lcm))
    d = h * 1.0 / lcm
    if h == 0:
        return True, d, 1.0
    try:
        with np.errstate(invalid="raise", over="raise"):
            if n1 == n2:
                prob = _prob_outside_square(n1, h)
            else:
                prob = _compute_outer_prob_inside_method(n1, n2, g, h)
    except (FloatingPointError, OverflowError):
        return False, d, math.nan
    if not (0 <= prob <= 1):
        return False, d, prob
    return True, d, prob


def _prob_outside_square(n: int, h: int) -> float:
    """scipy's ``_compute_prob_outside_square``: share of paths leaving the band |x - y| < h."""
    p = 0.0
    k = int(np.floor(n / h))
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        p = p1 * (1.0 - p)
        k -= 1
    return 2 * p
