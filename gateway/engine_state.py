"""The gateway engine's state and ``apply``: the only code that changes it.

``EngineState`` holds the orders, tombstones, ledger, breaker and the indexes
over them, and applies logged records (see ``gateway.engine`` for the
contract). Applying reads nothing but the record: no clock, no venue, so a
replay rebuilds exactly what the live run built. Deciding lives in the
subclasses (``engine_recon.FundingAndReconciliation``, ``engine.GatewayEngine``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import ROUND_UP, Decimal
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from core.clock import Clock
from core.models import Market, Side
from core.money import ZERO
from gateway.breaker import TRANSITIONS as BREAKER_TRANSITIONS
from gateway.breaker import Breaker, BreakerEvent, BreakerState, BreakerTransition, Trigger
from gateway.engine_errors import RecordRefused
from gateway.engine_records import (
    BudgetPayload,
    CancelKind,
    CancelPayload,
    FillPayload,
    FundingPayload,
    IntentPayload,
    OrderStatusPayload,
    ReconciliationPayload,
    ResultOutcome,
    ResultPayload,
    StatusSource,
    WalRecord,
)
from gateway.engine_retention import RetiredKeys, RetiredOrder
from gateway.engine_types import EngineConfig, EngineSnapshot, ResolveAction, UnresolvedOrder
from gateway.intents import client_order_id_for
from gateway.ledger import AgentView, FillOutcome, Ledger
from gateway.orders import OrderState, OrderView, TrackedOrder, merge_venue_status, state_after_fill
from gateway.wal_format import RecordType
from risk.drawdown import DrawdownTracker, DrawdownView
from risk.limits import RiskLimits

_RESETS = frozenset({Trigger.RESET, Trigger.RESET_TO_CLOSED})


class EngineState:
    """The engine's state, its readers, and ``apply``."""

    def __init__(
        self,
        markets: Mapping[tuple[str, str], Market],
        limits: RiskLimits,
        clock: Clock,
        *,
        config: EngineConfig | None = None,
    ) -> None:
        self._markets = dict(markets)
        self._venues = frozenset(venue for venue, _ in self._markets)
        self._limits = limits
        self._clock = clock
        self._config = config if config is not None else EngineConfig()
        self._breaker = Breaker(self._config.breaker, clock)
        self._ledger = Ledger(self._markets, self._config.cash_step)
        self._drawdown = DrawdownTracker(limits)
        self._orders: dict[str, TrackedOrder] = {}
        self._tombstones: set[str] = set()
        self._live: set[str] = set()
        """Orders that may not be terminal yet (pruned as they end): what ``unresolved`` scans."""
        self._open: dict[tuple[str, str, str, Side], Decimal] = {}
        """Unfilled amount of the live orders per (agent, venue, symbol, side): kept as a sum."""
        self._by_venue_id: dict[tuple[str, str], str] = {}
        self._recent: dict[str, deque[int]] = {}
        self._sendable: set[str] = set()
        self._probes_reported: set[str] = set()
        self._mark_ns: dict[tuple[str, str], int] = {}
        self._reconciled: set[str] = set()
        self._last_funding: dict[tuple[str, str], int] = {}
        self._ready = False
        self._counters: dict[str, int] = {}
        self._council_log: list[dict[str, Any]] = []
        # Retention (``gateway.engine_retention``): all moved by the log's time only.
        self._log_ns = 0
        """The latest ``at_ns`` applied: the log's own clock."""
        self._ended: deque[tuple[int, str]] = deque()
        """(when it ended or last changed, client order id) of terminal orders still in the table."""
        self._retired = RetiredKeys()
        """The idempotency keys of orders retired from the table, oldest first."""
        self._captured: dict[str, OrderCapture] = {}
        """A checkpoint's copy of each order unchanged since it was taken (``capture_state``,
        or ``apply`` as it became terminal): dropped by ``apply`` for the order a record
        names, the only way an order changes."""

    # -- READINESS AND READING ------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    @property
    def market_keys(self) -> tuple[tuple[str, str], ...]:
        """Return the (venue, symbol) of every market the gateway trades."""
        return tuple(self._markets)

    def finish_recovery(self) -> None:
        """Accept orders from now on (after replay, venue queries and reconciliation)."""
        self._ready = True

    def order(self, client_order_id: str) -> OrderView | None:
        found = self._orders.get(client_order_id)
        return found.view() if found is not None else None

    def order_for(self, agent: str, intent_id: str) -> OrderView | None:
        return self.order(client_order_id_for(agent, intent_id))

    def unresolved(self) -> list[UnresolvedOrder]:
        """Return the orders only the venue can resolve, with what to ask it.

        PENDING orders whose create this process is sending right now are
        listed too: the actor skips its own sends in flight.
        """
        found: list[UnresolvedOrder] = []
        for cid in sorted(self._live):
            order = self._orders[cid]
            if order.state.is_terminal:  # final: no transition leaves a terminal state
                self._live.discard(cid)
                continue
            if order.state.needs_venue_query:
                found.append(
                    UnresolvedOrder(
                        client_order_id=cid,
                        venue=order.venue,
                        symbol=order.symbol,
                        venue_order_id=order.venue_order_id,
                        state=order.state,
                        action=ResolveAction.CANCEL
                        if order.state is OrderState.CANCEL_PENDING
                        else ResolveAction.QUERY,
                    )
                )
        return found

    def open_amounts(self, agent: str, venue: str, symbol: str) -> tuple[Decimal, Decimal]:
        """Return the unfilled (buy, sell) amounts of ``agent``'s live orders in ``symbol``."""
        return (
            self._open.get((agent, venue, symbol, Side.BUY), ZERO),
            self._open.get((agent, venue, symbol, Side.SELL), ZERO),
        )

    def claim_send(self, client_order_id: str) -> bool:
        """Return True once for an order decided here and still PENDING: send it now."""
        if client_order_id not in self._sendable:
            return False
        self._sendable.discard(client_order_id)
        order = self._orders.get(client_order_id)
        return order is not None and order.state is OrderState.PENDING

    def agent_orders(self, agent: str, intent_ids: Iterable[str] = ()) -> tuple[OrderView, ...]:
        """Return ``agent``'s live orders and those of ``intent_ids`` (any state), by client order id.

        What ``snapshot().orders`` filtered to one agent gives, without viewing every order
        ever placed: an agent asks for its account at every market instant in lockstep.
        """
        wanted = frozenset(intent_ids)
        cids = {cid for cid in self._live if self._orders[cid].agent_id == agent}
        cids.update(client_order_id_for(agent, intent_id) for intent_id in wanted)
        views = []
        for cid in sorted(cids):
            order = self._orders.get(cid)
            if order is None or order.agent_id != agent:
                continue
            if order.state.is_terminal and order.intent_id not in wanted:
                continue
            views.append(order.view())
        return tuple(views)

    def agent_view(self, agent: str) -> AgentView | None:
        """Return ``snapshot().agents[agent]`` alone (None for an agent the books do not know)."""
        return self._ledger.view(agent) if agent in self._ledger.agents else None

    def snapshot(self) -> EngineSnapshot:
        agents = sorted(self._ledger.agents)
        return EngineSnapshot(
            ready=self._ready,
            breaker=self._breaker.state,
            breaker_since_ns=self._breaker.since_ns,
            orders=tuple(self._orders[cid].view() for cid in sorted(self._orders)),
            tombstones=tuple(sorted(self._tombstones)),
            agents={agent: self._ledger.view(agent) for agent in agents},
            venues={venue: self._ledger.venue_view(venue) for venue in sorted(self._venues)},
            reconciled_venues=tuple(sorted(self._reconciled)),
            counters=dict(sorted(self._counters.items())),
            retired_orders=len(self._retired),
            retired_by_agent=self._retired.tally(),
        )

    def retired(self, client_order_id: str) -> RetiredOrder | None:
        """Return what is kept of an order retired from the table (None: not retired)."""
        return self._retired.get(client_order_id)

    def order_for_venue_id(self, venue: str, venue_order_id: str) -> str | None:
        """Return the client order id of the venue's ``venue_order_id`` (retired orders too)."""
        found = self._by_venue_id.get((venue, venue_order_id))
        return found if found is not None else self._retired.cid_for_venue_id(venue, venue_order_id)

    def newest_trade_ms(self, venue: str) -> int | None:
        """Return the newest trade's time (ms) booked on ``venue``: where the fill cursor trails."""
        return self._ledger.trade_newest.get(venue)

    def drawdown(self) -> dict[str, DrawdownView]:
        return self._drawdown.view()

    def _count(self, name: str) -> None:
        self._counters[name] = self._counters.get(name, 0) + 1

    def _breaker_records(
        self, event: BreakerEvent, *, count: bool = False
    ) -> tuple[WalRecord, ...]:
        transition = self._breaker.record(event) if count else self._breaker.decide(event)
        if transition is None:
            return ()
        return ((RecordType.BREAKER, transition.to_payload()),)

    # -- APPLY ----------------------------------------------------------------

    def apply(self, record_type: RecordType, payload: Mapping[str, Any]) -> None:
        """Make one logged record take effect; the only way the engine's state changes.

        Raise ``RecordRefused`` (halt) on a record this code never writes.
        """
        handler = _APPLY.get(record_type)
        if handler is None:
            raise RecordRefused(str(record_type), "the engine does not apply this type")
        cid = payload.get("client_order_id")
        if cid is not None:
            self._captured.pop(cid, None)
        try:
            handler(self, payload)
        except ValidationError as exc:
            raise RecordRefused(record_type.name, f"malformed payload: {exc.errors()[0]}") from None
        if cid is not None:
            order = self._orders.get(cid)
            if order is not None and order.state.is_terminal:
                # Copied once as it ends (it seldom changes again): a checkpoint taken on
                # the event loop then copies only the live orders.
                self._captured[cid] = capture_order(order)
        at_ns = payload.get("at_ns")
        if type(at_ns) is int and at_ns > self._log_ns:
            self._log_ns = at_ns
            if self._config.terminal_order_retention_ns is not None:
                self._retire_due()

    def apply_all(self, records: Iterable[WalRecord]) -> None:
        """Apply records in order (replay, or all of one decision)."""
        for record_type, payload in records:
            self.apply(record_type, payload)

    def _apply_council(self, payload: Mapping[str, Any]) -> None:
        """A council decision is logged for the operator (its inputs and votes); budgets are BUDGET records."""
        if not isinstance(payload.get("ts_ns"), int):
            raise RecordRefused("COUNCIL", "no ts_ns")
        self._council_log.append(dict(payload))
        self._count("council_decisions")

    def council_log(self, since: int = 0) -> list[dict[str, Any]]:
        """Return the council's logged decisions from index ``since`` on (oldest first)."""
        return [dict(p) for p in self._council_log[since:]]

    def _apply_intent(self, payload: Mapping[str, Any]) -> None:
        p = IntentPayload.model_validate(payload)
        cid = p.client_order_id
        known = self._orders.get(cid)
        kept = self._retired.fingerprint(cid) if known is None else None
        if known is not None or kept is not None:
            logged = known.fingerprint if known is not None else kept
            if logged != p.fingerprint:
                raise RecordRefused("INTENT", f"{cid} logged twice with different parameters")
            return
        order = order_from_intent(p)
        self._orders[cid] = order
        self._live.add(cid)
        self._ledger.reserve(p.agent_id, p.reservation)
        self._add_open(order, p.amount)
        self._recent.setdefault(p.agent_id, deque()).append(p.at_ns)
        self._count("intents")
        if cid in self._tombstones:  # its cancel was logged first: it may never be sent
            self._tombstones.discard(cid)
            self._move(order, OrderState.REJECTED, p.at_ns, "canceled before submit")

    def _apply_result(self, payload: Mapping[str, Any]) -> None:
        p = ResultPayload.model_validate(payload)
        order = self._known(p.client_order_id, "RESULT")
        self._count("results")
        if order is None:
            return
        if p.outcome is ResultOutcome.ACCEPTED:
            assert p.status is not None
            # Merge first: "rejected" is only believable from a venue that never showed the order.
            self._merge(order, p.status, p.filled, p.at_ns)
            self._learn_venue_id(order, p.venue_order_id)
        elif p.outcome is ResultOutcome.REJECTED:
            if not order.venue_known and order.state in (OrderState.PENDING, OrderState.UNKNOWN):
                self._move(order, OrderState.REJECTED, p.at_ns, p.reason)
        elif order.state is OrderState.PENDING:
            self._move(order, OrderState.UNKNOWN, p.at_ns, p.reason)

    def _apply_status(self, payload: Mapping[str, Any]) -> None:
        p = OrderStatusPayload.model_validate(payload)
        order = self._known(p.client_order_id, "ORDER_STATUS")
        self._count("status_updates")
        if order is None:
            return
        if p.source is StatusSource.NOT_FOUND:
            if order.venue_known or order.state.is_terminal:
                return
            if p.final:
                self._move(order, OrderState.REJECTED, p.at_ns, p.reason)
            elif order.state is OrderState.PENDING:
                self._move(order, OrderState.UNKNOWN, p.at_ns, p.reason)
            return
        assert p.status is not None
        self._merge(order, p.status, p.filled, p.at_ns)
        self._learn_venue_id(order, p.venue_order_id)

    def _apply_cancel(self, payload: Mapping[str, Any]) -> None:
        p = CancelPayload.model_validate(payload)
        order = self._orders.get(p.client_order_id)
        self._count("cancels")
        if order is None and p.client_order_id in self._retired:
            self._count("facts_about_retired")
            return
        if order is None:
            if p.kind is not CancelKind.TOMBSTONE:
                raise RecordRefused("CANCEL", f"a cancel request for unknown {p.client_order_id}")
            self._tombstones.add(p.client_order_id)
            return
        # A tombstone logged after its intent (the two raced) is a plain cancel request.
        if not order.state.is_terminal:
            self._move(order, OrderState.CANCEL_PENDING, p.at_ns)

    def _apply_fill(self, payload: Mapping[str, Any]) -> None:
        p = FillPayload.model_validate(payload)
        market = self._markets.get((p.venue, p.symbol))
        if market is None:
            raise RecordRefused("FILL", f"no market {p.venue} {p.symbol}")
        order = self._orders.get(p.client_order_id) if p.client_order_id else None
        if order is not None and order.agent_id != p.agent_id:
            raise RecordRefused("FILL", f"{p.trade_id} booked to {p.agent_id}, not the order's")
        outcome = self._ledger.apply_fill(
            p.agent_id,
            market,
            p.trade_id,
            p.side,
            p.price,
            p.amount,
            p.fee_cost,
            p.fee_currency,
            p.timestamp,
        )
        keep_ms = self._config.trade_keep_ms
        if keep_ms is not None:
            self._ledger.prune_trades(p.venue, keep_ms)
        if outcome is FillOutcome.DUPLICATE:
            self._count("duplicate_fills")
            return
        self._count("fills")
        if order is None:
            retired = p.client_order_id in self._retired if p.client_order_id else False
            self._count("fills_after_retired" if retired else "house_fills")
            return
        was_terminal = order.state.is_terminal
        target, _ = state_after_fill(order, p.amount)
        remaining = order.remaining
        order.trade_ids.add(p.trade_id)
        order.filled += p.amount
        if not was_terminal:
            self._add_open(order, order.remaining - remaining)
        order.cost += p.price * p.amount
        if p.fee_cost:
            currency = p.fee_currency or market.settle or market.quote
            order.fees[currency] = order.fees.get(currency, ZERO) + p.fee_cost
        self._learn_venue_id(order, p.venue_order_id)
        order.updated_ns = p.at_ns
        if was_terminal:
            order.fills_after_terminal += 1
            self._count("fills_after_terminal")
            return
        self._move(order, target, p.at_ns)  # a terminal state releases all that is left
        if not order.state.is_terminal:
            # What the unfilled rest may still cost; rounded up, so never below it.
            left = (order.reservation * order.remaining / order.amount).quantize(
                self._config.cash_step, rounding=ROUND_UP
            )
            self._set_reservation(order, min(left, order.reservation_left))

    def _apply_breaker(self, payload: Mapping[str, Any]) -> None:
        transition = BreakerTransition.from_payload(payload)
        state = self._breaker.state
        self._count("breaker_transitions")
        if transition.from_state is not state:
            # Two trips decided from one state, then logged one after the other:
            # the later one counts only if it is safer, taken from where we are.
            if transition.to_state.safety <= state.safety:
                return
            trigger = next(
                (
                    t
                    for (s, t), to in BREAKER_TRANSITIONS.items()
                    if s is state and to is transition.to_state
                ),
                None,
            )
            if trigger is None:
                return
            transition = transition.model_copy(update={"from_state": state, "trigger": trigger})
        self._breaker.apply(transition)
        if transition.trigger in _RESETS:
            self._drawdown.rebase()

    def _apply_budget(self, payload: Mapping[str, Any]) -> None:
        p = BudgetPayload.model_validate(payload)
        for agent, amount in p.budgets.items():
            self._ledger.set_budget(agent, amount)
        self._count("budgets")

    def _apply_reconciliation(self, payload: Mapping[str, Any]) -> None:
        kind = payload.get("kind")
        if kind == "funding":
            f = FundingPayload.model_validate(payload)
            self._ledger.apply_funding(f.venue, f.asset, f.payments, f.total)
            key = (f.venue, f.symbol)
            self._last_funding[key] = max(self._last_funding.get(key, 0), f.funding_timestamp)
            self._count("fundings")
            return
        if kind != "reconciliation":
            raise RecordRefused("RECONCILIATION", f"unknown kind {kind!r}")
        r = ReconciliationPayload.model_validate(payload)
        for entry in r.corrections:
            if entry.kind == "balance":
                self._ledger.correct_balance(r.venue, entry.key, entry.delta)
            elif entry.price is not None and (r.venue, entry.key) in self._markets:
                self._ledger.correct_position(r.venue, entry.key, entry.delta, entry.price)
            else:
                raise RecordRefused("RECONCILIATION", f"position correction {entry.key} unbookable")
        if r.adopted:
            self._reconciled.add(r.venue)
        self._count("reconciliations")

    # -- state helpers (apply only) -------------------------------------------

    def _known(self, cid: str, record: str) -> TrackedOrder | None:
        """Return the order ``cid``; None if it was retired (a late fact changes nothing)."""
        order = self._orders.get(cid)
        if order is None:
            if cid in self._retired:
                self._count("facts_about_retired")
                return None
            raise RecordRefused(record, f"about {cid}, which no INTENT record logged")
        return order

    def _learn_venue_id(self, order: TrackedOrder, venue_order_id: str | None) -> None:
        order.venue_known = True
        if venue_order_id and order.venue_order_id is None:
            order.venue_order_id = venue_order_id
            self._by_venue_id[(order.venue, venue_order_id)] = order.client_order_id

    def _merge(self, order: TrackedOrder, status: Any, filled: Decimal | None, at_ns: int) -> None:
        merge = merge_venue_status(order, status, filled)
        if merge.contradiction is not None:
            # Decided before a concurrent fact was applied: the decision side
            # reported it; applying must stay total so replay never bricks.
            self._count("facts_skipped")
            return
        if merge.target is not None:
            self._move(order, merge.target, at_ns)

    def _move(self, order: TrackedOrder, target: OrderState, at_ns: int, reason: str = "") -> bool:
        """Move ``order``; on its first terminal state release all it still reserves."""
        was_terminal = order.state.is_terminal
        changed = order.move_to(target, at_ns, reason)
        if changed and target.is_terminal and not was_terminal:
            self._set_reservation(order, ZERO)
            self._add_open(order, -order.remaining)
            if self._config.terminal_order_retention_ns is not None:
                self._ended.append((at_ns, order.client_order_id))
        return changed

    def _retire_due(self) -> None:
        """Retire terminal orders unchanged for the retention; forget keys past theirs."""
        retention = self._config.terminal_order_retention_ns
        assert retention is not None
        horizon = self._log_ns - retention
        ended = self._ended
        while ended and ended[0][0] <= horizon:
            _, cid = ended.popleft()
            order = self._orders.get(cid)
            if order is None:
                continue
            if order.updated_ns > horizon:  # a late fill changed it: its time starts again
                ended.append((order.updated_ns, cid))
                continue
            del self._orders[cid]
            self._captured.pop(cid, None)
            self._live.discard(cid)
            self._sendable.discard(cid)
            self._probes_reported.discard(cid)
            if order.venue_order_id is not None:  # the retired keys index it from now on
                key = (order.venue, order.venue_order_id)
                if self._by_venue_id.get(key) == cid:
                    del self._by_venue_id[key]
            self._retired.add(order, self._log_ns)
            self._count("orders_retired")
        keep = self._config.idempotency_retention_ns
        if keep is not None:
            self._retired.expire(self._log_ns - keep)

    def _add_open(self, order: TrackedOrder, amount: Decimal) -> None:
        key = (order.agent_id, order.venue, order.symbol, order.side)
        total = self._open.get(key, ZERO) + amount
        if total:
            self._open[key] = total
        else:
            self._open.pop(key, None)

    def _set_reservation(self, order: TrackedOrder, left: Decimal) -> None:
        self._ledger.release(order.agent_id, order.reservation_left - left)
        order.reservation_left = left


