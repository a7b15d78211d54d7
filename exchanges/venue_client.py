"""The typed facade over a ``venue:<name>`` actor: the one place ``.remote()`` is called for it."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import ray

from core.events import MarketEvent


class VenueClient:
    """Push market events to a venue actor with bounded in-flight batches."""

    def __init__(self, name: str, handle: Any) -> None:
        self.name = name
        self._handle = handle
        self._in_flight: deque[Any] = deque()

    def push(self, events: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        """Send a batch; wait for the oldest ones while more than ``max_in_flight`` are unacknowledged.

        Return what the venue generated for the batches acknowledged meanwhile.
        """
        self._in_flight.append(self._handle.on_market_events.remote(list(events)))
        done: list[list[MarketEvent]] = []
        while len(self._in_flight) > max_in_flight:
            done.append(ray.get(self._in_flight.popleft()))
        return done

    def drain(self) -> list[list[MarketEvent]]:
        """Wait for every batch in flight; return what the venue generated."""
        done = [ray.get(ref) for ref in self._in_flight]
        self._in_flight.clear()
        return done

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = ray.get(self._handle.stats.remote())
        return result

    def check_conservation(self) -> list[str]:
        result: list[str] = ray.get(self._handle.check_conservation.remote())
        return result
