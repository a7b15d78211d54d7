"""Feed-side facades that survive a restart of the actor they push to (agents, the council).

Contract
    ``ResilientPusher`` is an ``EventPusher`` (same ``push``/``drain``/``handle``)
    that keeps each batch until its actor acknowledged it: when the actor died
    with the batch in flight (``RayActorError``: it may or may not have run), the
    SAME batch is sent again once Ray has restarted the actor, up to a deadline.
    That is safe because an agent's intent ids are deterministic per market
    event and leg (DESIGN.md): a batch decided twice gets the orders the gateway
    already has. (The council's own ``CouncilClient`` retries its ticks the same
    way: a repeated tick for a time already decided decides nothing.) The plain
    pushers of ``cli/paper.py`` let the replay fail instead, which is right for
    a run without chaos: the soak passes these to the feed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from core.events import MarketEvent
from exchanges.venue_client import EventPusher


class ResilientPusher(EventPusher):
    """An ``EventPusher`` that resends a batch lost with a restarted actor (see the module doc)."""

    def __init__(self, name: str, handle: Any, *, deadline_s: float = 60.0) -> None:
        super().__init__(name, handle)
        self._deadline_s = deadline_s
        self._batches: deque[tuple[Any, list[MarketEvent]]] = deque()
        self.resent = 0

    def push(self, events: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        batch = list(events)
        self._batches.append((self._handle.on_market_events.remote(batch), batch))
        done: list[list[MarketEvent]] = []
        while len(self._batches) > max_in_flight:
            done.append(self._settle(*self._batches.popleft()))
        return done

    def drain(self) -> list[list[MarketEvent]]:
        done = [self._settle(ref, batch) for ref, batch in self._batches]
        self._batches.clear()
        return done

    def _settle(self, ref: Any, batch: list[MarketEvent]) -> Any:
        import ray

        deadline = time.monotonic() + self._deadline_s
        while True:
            try:
                return ray.get(ref)
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise
                self.resent += 1
                time.sleep(0.05)
                ref = self._handle.on_market_events.remote(batch)
