"""The cockpit's memory of a run: readings folded into series, events and heartbeats; pure.

``CockpitState.update(reading)`` is called by the driver's collector thread
after each round of reads; ``view()`` is what the page's ``/api/state``
returns. Series are bounded (the oldest points go first), so a long run costs
constant memory. Thread-safe: one lock around the fold and the view.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from cli.cockpit.events import Bounds, Event, FeedWatch, Reading, detect
from cli.cockpit.views import (
    agent_rows,
    council_rows,
    filter_orders,
    order_row,
    position_rows,
    submit_latency,
    unknown_count,
    venue_rows,
)

MAX_POINTS = 2000
MAX_EVENTS = 500


class CockpitState:
    """See the module doc. ``on_events`` (the alerts) sees each new event once, in order."""

    def __init__(
        self,
        bounds: Bounds | None = None,
        *,
        mode: str = "paper",
        on_events: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self._bounds = bounds or Bounds()
        self._mode = mode
        self._on_events = on_events
        self._lock = threading.Lock()
        self._last: Reading | None = None
        self._feed = FeedWatch()
        self._equity: deque[tuple[float, float, dict[str, float]]] = deque(maxlen=MAX_POINTS)
        self._peaks: dict[str, Decimal] = {}
        self._drawdowns: dict[str, Decimal] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._breaker: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._heartbeats: dict[str, dict[str, Any]] = {}
        self.readings = 0
        self.alert_stats: Callable[[], dict[str, Any]] | None = None
        """The alert sender's counts (``cli.alerts.AlertSender.stats``), when alerts are on."""

    def update(self, reading: Reading) -> list[Event]:
        """Fold one reading in; return the new events (also handed to ``on_events``)."""
        with self._lock:
            before = self._last
            events = detect(before, reading, self._bounds, self._feed)
            self._fold(reading, before)
            for event in events:
                row = event.as_dict()
                row["alert"] = event.alert
                self._events.append(row)
                if event.kind == "breaker":
                    self._breaker.append(row)
            self.readings += 1
        if events and self._on_events is not None:
            self._on_events(events)
        return events

    def note(self, events: Iterable[Event]) -> None:
        """Add events that did not come from a reading (an alert's delivery, a control)."""
        with self._lock:
            for event in events:
                row = event.as_dict()
                row["alert"] = event.alert
                self._events.append(row)

    def _fold(self, reading: Reading, before: Reading | None) -> None:
        at = reading.at_ns
        answered = {
            "gateway": reading.snapshot is not None,
            "council": reading.history is not None,
            "feed": reading.progress is not None,
            **{f"agent:{a}": True for a in reading.agents},
            **{f"venue:{v}": True for v in reading.venues},
        }
        for actor in reading.errors:
            answered[actor] = False
        for actor, ok in answered.items():
            beat = self._heartbeats.setdefault(actor, {"last_ok_ns": None, "error": None})
            if ok:
                beat["last_ok_ns"], beat["error"] = at, None
            else:
                beat["error"] = reading.errors.get(actor, "no answer")
        kept = reading
        if before is not None and set(before.agents) - set(reading.agents):
            # An agent that did not answer this round keeps its last stats (its heartbeat ages).
            kept = replace(reading, agents={**before.agents, **reading.agents})
            reading = kept
        if reading.snapshot is None and before is not None:  # keep the last good books on show
            kept = Reading(
                at_ns=at,
                snapshot=before.snapshot,
                status=reading.status or before.status,
                history=reading.history if reading.history is not None else before.history,
                controls=reading.controls or before.controls,
                agents=reading.agents or before.agents,
                progress=reading.progress or before.progress,
                venues=reading.venues or before.venues,
                errors=reading.errors,
            )
        self._last = kept
        snapshot = reading.snapshot
        if snapshot is None:
            return
        per_agent: dict[str, float] = {}
        total = Decimal(0)
        for agent_id, view in snapshot.agents.items():
            if agent_id.startswith("_"):
                continue
            per_agent[agent_id] = float(view.equity)
            total += view.equity
            peak = max(self._peaks.get(agent_id, view.equity), view.equity)
            self._peaks[agent_id] = peak
            self._drawdowns[agent_id] = peak - view.equity
        self._equity.append((at / 1e9, float(total), per_agent))

    # -- THE PAGE'S DATA -------------------------------------------------------------

    def view(
        self,
        *,
        agent: str | None = None,
        state: str | None = None,
        unknown_only: bool = False,
        filled_only: bool = False,
    ) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready values (orders filtered as asked)."""
        with self._lock:
            last = self._last
            equity = list(self._equity)
            events = list(self._events)
            breaker = list(self._breaker)
            beats = {k: dict(v) for k, v in sorted(self._heartbeats.items())}
            drawdowns = dict(self._drawdowns)
            readings = self.readings
        out: dict[str, Any] = {
            "mode": self._mode,
            "readings": readings,
            "at_ns": last.at_ns if last else None,
            "heartbeats": beats,
            "events": list(reversed(events)),
            "breaker_history": list(reversed(breaker)),
            "alerts": self.alert_stats() if self.alert_stats is not None else None,
            "equity": {
                "t": [p[0] for p in equity],
                "total": [p[1] for p in equity],
                "agents": _per_agent_series(equity),
            },
        }
        if last is None or last.snapshot is None:
            out.update(ready=False, agents=[], orders=[], positions=[], venues=[], council=[])
            return out
        snap = last.snapshot
        status: Mapping[str, Any] = last.status or {}
        orders = [order_row(o, last.at_ns) for o in snap.orders]
        history = list(last.history or ())
        total_pnl = sum(
            (v.pnl for k, v in snap.agents.items() if not k.startswith("_")), Decimal(0)
        )
        out.update(
            ready=True,
            breaker={"state": str(snap.breaker), "since_ns": snap.breaker_since_ns},
            gateway={
                "wal_records": status.get("wal_committed_seq"),
                "state_dir": status.get("state_dir"),
                "latency": submit_latency(status),
                "unknown_outcomes": unknown_count(status),
                "orders": len(snap.orders),
                "retired_orders": snap.retired_orders,
                "counters": dict(snap.counters),
            },
            pnl=str(total_pnl),
            agents=agent_rows(
                snap, history if last.history is not None else None, last.agents, drawdowns
            ),
            orders=filter_orders(
                orders, agent=agent, state=state, unknown_only=unknown_only, filled_only=filled_only
            ),
            unknown_orders=sum(1 for o in orders if o["unknown"]),
            positions=position_rows(snap),
            venues=venue_rows(snap),
            council=council_rows(history),
            controls=[dict(c) for c in reversed(last.controls)],
            feed=dict(last.progress or {}),
        )
        return out


def _per_agent_series(
    equity: list[tuple[float, float, dict[str, float]]],
) -> dict[str, list[float | None]]:
    names = sorted({name for _, _, agents in equity for name in agents})
    return {name: [agents.get(name) for _, _, agents in equity] for name in names}
