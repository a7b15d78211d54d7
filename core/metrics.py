"""Order-path metrics the gateway keeps without Ray or Prometheus: counters and latency histograms.

Contract
    ``LatencyHistogram.observe(ns)`` costs one ``bisect`` and three additions:
    cheap enough for every order on the hot path. Buckets are fixed upper
    bounds in nanoseconds (Prometheus' ``le``, inclusive); a value above the
    last bound lands in the ``+Inf`` bucket. A negative duration (a clock that
    stepped back) is an ``InvalidValue``, never silently dropped.

    ``OrderMetrics`` counts what happened to orders: submitted (every intent
    handed to the gateway, duplicates included), duplicates, denied by reason,
    sent, accepted, rejected and unknown (the venue's answer), fills, and holds
    the submit and WAL-commit (append + fsync) latency histograms.
    ``as_dict()`` is plain data (ints, floats, lists, dicts of str) that any
    exporter can read after crossing a process boundary.

Nothing here reads a clock: callers pass durations they measured.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from core.errors import InvalidValue

NS_PER_S = 1_000_000_000

LATENCY_BOUNDS_NS: tuple[int, ...] = (
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
)
"""50 µs … 10 s: an fsync is ~0.1–0.3 ms, an order's ack 1–20 ms, a venue timeout 5 s."""


def _check_bounds(bounds: Sequence[int]) -> tuple[int, ...]:
    if not bounds:
        raise InvalidValue("bounds", list(bounds), "need at least one bucket bound")
    if any(b <= 0 for b in bounds):
        raise InvalidValue("bounds", list(bounds), "every bound must be > 0 ns")
    if any(b >= c for b, c in pairwise(bounds)):
        raise InvalidValue("bounds", list(bounds), "bounds must be strictly increasing")
    return tuple(bounds)


class LatencyHistogram:
    """Counts of durations per bucket (see the module doc)."""

    __slots__ = ("bounds_ns", "count", "counts", "sum_ns")

    def __init__(self, bounds_ns: Sequence[int] = LATENCY_BOUNDS_NS) -> None:
        self.bounds_ns = _check_bounds(bounds_ns)
        self.counts = [0] * (len(self.bounds_ns) + 1)  # the last one is +Inf
        self.sum_ns = 0
        self.count = 0

    def observe(self, duration_ns: int) -> None:
        """Count one duration (nanoseconds, >= 0)."""
        if duration_ns < 0:
            raise InvalidValue("duration_ns", duration_ns, "a duration cannot be negative")
        self.counts[bisect_left(self.bounds_ns, duration_ns)] += 1
        self.sum_ns += duration_ns
        self.count += 1

    def cumulative(self) -> list[int]:
        """Return the count of durations <= each bound, then the total (Prometheus' buckets)."""
        running = 0
        out: list[int] = []
        for n in self.counts:
            running += n
            out.append(running)
        return out

    def quantile(self, q: float) -> float | None:
        """Return the upper bound (seconds) of the bucket holding quantile ``q``; None when empty.

        ``inf`` when the quantile lies above the last bound.
        """
        if not 0.0 <= q <= 1.0:
            raise InvalidValue("q", q, "a quantile is between 0 and 1")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        for bound, running in zip(self.bounds_ns, self.cumulative(), strict=False):
            if running >= rank:
                return bound / NS_PER_S
        return float("inf")

    def as_dict(self) -> dict[str, Any]:
        """Plain data: bounds in seconds, per-bucket counts (last is +Inf), sum in seconds, count."""
        return {
            "bounds_s": [b / NS_PER_S for b in self.bounds_ns],
            "counts": list(self.counts),
            "sum_s": self.sum_ns / NS_PER_S,
            "count": self.count,
        }


@dataclass
class OrderMetrics:
    """What happened to the gateway's orders (see the module doc)."""

    submitted: int = 0
    duplicates: int = 0
    denied: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    fills: int = 0
    submit_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    wal_commit_latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def deny(self, reason: str) -> None:
        """Count one denial under ``reason``."""
        key = str(reason)  # a StrEnum member counts under its value
        self.denied[key] = self.denied.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "duplicates": self.duplicates,
            "denied": dict(self.denied),
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unknown": self.unknown,
            "fills": self.fills,
            "submit_latency": self.submit_latency.as_dict(),
            "wal_commit_latency": self.wal_commit_latency.as_dict(),
        }


def histogram_from_dict(data: Mapping[str, Any]) -> LatencyHistogram:
    """Rebuild a histogram from ``LatencyHistogram.as_dict()`` (what crosses a process boundary)."""
    bounds = [round(float(b) * NS_PER_S) for b in data["bounds_s"]]
    histogram = LatencyHistogram(bounds)
    counts = [int(c) for c in data["counts"]]
    if len(counts) != len(bounds) + 1 or any(c < 0 for c in counts):
        raise InvalidValue("counts", counts, f"need {len(bounds) + 1} counts >= 0")
    histogram.counts = counts
    histogram.sum_ns = round(float(data["sum_s"]) * NS_PER_S)
    histogram.count = sum(counts)
    if int(data["count"]) != histogram.count:
        raise InvalidValue("count", data["count"], f"the buckets hold {histogram.count}")
    return histogram


def counter_delta(previous: int, current: int) -> int:
    """Return how much a cumulative count grew; a count that went down restarted from zero.

    A restarted gateway counts from zero again, so a smaller value is the new
    total since the restart (Prometheus' counter-reset rule).
    """
    if current < 0:
        raise InvalidValue("current", current, "a count cannot be negative")
    return current if current < previous else current - previous
