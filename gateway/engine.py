"""The gateway engine: a pure state machine over commands, venue events and WAL records.

The engine never writes the WAL, never talks to a venue and never reads the
wall clock. Commands and events return *decisions*; state changes only in
``apply(record_type, payload)``. The actor (``gateway/actor.py``) runs::

    decision = engine.submit(intent)            # or submit_many, cancel, on_fill, ...
    wal.append_many(decision.records)           # one write, one fsync
    for record in decision.records:             # in the order appended
        engine.apply(*record)
    if engine.claim_send(cid):                  # a Send only
        answer = venue.create_order(decision.request)
        result = engine.on_result(cid, answer)  # -> records -> wal -> apply

Replaying the WAL is calling ``apply`` on every record in order, and rebuilds
exactly the state a live run reached (``snapshot()`` compares equal).

Contract with the actor:

- Apply records in the order they were appended to the WAL (replay does).
- Apply a decision's records before deciding the next command on the same
  symbol: decisions read applied state only (``submit_many`` accounts within
  its own batch).
- Call ``claim_send`` right before sending a create: it is True once, for an
  order this process decided to send and that is still PENDING (a replayed
  intent is never sent: recovery asks the venue about it instead).
- Call ``finish_recovery`` after the replay, the venue queries and the
  reconciliation; before it, ``submit`` and ``cancel`` deny with NOT_READY.

The breaker's state moves only by logged BREAKER records; its counters (error
burst, probes) are volatile, as ``gateway.breaker`` specifies, and move when the
engine decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidValue
from core.ids import agent_id as check_agent_id
from core.models import Order, OrderStatus, OrderType, Side, TimeInForce, Trade
from core.money import ZERO
from gateway.breaker import (
    BreakerEvent,
    BreakerState,
    Drained,
    ErrorObserved,
    OrderKind,
    ProbeResult,
    Reset,
    Tick,
    Trip,
    TripReason,
)
from gateway.breaker import Denial as BreakerDenial
from gateway.engine_recon import FundingAndReconciliation
from gateway.engine_records import (
    BudgetPayload,
    CancelKind,
    CancelPayload,
    FillPayload,
    IntentPayload,
    OrderStatusPayload,
    ResultOutcome,
    ResultPayload,
    StatusSource,
    WalRecord,
)
from gateway.engine_retention import retired_view
from gateway.engine_state import order_from_intent
from gateway.engine_types import (
    Batch,
    CancelAction,
    CancelDecision,
    CancelFailure,
    CancelRequest,
    Denied,
    EventDecision,
    EventOutcome,
    Existing,
    FailureKind,
    ResultFailure,
    Send,
    SubmitDecision,
)
from gateway.intents import (
    OrderIntent,
    client_order_id_for,
    intent_fingerprint,
    is_swarm_client_order_id,
)
from gateway.ledger import HOUSE
from gateway.orders import (
    OrderState,
    OrderView,
    TrackedOrder,
    merge_venue_status,
    state_after_fill,
)
from risk.checks import (
    Approval,
    Denial,
    DenialReason,
    RiskContext,
    pre_trade_check,
    validate_client_order_id,
    validate_ids,
    validate_intent_fields,
)

_BREAKER_DENIALS = {
    BreakerDenial.BREAKER_OPEN: DenialReason.BREAKER_OPEN,
    BreakerDenial.DRAINING_REDUCE_ONLY: DenialReason.BREAKER_DRAINING,
    BreakerDenial.PROBE_BUDGET_SPENT: DenialReason.BREAKER_PROBES_SPENT,
}


class _Batch:
    """What ``submit_many`` has decided but not yet applied: counted like applied state."""

    __slots__ = ("intents", "pending", "rate", "reserved")

    def __init__(self) -> None:
        self.intents: dict[str, IntentPayload] = {}
        self.reserved: dict[str, Decimal] = {}
        self.pending: dict[tuple[str, str, str, Side], Decimal] = {}
        self.rate: dict[str, int] = {}


class GatewayEngine(FundingAndReconciliation):
    """Orders, ledger and breaker of the gateway, changed only by ``apply`` (see the module doc)."""

    # -- SUBMIT ---------------------------------------------------------------

    def submit(self, intent: OrderIntent) -> SubmitDecision:
        """Decide one intent: ``Send`` (log, apply, send), ``Existing`` or ``Denied``."""
        return self._decide_submit(intent, _Batch())

    def submit_many(self, intents: Iterable[OrderIntent]) -> Batch:
        """Decide several intents at once; each later one sees the earlier ones' reservations."""
        batch = _Batch()
        decisions = tuple(self._decide_submit(intent, batch) for intent in intents)
        records = tuple(r for d in decisions if isinstance(d, Send) for r in d.records)
        return Batch(decisions, records)

    def _decide_submit(self, raw: OrderIntent, batch: _Batch) -> SubmitDecision:
        if not self._ready:
            return Denied(Denial.of(DenialReason.NOT_READY, "gateway", "recovering", "not ready"))
        denial = validate_intent_fields(raw)
        if denial is not None:
            return Denied(denial)
        intent = _clean(raw)
        cid = client_order_id_for(intent.agent_id, intent.intent_id)
        fingerprint = intent_fingerprint(intent)
        known = self._orders.get(cid)
        in_batch = batch.intents.get(cid)
        if known is not None or in_batch is not None:
            if known is not None:
                logged, view = known.fingerprint, known.view()
            else:
                assert in_batch is not None
                logged, view = in_batch.fingerprint, _pending_view(in_batch)
            if logged != fingerprint:
                return Denied(
                    Denial.of(
                        DenialReason.IDEMPOTENCY_CONFLICT,
                        "intent_id",
                        intent.intent_id,
                        f"already submitted as {cid} with other parameters",
                    ),
                    cid,
                )
            return Existing(view)
        retired = self.retired(cid)
        if retired is not None:
            if retired.fingerprint != fingerprint:
                return Denied(
                    Denial.of(
                        DenialReason.IDEMPOTENCY_CONFLICT,
                        "intent_id",
                        intent.intent_id,
                        f"already submitted as {cid} (retired) with other parameters",
                    ),
                    cid,
                )
            return Existing(retired_view(cid, intent, retired))
        if cid in self._tombstones:
            return Denied(
                Denial.of(
                    DenialReason.CANCELED_BEFORE_SUBMIT,
                    "intent_id",
                    intent.intent_id,
                    "canceled before submit",
                ),
                cid,
            )
        market = self._markets.get((intent.venue, intent.symbol))
        ctx = self._risk_context(intent, batch)
        kind = OrderKind.NEW
        if intent.reduce_only or (
            market is not None
            and market.is_spot
            and intent.side is Side.SELL
            and intent.amount <= ctx.position - ctx.pending_sell
        ):
            kind = OrderKind.REDUCE_ONLY
        admission = self._breaker.admits(kind)
        if not admission:
            assert admission.denial is not None
            return Denied(
                Denial.of(
                    _BREAKER_DENIALS[admission.denial],
                    "breaker",
                    admission.state,
                    f"the breaker is {admission.state}: {admission.denial}",
                ),
                cid,
            )
        verdict = pre_trade_check(intent, market, ctx, self._limits, self._config.cash_step)
        if isinstance(verdict, Denial):
            return Denied(verdict, cid)
        return self._send(intent, cid, fingerprint, verdict, batch, admission.probe, kind)

    def _send(
        self,
        intent: OrderIntent,
        cid: str,
        fingerprint: str,
        approval: Approval,
        batch: _Batch,
        probe: bool,
        kind: OrderKind,
    ) -> SubmitDecision:
        try:
            request = intent.to_request(cid)
        except (InvalidValue, ValidationError) as exc:
            return Denied(Denial.of(DenialReason.INVALID_FIELD, "intent", intent, str(exc)), cid)
        if probe:
            self._breaker.admit(kind)  # spend one probe now: a batch must not overspend
        payload = IntentPayload(
            client_order_id=cid,
            agent_id=intent.agent_id,
            intent_id=intent.intent_id,
            venue=intent.venue,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            amount=intent.amount,
            price=intent.price,
            time_in_force=intent.time_in_force,
            post_only=intent.post_only,
            reduce_only=intent.reduce_only,
            fingerprint=fingerprint,
            reservation=approval.reservation,
            reference_price=approval.reference_price,
            probe=probe,
            at_ns=self._clock.now_ns(),
        )
        batch.intents[cid] = payload
        agent = intent.agent_id
        batch.reserved[agent] = batch.reserved.get(agent, ZERO) + approval.reservation
        side_key = (agent, intent.venue, intent.symbol, intent.side)
        batch.pending[side_key] = batch.pending.get(side_key, ZERO) + intent.amount
        batch.rate[agent] = batch.rate.get(agent, 0) + 1
        self._sendable.add(cid)
        return Send(cid, intent.venue, request, (payload.to_record(),))

    def _risk_context(self, intent: OrderIntent, batch: _Batch) -> RiskContext:
        agent, venue, symbol = intent.agent_id, intent.venue, intent.symbol
        buy, sell = self.open_amounts(agent, venue, symbol)
        buy += batch.pending.get((agent, venue, symbol, Side.BUY), ZERO)
        sell += batch.pending.get((agent, venue, symbol, Side.SELL), ZERO)
        now = self._clock.now_ns()
        recent = self._recent.get(agent)
        horizon = now - self._limits.order_rate_window_ns
        if recent is not None:
            while recent and recent[0] <= horizon:
                recent.popleft()
        mark_ns = self._mark_ns.get((venue, symbol))
        return RiskContext(
            venue_known=venue in self._venues,
            reference_price=self._ledger.marks.get((venue, symbol)),
            reference_age_ns=now - mark_ns if mark_ns is not None else None,
            position=self._ledger.position(agent, venue, symbol),
            pending_buy=buy,
            pending_sell=sell,
            free_budget=self._ledger.free(agent) - batch.reserved.get(agent, ZERO),
            recent_orders=(len(recent) if recent else 0) + batch.rate.get(agent, 0),
            may_borrow=venue in self._limits.spot_borrow_venues,
        )

    # -- CANCEL ---------------------------------------------------------------

    def cancel(self, agent: str, intent_id: str) -> CancelDecision:
        """Decide a cancel: send it, leave a tombstone (unknown intent), or nothing (terminal)."""
        denial = validate_ids(agent, intent_id)
        if denial is not None:
            return CancelDecision(CancelAction.DENIED, None, denial=denial)
        if not self._ready:
            denial = Denial.of(DenialReason.NOT_READY, "gateway", "recovering", "not ready")
            return CancelDecision(CancelAction.DENIED, None, denial=denial)
        cid = client_order_id_for(agent, intent_id)
        order = self._orders.get(cid)
        now = self._clock.now_ns()
        if order is None:
            retired = self.retired(cid)
            if retired is not None:
                return CancelDecision(CancelAction.NOOP, cid, state=retired.state)
            if cid in self._tombstones:
                return CancelDecision(CancelAction.NOOP, cid)
            tombstone = CancelPayload(
                client_order_id=cid,
                agent_id=agent,
                intent_id=intent_id,
                kind=CancelKind.TOMBSTONE,
                at_ns=now,
            )
            return CancelDecision(CancelAction.TOMBSTONE, cid, (tombstone.to_record(),))
        if order.state.is_terminal:
            return CancelDecision(CancelAction.NOOP, cid, state=order.state)
        request = CancelRequest(order.venue, order.symbol, cid, order.venue_order_id)
        if order.state is OrderState.CANCEL_PENDING:  # a cancel may be sent again, safely
            return CancelDecision(CancelAction.SEND, cid, request=request, state=order.state)
        payload = CancelPayload(
            client_order_id=cid,
            agent_id=agent,
            intent_id=intent_id,
            kind=CancelKind.REQUESTED,
            at_ns=now,
        )
        return CancelDecision(
            CancelAction.SEND, cid, (payload.to_record(),), request=request, state=order.state
        )

    # -- VENUE ANSWERS --------------------------------------------------------

    def on_result(self, client_order_id: str, answer: Order | ResultFailure) -> EventDecision:
        """Decide what the create's answer (an order, a refusal, or nothing known) records."""
        order, early = self._lookup(client_order_id)
        if order is None:
            return early
        now = self._clock.now_ns()
        if isinstance(answer, Order):
            if answer.client_order_id not in (None, client_order_id):
                return self._contradiction(
                    order, f"the create answer names client order id {answer.client_order_id}"
                )
            merge = merge_venue_status(order, answer.status, answer.filled)
            if merge.contradiction is not None:
                return self._contradiction(order, merge.contradiction)
            ok = answer.status is not OrderStatus.REJECTED
            extra = self._probe_result(order, ok)
            if merge.target is None and order.venue_order_id == answer.id:
                return EventDecision(EventOutcome.NOOP if not extra else EventOutcome.RECORD, extra)
            payload = ResultPayload(
                client_order_id=client_order_id,
                outcome=ResultOutcome.ACCEPTED,
                venue_order_id=answer.id,
                status=answer.status,
                filled=answer.filled,
                at_ns=now,
            )
            return EventDecision(EventOutcome.RECORD, (payload.to_record(), *extra))
        if answer.kind is FailureKind.REJECTED:
            if order.venue_known or order.state not in (OrderState.PENDING, OrderState.UNKNOWN):
                return EventDecision(EventOutcome.NOOP, detail=f"order is {order.state}")
            outcome = ResultOutcome.REJECTED
            extra = self._probe_result(order, False)
        else:
            if order.state is not OrderState.PENDING:
                return EventDecision(EventOutcome.NOOP, detail=f"order is {order.state}")
            outcome = ResultOutcome.UNKNOWN
            extra = self._probe_result(order, False) + self._breaker_records(
                ErrorObserved(f"{client_order_id}: {answer.reason}"), count=True
            )
        payload = ResultPayload(
            client_order_id=client_order_id, outcome=outcome, reason=answer.reason, at_ns=now
        )
        return EventDecision(EventOutcome.RECORD, (payload.to_record(), *extra))

    def on_order_status(self, client_order_id: str, answer: Order | None) -> EventDecision:
        """Decide what the venue's view of an order records (``None``: the venue does not know it).

        "Not found" soon after the create means "not visible yet": the order
        stays (PENDING becomes UNKNOWN). Only once ``not_found_grace_ns`` has
        passed since its intent, and only if the venue has never shown it, is
        it REJECTED as never having reached the venue.
        """
        return self._venue_view(client_order_id, answer, StatusSource.QUERY)

    def on_cancel_result(
        self, client_order_id: str, answer: Order | CancelFailure
    ) -> EventDecision:
        """Decide what a cancel's answer records; a failed cancel leaves it CANCEL_PENDING."""
        if isinstance(answer, Order):
            return self._venue_view(client_order_id, answer, StatusSource.CANCEL)
        order, early = self._lookup(client_order_id)
        if order is None:
            return early
        if answer is CancelFailure.NOT_FOUND and not order.venue_known:
            return self._venue_view(client_order_id, None, StatusSource.CANCEL)
        return EventDecision(EventOutcome.NOOP, detail=f"cancel {answer}: query the order")

    def _venue_view(
        self, client_order_id: str, answer: Order | None, source: StatusSource
    ) -> EventDecision:
        order, early = self._lookup(client_order_id)
        if order is None:
            return early
        now = self._clock.now_ns()
        if answer is None:
            if order.venue_known or order.state.is_terminal:
                return EventDecision(EventOutcome.NOOP, detail="not found; the venue knew it")
            final = now - order.created_ns >= self._config.not_found_grace_ns
            if not final and order.state is not OrderState.PENDING:
                return EventDecision(EventOutcome.NOOP, detail="not found yet; within the grace")
            payload = OrderStatusPayload(
                client_order_id=client_order_id,
                source=StatusSource.NOT_FOUND,
                final=final,
                reason="never reached the venue" if final else "not found yet",
                at_ns=now,
            )
            return EventDecision(EventOutcome.RECORD, (payload.to_record(),))
        if answer.client_order_id not in (None, client_order_id):
            return self._contradiction(
                order, f"the venue's order names client order id {answer.client_order_id}"
            )
        merge = merge_venue_status(order, answer.status, answer.filled)
        if merge.contradiction is not None:
            return self._contradiction(order, merge.contradiction)
        if merge.target is None and order.venue_known and order.venue_order_id == answer.id:
            return EventDecision(EventOutcome.NOOP)
        payload = OrderStatusPayload(
            client_order_id=client_order_id,
            source=source,
            status=answer.status,
            venue_order_id=answer.id,
            filled=answer.filled,
            at_ns=now,
        )
        return EventDecision(EventOutcome.RECORD, (payload.to_record(),))

    def on_fill(self, trade: Trade) -> EventDecision:
        """Decide the FILL record of ``trade``: once per (venue, trade id); else ``DUPLICATE``.

        A trade of an order we do not know is still money that moved: it is
        booked to the house, and the breaker halts if the order carries our
        prefix (an order without an intent: invariant 2 broken) or trips if
        it is foreign (someone else trades this account).
        """
        if trade.amount <= 0 or trade.price <= 0:
            return EventDecision(EventOutcome.INVALID, detail="a trade needs amount and price > 0")
        if self._ledger.has_trade(trade.venue, trade.id):
            return EventDecision(EventOutcome.DUPLICATE)
        if self._ledger.behind_horizon(trade.venue, trade.timestamp):
            # Its id may have been pruned: booked already, or reported later than the
            # cursor ever looks (reconciliation settles that one); never booked twice.
            return EventDecision(EventOutcome.DUPLICATE, detail="older than the kept trade ids")
        market = self._markets.get((trade.venue, trade.symbol))
        if market is None:
            detail = f"a trade {trade.id} in {trade.venue} {trade.symbol}, a market we do not know"
            halt = self._breaker_records(Trip(TripReason.VENUE_PROTOCOL_ERROR, detail))
            return EventDecision(EventOutcome.CONTRADICTION, halt, detail)
        cid = trade.client_order_id
        order = self._orders.get(cid) if cid is not None else None
        if order is None and trade.order_id is not None:
            found = self.order_for_venue_id(trade.venue, trade.order_id)
            order = self._orders.get(found) if found is not None else None
            if order is None and found is not None and found in self._retired:
                cid = found
        retired = self.retired(cid) if order is None and cid is not None else None
        fee = trade.fee
        payload = FillPayload(
            client_order_id=order.client_order_id if order is not None else cid,
            agent_id=order.agent_id
            if order is not None
            else (retired.agent_id if retired is not None else HOUSE),
            venue=trade.venue,
            symbol=trade.symbol,
            trade_id=trade.id,
            venue_order_id=trade.order_id,
            side=trade.side,
            price=trade.price,
            amount=trade.amount,
            fee_cost=fee.cost if fee is not None else ZERO,
            fee_currency=fee.currency if fee is not None else None,
            taker_or_maker=trade.taker_or_maker,
            timestamp=trade.timestamp,
            at_ns=self._clock.now_ns(),
        )
        record = payload.to_record()
        if order is None and retired is not None:
            # A late trade of an order retired after the query window: money that moved for
            # its agent. Booked, never mistaken for an order without an intent.
            return EventDecision(EventOutcome.RECORD, (record,), f"{cid} is retired")
        if order is None:
            if is_swarm_client_order_id(cid):
                event = Trip(
                    TripReason.VENUE_PROTOCOL_ERROR, f"trade {trade.id}: order {cid} has no intent"
                )
            else:
                event = Trip(TripReason.RECONCILIATION_MISMATCH, f"foreign trade {trade.id}")
            detail = event.detail
            return EventDecision(
                EventOutcome.CONTRADICTION, (record, *self._breaker_records(event)), detail
            )
        problem: str | None = None
        if trade.side is not order.side or trade.symbol != order.symbol:
            problem = f"trade {trade.id} is a {trade.side} of {trade.symbol}, not the order's"
        else:
            _, problem = state_after_fill(order, trade.amount)
        if problem is not None:
            event = Trip(TripReason.VENUE_PROTOCOL_ERROR, f"{order.client_order_id}: {problem}")
            return EventDecision(
                EventOutcome.CONTRADICTION, (record, *self._breaker_records(event)), problem
            )
        return EventDecision(EventOutcome.RECORD, (record,))

    def _lookup(self, client_order_id: str) -> tuple[TrackedOrder | None, EventDecision]:
        denial = validate_client_order_id(client_order_id)
        if denial is not None:
            return None, EventDecision(EventOutcome.INVALID, detail=denial.message)
        order = self._orders.get(client_order_id)
        if order is None:
            return None, EventDecision(EventOutcome.UNKNOWN_ORDER, detail=client_order_id)
        return order, EventDecision(EventOutcome.NOOP)

    def _contradiction(self, order: TrackedOrder, detail: str) -> EventDecision:
        text = f"{order.client_order_id}: {detail}"
        records = self._breaker_records(Trip(TripReason.VENUE_PROTOCOL_ERROR, text))
        return EventDecision(EventOutcome.CONTRADICTION, records, text)

    def _probe_result(self, order: TrackedOrder, ok: bool) -> tuple[WalRecord, ...]:
        if not order.probe or order.client_order_id in self._probes_reported:
            return ()
        if self._breaker.state is not BreakerState.HALF_OPEN:
            return ()
        self._probes_reported.add(order.client_order_id)
        return self._breaker_records(ProbeResult(ok, order.client_order_id), count=True)

    # -- BUDGETS, MARKS, BREAKER ----------------------------------------------

    def set_budgets(self, budgets: Mapping[str, Decimal]) -> EventDecision:
        """Decide the BUDGET record; raise ``InvalidValue`` on a bad agent id or amount."""
        checked: dict[str, Decimal] = {}
        for agent, amount in budgets.items():
            check_agent_id(agent)
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise InvalidValue("budget", amount, f"of {agent} must be a finite Decimal >= 0")
            checked[agent] = amount
        payload = BudgetPayload(budgets=checked, at_ns=self._clock.now_ns())
        return EventDecision(EventOutcome.RECORD, (payload.to_record(),))

    def mark(self, prices: Mapping[tuple[str, str], Decimal]) -> EventDecision:
        """Take mid/mark prices (volatile, not logged); return a breaker trip on a drawdown breach."""
        now = self._clock.now_ns()
        for key, price in prices.items():
            if isinstance(price, Decimal) and price.is_finite() and price > 0:
                self._ledger.marks[key] = price
                self._mark_ns[key] = now
        agents = [a for a in self._ledger.agents if a != HOUSE]
        if not agents:
            return EventDecision(EventOutcome.NOOP)
        pnls = {agent: self._ledger.valuation(agent)[3] for agent in agents}
        budgets = {agent: self._ledger.agents[agent].budget for agent in agents}
        breaches = self._drawdown.update(pnls, budgets)
        if not breaches:
            return EventDecision(EventOutcome.NOOP)
        detail = "; ".join(b.describe() for b in breaches)
        records = self._breaker_records(Trip(TripReason.DRAWDOWN_LIMIT, detail))
        return EventDecision(EventOutcome.RECORD if records else EventOutcome.NOOP, records, detail)

    def trip(self, reason: TripReason, detail: str = "", actor: str = "gateway") -> EventDecision:
        """Decide a breaker trip (a halt-class reason opens it at once)."""
        return self._breaker_event(Trip(reason, detail, actor))

    def reset(self, operator: str, detail: str = "") -> EventDecision:
        """Decide an operator's reset of an OPEN breaker."""
        return self._breaker_event(Reset(operator, detail))

    def observe_error(self, detail: str) -> EventDecision:
        """Count one error toward the burst limit; return the trip it causes, if any."""
        return self._breaker_event(ErrorObserved(detail), count=True)

    def breaker_tick(self) -> EventDecision:
        """While DRAINING: open the breaker once nothing is in flight, or on the drain timeout."""
        if self._breaker.state is not BreakerState.DRAINING:
            return EventDecision(EventOutcome.NOOP)
        in_flight = any(not o.state.is_terminal for o in self._orders.values())
        return self._breaker_event(Tick() if in_flight else Drained())

    def _breaker_event(self, event: BreakerEvent, *, count: bool = False) -> EventDecision:
        records = self._breaker_records(event, count=count)
        return EventDecision(EventOutcome.RECORD if records else EventOutcome.NOOP, records)


def _clean(intent: Any) -> OrderIntent:
    """Return ``intent`` with its enums as enums (it may come from ``model_construct``)."""
    return OrderIntent.model_construct(
        agent_id=intent.agent_id,
        intent_id=intent.intent_id,
        venue=intent.venue,
        symbol=intent.symbol,
        side=Side(intent.side),
        type=OrderType(intent.type),
        amount=intent.amount,
        price=intent.price,
        time_in_force=TimeInForce(intent.time_in_force),
        post_only=intent.post_only,
        reduce_only=intent.reduce_only,
    )


def _pending_view(p: IntentPayload) -> OrderView:
    """Return the view of an order decided earlier in the same batch (not applied yet)."""
    return order_from_intent(p).view()
