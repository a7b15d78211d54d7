"""DESIGN.md's invariants, checked against the gateway's state and the venue's own books.

``check_world`` returns every violation it finds as ``(kind, detail)``; the
kinds are ``VIOLATION_KINDS``. It reads the venue as the outside world sees it
(``PaperVenue.all_orders``, ``my_trades``, ``balances``, ``positions``,
``check_conservation``) and the gateway through its engine's public readers,
and changes neither. Invariants 4 (breaker) and 5 (not ready) are checked by
``World`` at each restart, because they are about the restart itself.

The books of the gateway can only equal the venue's when the gateway has seen
every trade the venue made: the comparison of balances and positions runs when
the trade ids agree ("synced"), which ``check_world`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.invariants import duplicate_intents, reservation_problems
from core.money import ZERO
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineSnapshot
from gateway.intents import CLIENT_ORDER_ID_PREFIX
from gateway.orders import OrderState
from tests.sim.world import VENUE, World

VIOLATION_KINDS = (
    "duplicate",
    "lost",
    "conservation",
    "reservation",
    "fill",
    "breaker_regression",
    "accepted_before_recovery",
    "idempotency",
    "unresolved_at_end",
    "wal_corruption_missed",
    "checkpoint_fallback",
    "liveness",
    "error",
)


@dataclass
class CheckReport:
    violations: list[tuple[str, str]] = field(default_factory=list)
    synced: bool = False

    def add(self, kind: str, detail: str) -> None:
        self.violations.append((kind, detail))


def check_world(world: World, *, final: bool = False) -> CheckReport:
    """Check invariants 1, 2, 3, 6 and 7 now; with ``final``, also that every order is settled."""
    report = CheckReport()
    engine = world.engine
    snapshot = engine.snapshot()
    _check_orders(
        world, {o.client_order_id: (o.agent_id, o.intent_id) for o in snapshot.orders}, report
    )
    _check_books(world, engine, snapshot, report, final=final)
    return report


# -- 1 AND 2: ONE VENUE ORDER PER INTENT, NONE WITHOUT ONE ------------------------


def _check_orders(world: World, known: dict[str, tuple[str, str]], report: CheckReport) -> None:
    """Count venue orders per intent (``chaos.invariants``, the checker chaos runs use too)."""
    placed = [(VENUE, o.client_order_id) for o in world.paper.all_orders() if o.client_order_id]
    _, duplicates = duplicate_intents(known, placed)
    for detail in duplicates:
        report.add("duplicate", detail)
    for _, cid in placed:
        if cid.startswith(CLIENT_ORDER_ID_PREFIX) and cid not in known:
            report.add("lost", f"venue order {cid} maps to no intent in the gateway")
    by_intent: dict[tuple[str, str], list[str]] = {}
    for cid, key in known.items():
        by_intent.setdefault(key, []).append(cid)
    for (agent, intent_id), cids in sorted(by_intent.items()):
        if len(cids) > 1:
            report.add(
                "idempotency",
                f"intent {agent}/{intent_id} tracked under {len(cids)} client order ids: "
                + ", ".join(sorted(cids)),
            )


# -- 3 AND 6: CONSERVATION, RESERVATIONS, EACH FILL ONCE ------------------------


def _check_books(
    world: World,
    engine: GatewayEngine,
    snapshot: EngineSnapshot,
    report: CheckReport,
    *,
    final: bool,
) -> None:
    ledger = engine.ledger
    for problem in ledger.conservation_errors():
        report.add("conservation", f"gateway books: {problem}")
    for problem in world.paper.check_conservation():
        report.add("conservation", f"venue books: {problem}")

    for problem in reservation_problems(snapshot)[1]:
        report.add("reservation", problem)
    trade_owner: dict[str, str] = {}
    venue_trades = {t.id: t for t in world.paper.my_trades()}
    for order in snapshot.orders:
        cid = order.client_order_id
        filled = ZERO
        for trade_id in order.trade_ids:
            if trade_id in trade_owner:
                report.add("fill", f"trade {trade_id} applied to {trade_owner[trade_id]} and {cid}")
            trade_owner[trade_id] = cid
            trade = venue_trades.get(trade_id)
            if trade is None:
                report.add("fill", f"{cid} holds trade {trade_id}, which the venue never made")
                continue
            if trade.client_order_id != cid:
                report.add("fill", f"trade {trade_id} of {trade.client_order_id} applied to {cid}")
            filled += trade.amount
        if filled != order.filled:
            report.add("fill", f"{cid}: filled {order.filled}, its trades add up to {filled}")
        if order.filled > order.amount:
            report.add("fill", f"{cid}: filled {order.filled} of {order.amount}")
        if final and not (order.state.is_terminal or order.state is OrderState.UNKNOWN):
            report.add("unresolved_at_end", f"{cid} ({order.intent_id}) is {order.state}")
    for agent, view in snapshot.agents.items():
        if view.budget < 0:
            report.add("reservation", f"{agent} has a budget of {view.budget}")
    applied = snapshot.counters.get("fills", 0) - snapshot.counters.get("house_fills", 0)
    if applied != len(trade_owner):
        report.add("fill", f"{applied} fills counted as applied, {len(trade_owner)} trade ids held")
    ours = {tid for tid, t in venue_trades.items() if t.client_order_id is not None}
    if len(ours) != len(venue_trades):
        report.add("error", "the venue made trades without a client order id (liquidations?)")
    report.synced = ours == set(trade_owner)
    if final and not report.synced:
        missing = sorted(ours - set(trade_owner), key=int)
        report.add("fill", f"trades never applied after the final polls: {missing[:10]}")
    if report.synced:
        _check_mirror(world, engine, report)


def _check_mirror(world: World, engine: GatewayEngine, report: CheckReport) -> None:
    """Compare the gateway's mirror of the venue account with the venue's own, exactly."""
    ours = engine.ledger.expected_balances(VENUE)
    theirs = {asset: b.total for asset, b in world.paper.balances().assets.items()}
    for asset in sorted(set(ours) | set(theirs)):
        a, b = ours.get(asset, ZERO), theirs.get(asset, ZERO)
        if a != b:
            report.add("conservation", f"{asset}: the gateway expects {a}, the venue holds {b}")
    held = engine.ledger.expected_positions(VENUE)
    reported = {p.symbol: p.signed_contracts for p in world.paper.positions()}
    for symbol in sorted(set(held) | set(reported)):
        a, b = held.get(symbol, ZERO), reported.get(symbol, ZERO)
        if a != b:
            report.add("conservation", f"{symbol}: the gateway holds {a}, the venue {b}")
