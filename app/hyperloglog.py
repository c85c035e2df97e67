"""Distinct counts of numerical columns from a HyperLogLog sketch (docs/metrics.md, summary
statistics): the registers come from one DuckDB aggregate (``queries/distinct_sketch.sql``);
here they become the estimate. A count of distinct floats is informational, and an exact one
would cost a hash table of every value."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

PRECISION = 16
REGISTERS = 1 << PRECISION
RELATIVE_ERROR = 1.04 / math.sqrt(REGISTERS)
"""The sketch's standard error (0.4 %): its estimates stay well within 2 %."""


def estimate(registers: Iterable[tuple[int, int]]) -> int:
    """Distinct values from (register, rank) pairs; registers not given are empty."""
    ranks = np.zeros(REGISTERS)
    for register, rank in registers:
        ranks[int(register)] = rank
    alpha = 0.7213 / (1 + 1.079 / REGISTERS)
    raw = alpha * REGISTERS * REGISTERS / float(np.sum(2.0**-ranks))
    empty = int(np.count_nonzero(ranks == 0))
    if raw <= 2.5 * REGISTERS and empty:  # few values: linear counting is the better estimate
        return round(REGISTERS * math.log(REGISTERS / empty))
    return round(raw)