_APPLY = {
    RecordType.COUNCIL: EngineState._apply_council,
    RecordType.INTENT: EngineState._apply_intent,
    RecordType.RESULT: EngineState._apply_result,
    RecordType.ORDER_STATUS: EngineState._apply_status,
    RecordType.CANCEL: EngineState._apply_cancel,
    RecordType.FILL: EngineState._apply_fill,
    RecordType.BREAKER: EngineState._apply_breaker,
    RecordType.BUDGET: EngineState._apply_budget,
    RecordType.RECONCILIATION: EngineState._apply_reconciliation,
}


_ORDER_FIELDS = (
    "client_order_id",
    "agent_id",
    "intent_id",
    "venue",
    "symbol",
    "side",
    "type",
    "amount",
    "price",
    "time_in_force",
    "post_only",
    "reduce_only",
    "fingerprint",
    "reservation",
    "reservation_left",
    "probe",
    "created_ns",
    "updated_ns",
    "state",
    "venue_order_id",
    "venue_known",
    "filled",
    "cost",
    "reason",
    "fills_after_terminal",
)
_order_fields = attrgetter(*_ORDER_FIELDS)
OrderCapture = tuple[tuple[Any, ...], tuple[str, ...], dict[str, Decimal]]
"""An order's fields (immutable values), its trade ids and its fees, copied on the loop."""


def capture_order(o: TrackedOrder) -> OrderCapture:
    return _order_fields(o), tuple(o.trade_ids), dict(o.fees)


def order_from_intent(p: IntentPayload) -> TrackedOrder:
    """Return the PENDING order an INTENT record creates."""
    return TrackedOrder(
        client_order_id=p.client_order_id,
        agent_id=p.agent_id,
        intent_id=p.intent_id,
        venue=p.venue,
        symbol=p.symbol,
        side=p.side,
        type=p.type,
        amount=p.amount,
        price=p.price,
        time_in_force=p.time_in_force,
        post_only=p.post_only,
        reduce_only=p.reduce_only,
        fingerprint=p.fingerprint,
        reservation=p.reservation,
        reservation_left=p.reservation,
        probe=p.probe,
        created_ns=p.at_ns,
        updated_ns=p.at_ns,
    )
