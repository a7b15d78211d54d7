"""Time as a port: no core reads the wall clock, it is handed a ``Clock``."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from core.errors import InvalidValue

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


@runtime_checkable
class Clock(Protocol):
    """Tell the current time in integer nanoseconds since the Unix epoch (UTC)."""

    def now_ns(self) -> int: ...

    def now_ms(self) -> int: ...


class RealClock:
    """The wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()

    def now_ms(self) -> int:
        return time.time_ns() // NS_PER_MS


class SimulatedClock:
    """A clock moved only by its owner (the replay feed, a test, the simulation).

    Time never goes backwards: ``advance_to`` an earlier time is an error, so an
    out-of-order event cannot silently rewind funding or expiry logic.
    """

    def __init__(self, start_ns: int = 0) -> None:
        if start_ns < 0:
            raise InvalidValue("start_ns", start_ns, "must be >= 0")
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def now_ms(self) -> int:
        return self._now_ns // NS_PER_MS

    def advance_to(self, ns: int) -> None:
        """Move to ``ns``; equal is allowed, earlier raises ``InvalidValue``."""
        if ns < self._now_ns:
            raise InvalidValue("ns", ns, f"is before the clock's time {self._now_ns}")
        self._now_ns = ns

    def advance(self, delta_ns: int) -> None:
        """Move forward by ``delta_ns`` (>= 0)."""
        if delta_ns < 0:
            raise InvalidValue("delta_ns", delta_ns, "must be >= 0")
        self._now_ns += delta_ns
