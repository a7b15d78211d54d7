"""What happened between two readings of the running system: pure.

A ``Reading`` is one round of the driver's reads through the typed clients
(the gateway's snapshot and status, the council's history, the agents' stats,
the feed's progress, the venues' stats), with the actors that did not answer.
``detect(before, now, bounds)`` compares two readings and returns the
``Event``s the cockpit lists and the alerts send: breaker transitions,
reconciliation lost, the gateway's recoveries, agents paused, resumed, erring
or denied, orders whose outcome stays unknown past a bound, a stale or gapped
feed, an actor not answering, and the operator's controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.cockpit.views import UNKNOWN_STATES, pause_status
from gateway.engine_types import EngineSnapshot

ALERT_KINDS = frozenset(
    {
        "breaker",
        "reconciliation",
        "recovery",
        "agent_paused",
        "agent_error",
        "unknown_order",
        "feed_stale",
        "feed_gap",
        "actor_down",
    }
)
"""The kinds the alerts send (the cockpit lists every kind)."""


@dataclass(frozen=True)
class Reading:
    """One round of reads; an actor that did not answer is in ``errors`` (its field is empty)."""

    at_ns: int
    snapshot: EngineSnapshot | None = None
    status: Mapping[str, Any] | None = None
    history: Sequence[Mapping[str, Any]] | None = None
    controls: Sequence[Mapping[str, Any]] = ()
    agents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    progress: Mapping[str, Any] | None = None
    venues: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something the operator should see: ``kind`` and ``subject`` identify it for dedup."""

    at_ns: int
    kind: str
    subject: str
    message: str
    level: str = "info"

    @property
    def alert(self) -> bool:
        return self.kind in ALERT_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "at_ns": self.at_ns,
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "level": self.level,
        }


@dataclass(frozen=True)
class Bounds:
    unknown_order_age_s: float = 60.0
    feed_stale_s: float = 60.0


@dataclass
class FeedWatch:
    """When the feed's event count last moved (wall ns), to call it stale."""

    events: int = -1
    moved_ns: int = 0
    stale: bool = False


def detect(
    before: Reading | None, now: Reading, bounds: Bounds, feed: FeedWatch | None = None
) -> list[Event]:
    """Return the events between ``before`` (None: the first reading) and ``now``."""
    out: list[Event] = []
    at = now.at_ns
    _gateway_events(before, now, out)
    _agent_events(before, now, out)
    if now.snapshot is not None:
        limit_ns = int(bounds.unknown_order_age_s * 1e9)
        old_cids = _old_unknown(before.snapshot, before.at_ns, limit_ns) if before else set()
        for order in now.snapshot.orders:
            if order.state in UNKNOWN_STATES and at - order.created_ns >= limit_ns:
                if order.client_order_id not in old_cids:
                    out.append(
                        Event(
                            at,
                            "unknown_order",
                            order.client_order_id,
                            f"order {order.client_order_id} of {order.agent_id} "
                            f"({order.side} {order.amount} {order.symbol} on {order.venue}) "
                            f"still {order.state} after {bounds.unknown_order_age_s:.0f} s",
                            "warning",
                        )
                    )
    _feed_events(before, now, bounds, feed, out)
    seen = {str(c.get("id")) for c in (before.controls if before else ())}
    for control in now.controls:
        if str(control.get("id")) not in seen:
            reason = f": {control['reason']}" if control.get("reason") else ""
            out.append(
                Event(
                    at,
                    "control",
                    str(control.get("agent")),
                    f"{control.get('operator')} {control.get('action')} "
                    f"{control.get('agent')}{reason}",
                )
            )
    for actor, error in sorted(now.errors.items()):
        if before is None or actor not in before.errors:
            out.append(
                Event(at, "actor_down", actor, f"{actor} did not answer: {error}", "warning")
            )
    if before is not None:
        for actor in sorted(set(before.errors) - set(now.errors)):
            out.append(Event(at, "actor_up", actor, f"{actor} answers again"))
    return out


