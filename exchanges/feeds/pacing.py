"""Replay pacing: map market time onto wall time at a chosen speed (×1 … ×max)."""

from __future__ import annotations

from collections.abc import Callable

from core.clock import NS_PER_S, Clock
from core.errors import InvalidValue


def parse_speed(value: str | float) -> float | None:
    """Return the speed multiple, or None for ``max`` (no pacing). Refuse zero, negatives, NaN."""
    if isinstance(value, str) and value.strip().lower() == "max":
        return None
    try:
        speed = float(value)
    except (TypeError, ValueError):
        raise InvalidValue("speed", value, "must be a positive number or 'max'") from None
    if not speed > 0 or speed == float("inf"):
        raise InvalidValue("speed", value, "must be a positive number or 'max'")
    return speed


class ReplayPacer:
    """Hold the replay back so market time runs at ``speed`` × wall time.

    ``wait_until(ts_ns)`` sleeps (through the injected ``sleep``) until the wall
    clock has caught up with market time ``ts_ns``; with speed None it never sleeps.
    """

    def __init__(self, speed: float | None, clock: Clock, sleep: Callable[[float], None]) -> None:
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._origin_market_ns: int | None = None
        self._origin_wall_ns = 0

    def wait_until(self, ts_ns: int) -> float:
        """Return the seconds slept before market time ``ts_ns`` may be released."""
        if self._speed is None:
            return 0.0
        if self._origin_market_ns is None:
            self._origin_market_ns = ts_ns
            self._origin_wall_ns = self._clock.now_ns()
            return 0.0
        due_wall_ns = self._origin_wall_ns + (ts_ns - self._origin_market_ns) / self._speed
        delay_s = (due_wall_ns - self._clock.now_ns()) / NS_PER_S
        if delay_s > 0:
            self._sleep(delay_s)
            return delay_s
        return 0.0
