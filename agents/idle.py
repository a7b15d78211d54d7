"""Why an agent placed no order: the one line the run summaries and the console print (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def idle_reason_of(stats: Mapping[str, Any], orders: int) -> str | None:
    """Return why an agent that placed no order did not, or None once it has placed one.

    ``stats`` is ``AgentCore.stats()``: its ``idle_reason`` (the strategy's own
    condition, with numbers) comes first; without one, the agent's counters say
    whether anything called for a decision at all.
    """
    if orders:
        return None
    reason = stats.get("idle_reason")
    if reason:
        return str(reason)
    decisions, events = stats.get("decisions", 0), stats.get("events", 0)
    if not decisions:
        return f"no decision: none of its {events} events called for one"
    return f"no order in {decisions} decisions (its strategy gave no reason)"