def _old_unknown(snapshot: EngineSnapshot | None, at_ns: int, limit_ns: int) -> set[str]:
    if snapshot is None:
        return set()
    return {
        o.client_order_id
        for o in snapshot.orders
        if o.state in UNKNOWN_STATES and at_ns - o.created_ns >= limit_ns
    }


def _gateway_events(before: Reading | None, now: Reading, out: list[Event]) -> None:
    at = now.at_ns
    snap, old = now.snapshot, before.snapshot if before else None
    if snap is not None:
        was = str(old.breaker) if old is not None else "closed"
        if str(snap.breaker) != was:
            level = "info" if str(snap.breaker) == "closed" else "critical"
            out.append(Event(at, "breaker", "gateway", f"breaker {was} -> {snap.breaker}", level))
        if old is not None:
            lost = sorted(set(old.reconciled_venues) - set(snap.reconciled_venues))
            for venue in lost:
                out.append(
                    Event(
                        at,
                        "reconciliation",
                        venue,
                        f"{venue}: positions and balances no longer reconciled",
                        "critical",
                    )
                )
    status, old_status = now.status, before.status if before else None
    if status is not None and status.get("ready"):
        restarted = old_status is not None and (
            old_status.get("pid") != status.get("pid")
            or old_status.get("started_ns") != status.get("started_ns")
        )
        if restarted or (old_status is None and before is not None):
            recovery = (status.get("stats") or {}).get("recovery") or {}
            facts = ", ".join(f"{k} {v}" for k, v in sorted(recovery.items()) if _plain(v))
            out.append(
                Event(
                    at,
                    "recovery",
                    "gateway",
                    f"gateway restarted and recovered ({facts or 'no facts reported'})",
                    "warning",
                )
            )
    if status is not None and status.get("error") and not (old_status or {}).get("error"):
        out.append(
            Event(at, "recovery", "gateway", f"gateway halted: {status['error']}", "critical")
        )


def _plain(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _agent_events(before: Reading | None, now: Reading, out: list[Event]) -> None:
    at = now.at_ns
    old_agents = before.agents if before else {}
    for agent, stats in sorted(now.agents.items()):
        old = old_agents.get(agent)
        status = stats.get("status")
        was = old.get("status") if old else "running"
        if status == "paused" and was != "paused":
            out.append(
                Event(at, "agent_paused", agent, f"{agent} {pause_status(stats)}", "warning")
            )
        elif status == "running" and was == "paused":
            out.append(Event(at, "agent_resumed", agent, f"{agent} resumed"))
        errors = int(stats.get("errors") or 0)
        if errors > int((old or {}).get("errors") or 0):
            out.append(
                Event(
                    at,
                    "agent_error",
                    agent,
                    f"{agent}: {errors} error(s), last: {stats.get('last_error')}",
                    "warning",
                )
            )
        denied = int(stats.get("denied") or 0)
        if old is not None and denied > int(old.get("denied") or 0):
            out.append(Event(at, "denial", agent, f"{agent} denied: {stats.get('last_denial')}"))


def _feed_events(
    before: Reading | None,
    now: Reading,
    bounds: Bounds,
    feed: FeedWatch | None,
    out: list[Event],
) -> None:
    progress = now.progress
    if progress is None:
        return
    at = now.at_ns
    gaps = int((progress.get("feed") or {}).get("gaps", 0) or 0)
    old_gaps = int(((before.progress or {}).get("feed") or {}).get("gaps", 0) or 0) if before else 0
    if gaps > old_gaps:
        out.append(
            Event(
                at,
                "feed_gap",
                "feed",
                f"feed: {gaps - old_gaps} new gap(s) ({gaps} in all)",
                "warning",
            )
        )
    if feed is None:
        return
    events = int(progress.get("events") or 0)
    if events != feed.events:
        if feed.stale:
            out.append(Event(at, "feed_live", "feed", "feed: events flow again"))
        feed.events, feed.moved_ns, feed.stale = events, at, False
        return
    idle_s = (at - feed.moved_ns) / 1e9
    if not progress.get("done") and not feed.stale and idle_s >= bounds.feed_stale_s:
        feed.stale = True
        out.append(Event(at, "feed_stale", "feed", f"feed: no event for {idle_s:.0f} s", "warning"))
