"""What the console and the cockpit show, built from what the driver already reads: pure.

The inputs are the gateway's ``snapshot()`` and ``status()``, the council's
``history()`` and the agents' ``stats()`` (the reads the console made before
the cockpit existed); the outputs are plain JSON-ready dicts. No Ray, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from core.metrics import histogram_from_dict
from gateway.engine_types import EngineSnapshot
from gateway.orders import OrderState, OrderView

UNKNOWN_STATES = frozenset({OrderState.UNKNOWN, OrderState.PENDING})
"""States whose venue outcome is not known yet (highlighted; alerted past an age)."""


def clock(ts_ns: int) -> str:
    """``HH:MM`` (UTC) of a time in ns."""
    return time.strftime("%H:%M", time.gmtime(ts_ns / 1e9))


def pause_status(stats: Mapping[str, Any]) -> str:
    """An agent's status: ``paused (operator: why)`` names who holds it paused."""
    held = stats.get("paused_by") or {}
    if stats.get("status") != "paused" or not held:
        return str(stats.get("status", "-"))
    return "paused (" + "; ".join(f"{by}: {why}" if why else by for by, why in held.items()) + ")"


def council_weights(history: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """The weights in force after the council's last decision, and the agents its votes hold paused."""
    weights: dict[str, str] = {}
    paused: set[str] = set()
    for decision in history:
        weights = decision.get("weights") or weights
        for vote in decision.get("votes", ()):
            (paused.add if vote["kind"] == "pause" else paused.discard)(vote["agent"])
    return weights, paused


def submit_latency(status: Mapping[str, Any]) -> str:
    """``p50 x ms, p99 y ms`` of the gateway's submit latency (``-`` before any submit)."""
    orders_metrics = (status.get("stats") or {}).get("orders") or {}
    metrics = orders_metrics.as_dict() if hasattr(orders_metrics, "as_dict") else orders_metrics
    if metrics.get("submit_latency"):
        hist = histogram_from_dict(metrics["submit_latency"])
        if hist.count:
            p50 = 1000 * (hist.quantile(0.5) or 0)
            p99 = 1000 * (hist.quantile(0.99) or 0)
            return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    return "-"


def unknown_count(status: Mapping[str, Any]) -> int:
    orders_metrics = (status.get("stats") or {}).get("orders") or {}
    metrics = orders_metrics.as_dict() if hasattr(orders_metrics, "as_dict") else orders_metrics
    return int(metrics.get("unknown", 0))


def trading_view(
    snapshot: EngineSnapshot,
    status: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] | None,
    statuses: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The console's view of the trading side: per agent (gateway's books, council's weight and
    vote, or the agent's own status when ``statuses`` has it: an operator's pause shows there),
    the gateway (breaker, WAL, orders in flight, latency) and the council's last decisions
    (``history`` None: no council runs)."""
    weights, paused = council_weights(history or ())
    agents: dict[str, dict[str, str]] = {}
    for agent_id, view in snapshot.agents.items():
        if agent_id.startswith("_"):
            continue
        orders = [o for o in snapshot.orders if o.agent_id == agent_id]
        agents[agent_id] = {
            "status": (statuses or {}).get(agent_id)
            or ("paused" if agent_id in paused else "running"),
            "weight": f"{float(weights[agent_id]):.2f}" if agent_id in weights else "-",
            "budget": f"{view.budget:,.0f}",
            "position": ", ".join(
                f"{p.symbol} {p.contracts:+}" for p in view.positions if p.contracts
            )
            or "flat",
            "orders": str(len(orders)),
            "open": str(sum(1 for o in orders if not o.state.is_terminal)),
            "filled": str(sum(1 for o in orders if o.filled > 0)),
            "fees": f"{sum(view.fees.values()):,.2f}",
            "pnl": f"{view.pnl:,.2f}",
        }
    events = [
        f"{clock(d['ts_ns'])} {v['agent']} {v['kind']}: {v['reason']}"
        for d in history or ()
        for v in d["votes"]
    ] + [
        f"{clock(d['ts_ns'])} promoted {p['variant']} over {p['incumbent']} "
        f"(p={float(p['p_value']):.3f})"
        for d in history or ()
        for p in d.get("promotions", ())
    ]
    last = next((d for d in reversed(history or ()) if d["budgets"]), None)
    return {
        "breaker": str(snapshot.breaker),
        "wal": status.get("wal_committed_seq"),
        "in_flight": sum(1 for o in snapshot.orders if not o.state.is_terminal),
        "unknown": unknown_count(status),
        "latency": submit_latency(status),
        "agents": agents,
        "council": {
            "decisions": len(history),
            "last": clock(last["ts_ns"]) if last else "-",
            "reason": ((last or {}).get("allocation") or {}).get("reason")
            or ("votes" if last else "-"),
        }
        if history is not None
        else None,
        "events": sorted(events)[-6:],
    }


# -- THE COCKPIT'S TABLES -------------------------------------------------------------


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_row(order: OrderView, now_ns: int) -> dict[str, Any]:
    """One order for the page; ``unknown`` marks an outcome not known yet, with its age."""
    unknown = order.state in UNKNOWN_STATES
    return {
        "client_order_id": order.client_order_id,
        "agent": order.agent_id,
        "intent": order.intent_id,
        "venue": order.venue,
        "symbol": order.symbol,
        "side": str(order.side),
        "type": str(order.type),
        "amount": str(order.amount),
        "price": _num(order.price),
        "state": str(order.state),
        "filled": str(order.filled),
        "average_price": _num(order.average_price),
        "trades": len(order.trade_ids),
        "fees": {k: str(v) for k, v in order.fees.items()},
        "reduce_only": order.reduce_only,
        "reason": order.reason,
        "updated_ns": order.updated_ns,
        "unknown": unknown,
        "age_s": round(max(0, now_ns - order.created_ns) / 1e9, 1),
    }


def filter_orders(
    rows: Sequence[Mapping[str, Any]],
    *,
    agent: str | None = None,
    state: str | None = None,
    unknown_only: bool = False,
    filled_only: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows that match every filter given (newest first)."""
    found = [
        dict(r)
        for r in rows
        if (not agent or r["agent"] == agent)
        and (not state or r["state"] == state)
        and (not unknown_only or r["unknown"])
        and (not filled_only or Decimal(r["filled"]) > 0)
    ]
    found.sort(key=lambda r: int(r["updated_ns"]), reverse=True)
    return found[: max(0, limit)]


