"""Latency histograms: how a p95 over days is read without reading days of probes.

The rollups keep, per target and minute (and hour), how many probes answered in each
of a fixed set of log-spaced latency bins. Bin i holds latencies in
[FLOOR_MS·RATIO^i, FLOOR_MS·RATIO^(i+1)); the first bin also holds everything below,
the last everything above. A quantile is read as the geometric middle of the bin that
holds the nearest-rank sample, so it is within sqrt(RATIO) − 1 ≈ 2.47 % of that
sample (ERROR_BOUND) for any latency from FLOOR_MS·RATIO to the top bin: the whole
range a probe timeout (at most 24 h) allows. Below FLOOR_MS·RATIO (0.0525 ms) the
value reads as the middle of [0, 0.0525), an absolute error under 0.027 ms.

The database computes the bin with the very same formula (console/store/schema.py,
migration 8); tests hold the two to each other. The stored histograms are counted in these bins:
never change FLOOR_MS, RATIO or BINS without a migration that re-bins them.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

FLOOR_MS = 0.05
RATIO = 1.05
BINS = 440  # FLOOR_MS·RATIO^440 ≈ 105 days: every latency a 24 h timeout allows
ERROR_BOUND = math.sqrt(RATIO) - 1  # 0.0247: at most 2.5 % relative
_LOG_RATIO = math.log(RATIO)

# The same formula in SQL, for the rollup trigger: `latency_ms` is the column.
SQL_BIN = (
    f"least({BINS - 1}, greatest(0, floor(ln(greatest(latency_ms, {FLOOR_MS}) / {FLOOR_MS}) / ln({RATIO}))))::smallint"
)


def bin_of(latency_ms: float) -> int:
    """The bin a latency falls in."""
    if not latency_ms > FLOOR_MS:  # also NaN
        return 0
    return min(BINS - 1, max(0, math.floor(math.log(latency_ms / FLOOR_MS) / _LOG_RATIO)))


def bin_value(i: int) -> float:
    """What a sample in bin i reads as: the geometric middle of its bounds."""
    if i <= 0:
        return FLOOR_MS * RATIO / 2
    return FLOOR_MS * RATIO ** (i + 0.5)


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for h in histograms:
        for b, n in h.items():
            out[int(b)] = out.get(int(b), 0) + int(n)
    return out


def count(hist: Mapping[int, int]) -> int:
    return sum(hist.values())


def quantile(hist: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank q-quantile (the smallest sample with at least q of all samples
    at or below it), read from the histogram; None when it holds no sample."""
    total = count(hist)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return bin_value(b)
    return bin_value(max(hist))  # unreachable: the counts sum to total