def venue_rows(snapshot: EngineSnapshot) -> list[dict[str, Any]]:
    """Per venue: the gateway's mirror of balances and positions, and whether it reconciled."""
    reconciled = set(snapshot.reconciled_venues)
    return [
        {
            "venue": name,
            "reconciled": name in reconciled,
            "balances": {k: str(v) for k, v in sorted(view.balances.items()) if v},
            "positions": {k: str(v) for k, v in sorted(view.positions.items()) if v},
        }
        for name, view in sorted(snapshot.venues.items())
    ]


def position_rows(snapshot: EngineSnapshot) -> list[dict[str, Any]]:
    """Every agent's open positions, with entry, mark and unrealized P&L."""
    return [
        {
            "agent": agent_id,
            "venue": p.venue,
            "symbol": p.symbol,
            "contracts": str(p.contracts),
            "entry_price": _num(p.entry_price),
            "mark": _num(p.mark),
            "unrealized": str(p.unrealized),
            "realized": str(p.realized),
        }
        for agent_id, view in sorted(snapshot.agents.items())
        if not agent_id.startswith("_")
        for p in view.positions
        if p.contracts
    ]


def agent_rows(
    snapshot: EngineSnapshot,
    history: Sequence[Mapping[str, Any]] | None,
    stats: Mapping[str, Mapping[str, Any]],
    drawdowns: Mapping[str, Decimal],
) -> list[dict[str, Any]]:
    """Per agent: status (who pauses it), weight, budget, P&L, drawdown, idle reason, counts."""
    weights, council_paused = council_weights(history or ())
    rows = []
    for agent_id, view in sorted(snapshot.agents.items()):
        if agent_id.startswith("_"):
            continue
        own = stats.get(agent_id, {})
        status = (
            pause_status(own) if own else ("paused" if agent_id in council_paused else "unknown")
        )
        rows.append(
            {
                "agent": agent_id,
                "status": status,
                "paused": own.get("status") == "paused" or (not own and agent_id in council_paused),
                "paused_by": dict(own.get("paused_by") or {}),
                "weight": float(weights[agent_id]) if agent_id in weights else None,
                "budget": str(view.budget),
                "free": str(view.free),
                "equity": str(view.equity),
                "pnl": str(view.pnl),
                "realized": str(view.realized),
                "unrealized": str(view.unrealized),
                "fees": str(sum(view.fees.values(), Decimal(0))),
                "drawdown": str(drawdowns.get(agent_id, Decimal(0))),
                "idle_reason": own.get("idle_reason"),
                "orders": own.get("places"),
                "denied": own.get("denied"),
                "last_denial": own.get("last_denial"),
                "errors": own.get("errors"),
                "last_error": own.get("last_error"),
            }
        )
    return rows


def council_rows(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The council's decisions, newest first: time, weights, the allocator's reason, votes."""
    return [
        {
            "ts_ns": d["ts_ns"],
            "weights": {k: float(v) for k, v in (d.get("weights") or {}).items()},
            "budgets": dict(d.get("budgets") or {}),
            "reason": (d.get("allocation") or {}).get("reason"),
            "votes": [
                {"agent": v["agent"], "kind": v["kind"], "reason": v["reason"]}
                for v in d.get("votes", ())
            ],
        }
        for d in reversed(history)
    ]
