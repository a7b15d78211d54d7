from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import NS_PER_S, SimulatedClock
from core.errors import (
    DuplicateClientOrderId,
    GatewayNotReady,
    HaltError,
    InvalidOrder,
    RequestTimeout,
)
from core.events import FundingEvent
from core.models import OrderStatus, OrderType, Side
from gateway.breaker import BreakerConfig, BreakerState, TripReason
from gateway.disk import SimulatedDisk
from gateway.engine import GatewayEngine
from gateway.engine_errors import IdempotencyConflict, OrderDenied, RecordRefused
from gateway.engine_records import WalRecord
from gateway.engine_types import (
    CancelAction,
    CancelFailure,
    Denied,
    EngineConfig,
    EventOutcome,
    Existing,
    FailureKind,
    ResolveAction,
    ResultFailure,
    Send,
    failure_from_error,
)
from gateway.intents import OrderIntent, client_order_id_for
from gateway.orders import OrderState
from gateway.wal import RecordType, Wal
from risk.checks import DenialReason
from risk.limits import RiskLimits
from tests.unit.exchanges.paper.helpers import make_venue, standard_book
from tests.unit.gateway.engine_support import (
    MARKETS,
    MID,
    PERP,
    SPOT,
    START_NS,
    VENUE,
    apply,
    intent,
    make_engine,
    sent,
    trade,
    venue_order,
)
from tests.unit.risk.test_reconcile import balances

D = Decimal
S = OrderState
TIMEOUT = ResultFailure(FailureKind.UNKNOWN, "RequestTimeout: no answer")


def reserved(engine: GatewayEngine, agent: str = "mm") -> Decimal:
    view = engine.snapshot().agents.get(agent)
    return view.reserved if view is not None else D(0)


def open_order(engine: GatewayEngine, intent_id: str = "i1", **kwargs: Any) -> Send:
    send = sent(engine, engine.submit(intent(intent_id, **kwargs)))
    apply(engine, engine.on_result(send.client_order_id, venue_order(send)).records)
    return send


def open_breaker(engine: GatewayEngine) -> None:
    apply(engine, engine.trip(TripReason.MANUAL_HALT, "test").records)
    assert engine.breaker_state is BreakerState.OPEN


# -- SUBMIT: IDEMPOTENCY, BREAKER, READINESS ----------------------------------


def test_submit_when_valid_then_send_with_intent_record_and_reservation() -> None:
    engine, _ = make_engine()
    decision = engine.submit(intent())
    assert isinstance(decision, Send)
    assert decision.request.client_order_id == client_order_id_for("mm", "i1")
    [(record_type, payload)] = decision.records
    assert record_type is RecordType.INTENT
    assert payload["reservation"] == D("600.49990000")
    assert reserved(engine) == 0  # nothing changes before apply
    apply(engine, decision.records)
    assert reserved(engine) == D("600.49990000")
    assert engine.order(decision.client_order_id).state is S.PENDING  # type: ignore[union-attr]


def test_submit_when_same_intent_twice_then_same_order() -> None:
    engine, _ = make_engine()
    first = sent(engine, engine.submit(intent()))
    again = engine.submit(intent())
    assert isinstance(again, Existing)
    assert again.order.client_order_id == first.client_order_id
    assert again.order.state is S.PENDING
    assert reserved(engine) == D("600.49990000")  # reserved once
    apply(engine, engine.on_result(first.client_order_id, venue_order(first)).records)
    later = engine.submit(intent(amount="0.0100"))  # the same number, spelled differently
    assert isinstance(later, Existing) and later.order.state is S.OPEN


def test_submit_when_same_id_different_params_then_idempotency_conflict() -> None:
    engine, _ = make_engine()
    sent(engine, engine.submit(intent()))
    decision = engine.submit(intent(price="59980"))
    assert isinstance(decision, Denied)
    assert decision.denial.reason is DenialReason.IDEMPOTENCY_CONFLICT
    assert isinstance(decision.error(), IdempotencyConflict)
    assert len(engine.snapshot().orders) == 1


def test_submit_when_breaker_open_then_denied() -> None:
    engine, _ = make_engine()
    open_breaker(engine)
    decision = engine.submit(intent())
    assert isinstance(decision, Denied)
    assert decision.denial.reason is DenialReason.BREAKER_OPEN
    assert isinstance(decision.error(), OrderDenied)
    assert reserved(engine) == 0 and not engine.snapshot().orders


def test_submit_when_breaker_open_but_order_known_then_existing() -> None:
    engine, _ = make_engine()
    sent(engine, engine.submit(intent()))
    open_breaker(engine)
    assert isinstance(engine.submit(intent()), Existing)


def test_submit_when_before_recovery_then_not_ready_and_nothing_reserved() -> None:
    engine, _ = make_engine(ready=False)
    decision = engine.submit(intent())
    assert isinstance(decision, Denied)
    assert decision.denial.reason is DenialReason.NOT_READY
    assert isinstance(decision.error(), GatewayNotReady)
    assert engine.cancel("mm", "i1").action is CancelAction.DENIED
    engine.finish_recovery()
    assert isinstance(engine.submit(intent()), Send)


def test_submit_when_draining_then_only_reducing_orders_pass() -> None:
    engine, _ = make_engine()
    long = open_order(engine, "p1", symbol=PERP, price="59990.0")
    apply(engine, engine.on_fill(trade(long, "t1", "0.01")).records)
    apply(engine, engine.trip(TripReason.MANUAL_KILL, "stop").records)
    assert engine.breaker_state is BreakerState.DRAINING
    new = engine.submit(intent("i2"))
    assert isinstance(new, Denied) and new.denial.reason is DenialReason.BREAKER_DRAINING
    reduce = intent(
        "p2", symbol=PERP, side=Side.SELL, price="60010.0", amount="0.01", reduce_only=True
    )
    assert isinstance(engine.submit(reduce), Send)


def test_submit_when_half_open_then_probe_budget_spent_once_per_order() -> None:
    config = EngineConfig(breaker=BreakerConfig(probe_orders=2))
    engine, _ = make_engine(config=config)
    open_breaker(engine)
    apply(engine, engine.reset("ops").records)
    assert engine.snapshot().breaker is BreakerState.HALF_OPEN
    batch = engine.submit_many([intent("a"), intent("b", price="59980"), intent("c")])
    reasons = [d.denial.reason if isinstance(d, Denied) else "send" for d in batch.decisions]
    assert reasons == ["send", "send", DenialReason.BREAKER_PROBES_SPENT]
    apply(engine, batch.records)
    for send in batch.sends:
        apply(engine, engine.on_result(send.client_order_id, venue_order(send)).records)
    assert engine.breaker_state is BreakerState.CLOSED


def test_breaker_when_draining_and_nothing_in_flight_then_tick_opens_it() -> None:
    engine, clock = make_engine(
        config=EngineConfig(breaker=BreakerConfig(drain_timeout_ns=NS_PER_S))
    )
    sent(engine, engine.submit(intent()))
    apply(engine, engine.trip(TripReason.MANUAL_KILL).records)
    assert engine.breaker_tick().records == ()  # an order is in flight, no timeout yet
    clock.advance(NS_PER_S)
    apply(engine, engine.breaker_tick().records)  # the drain timeout
    assert engine.breaker_state is BreakerState.OPEN
    other, _ = make_engine()
    apply(other, other.trip(TripReason.MANUAL_KILL).records)
    apply(other, other.breaker_tick().records)  # nothing in flight: drained
    assert other.breaker_state is BreakerState.OPEN


def test_breaker_when_errors_burst_then_trips() -> None:
    engine, _ = make_engine(config=EngineConfig(breaker=BreakerConfig(error_burst_count=2)))
    first = sent(engine, engine.submit(intent("a")))
    second = sent(engine, engine.submit(intent("b", price="59980")))
    assert engine.on_result(first.client_order_id, TIMEOUT).records[1:] == ()
    decision = engine.on_result(second.client_order_id, TIMEOUT)
    assert [r[0] for r in decision.records] == [RecordType.RESULT, RecordType.BREAKER]
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.DRAINING


def test_breaker_when_two_trips_decided_from_one_state_then_only_safer_one_counts() -> None:
    engine, _ = make_engine()
    drain = engine.trip(TripReason.MANUAL_KILL).records
    halt = engine.trip(TripReason.MANUAL_HALT).records
    apply(engine, drain)
    apply(engine, halt)  # decided from CLOSED, applied from DRAINING: still opens
    assert engine.breaker_state is BreakerState.OPEN
    apply(engine, drain)  # stale and less safe: ignored, never a regression
    assert engine.breaker_state is BreakerState.OPEN


# -- BAD INPUT: DENIED, NOTHING RESERVED --------------------------------------

_BAD: list[tuple[dict[str, Any], DenialReason]] = [
    ({"amount": D("NaN")}, DenialReason.INVALID_AMOUNT),
    ({"amount": D("Infinity")}, DenialReason.INVALID_AMOUNT),
    ({"amount": D("-0.01")}, DenialReason.INVALID_AMOUNT),
    ({"amount": D(0)}, DenialReason.INVALID_AMOUNT),
    ({"price": D("NaN")}, DenialReason.INVALID_PRICE),
    ({"price": D("-Infinity")}, DenialReason.INVALID_PRICE),
    ({"price": D(-59990)}, DenialReason.INVALID_PRICE),
    ({"price": D(0)}, DenialReason.INVALID_PRICE),
    ({"price": D("59990.001")}, DenialReason.OFF_TICK),
    ({"amount": D("0.00001")}, DenialReason.OFF_LOT),
    ({"amount": D("0.0001"), "price": D("49000")}, DenialReason.PRICE_OUTSIDE_BAND),
    ({"symbol": "DOGE/USDT"}, DenialReason.UNKNOWN_SYMBOL),
    ({"venue": "nowhere"}, DenialReason.UNKNOWN_VENUE),
    ({"type": "stop"}, DenialReason.UNKNOWN_ORDER_TYPE),
    ({"reduce_only": True}, DenialReason.REDUCE_ONLY_ON_SPOT),
    ({"agent_id": "Not-An-Agent"}, DenialReason.MALFORMED_ID),
    ({"intent_id": "bad id!"}, DenialReason.MALFORMED_ID),
    ({"amount": D(1)}, DenialReason.ORDER_NOTIONAL_CAP),
    ({"amount": D("0.17")}, DenialReason.INSUFFICIENT_BUDGET),
]


@pytest.mark.parametrize(("changes", "expected"), _BAD)
def test_submit_when_bad_input_then_denied_and_nothing_reserved(
    changes: dict[str, Any], expected: DenialReason
) -> None:
    engine, _ = make_engine(limits=RiskLimits(max_order_notional=D(20_000)))
    base = intent().model_dump()
    bad = OrderIntent.model_construct(**(base | changes))
    decision = engine.submit(bad)
    assert isinstance(decision, Denied)
    assert decision.denial.reason is expected, decision.denial
    assert isinstance(decision.error(), OrderDenied)
    snapshot = engine.snapshot()
    assert not snapshot.orders
    assert all(view.reserved == 0 for view in snapshot.agents.values())
    assert engine.submit_many([bad]).records == ()


def test_submit_when_below_min_notional_then_denied() -> None:
    strict = dict(MARKETS)
    strict[(VENUE, SPOT)] = strict[(VENUE, SPOT)].model_copy(update={"min_cost": D(1000)})
    engine = GatewayEngine(strict, RiskLimits(), make_engine()[1])
    apply(engine, engine.set_budgets({"mm": D(10_000)}).records)
    engine.mark({(VENUE, SPOT): MID})
    engine.finish_recovery()
    decision = engine.submit(intent())
    assert isinstance(decision, Denied)
    assert decision.denial.reason is DenialReason.BELOW_MIN_NOTIONAL
    assert reserved(engine) == 0


def test_submit_when_no_mark_then_no_reference_price() -> None:
    engine, _ = make_engine(marks=False)
    decision = engine.submit(intent(type=OrderType.MARKET, price=None))
    assert isinstance(decision, Denied)
    assert decision.denial.reason is DenialReason.NO_REFERENCE_PRICE


def test_submit_when_rate_cap_reached_then_denied_until_window_passes() -> None:
    engine, clock = make_engine(
        limits=RiskLimits(max_orders_per_window=2, order_rate_window_ns=10 * NS_PER_S)
    )
    sent(engine, engine.submit(intent("a", amount="0.001")))
    sent(engine, engine.submit(intent("b", amount="0.001")))
    third = engine.submit(intent("c", amount="0.001"))
    assert isinstance(third, Denied) and third.denial.reason is DenialReason.ORDER_RATE
    clock.advance(10 * NS_PER_S)
    assert isinstance(engine.submit(intent("c", amount="0.001")), Send)


def test_submit_when_open_orders_fill_the_position_cap_then_denied() -> None:
    engine, _ = make_engine(limits=RiskLimits(max_position_notional=D(1000)))
    sent(engine, engine.submit(intent("a", amount="0.01")))
    second = engine.submit(intent("b", amount="0.007"))
    assert isinstance(second, Denied) and second.denial.reason is DenialReason.POSITION_CAP


# -- SUBMIT_MANY --------------------------------------------------------------


def test_submit_many_when_budget_fits_one_then_second_denied_and_one_record() -> None:
    engine, _ = make_engine(budgets={"mm": D(1000)})
    batch = engine.submit_many([intent("a"), intent("b", price="59980")])
    assert isinstance(batch.decisions[0], Send)
    assert isinstance(batch.decisions[1], Denied)
    assert batch.decisions[1].denial.reason is DenialReason.INSUFFICIENT_BUDGET
    assert [r[0] for r in batch.records] == [RecordType.INTENT]


def test_submit_many_when_same_intent_twice_in_batch_then_one_order() -> None:
    engine, _ = make_engine()
    batch = engine.submit_many([intent(), intent(), intent(price="59980")])
    assert isinstance(batch.decisions[0], Send)
    assert isinstance(batch.decisions[1], Existing)
    assert batch.decisions[1].order.state is S.PENDING
    assert isinstance(batch.decisions[2], Denied)
    assert len(batch.records) == 1


def test_submit_many_when_two_agents_quote_then_one_commit_of_all_records() -> None:
    engine, _ = make_engine()
    quotes = [
        intent("bid", price="59990"),
        intent("ask", side=Side.SELL, symbol=PERP, price="60010.0"),
        intent("leg", agent="arb", symbol=PERP, price="59990.0"),
    ]
    batch = engine.submit_many(quotes)
    assert len(batch.sends) == 3 and len(batch.records) == 3
    apply(engine, batch.records)
    assert {o.intent_id for o in engine.snapshot().orders} == {"bid", "ask", "leg"}


# -- SENDING ------------------------------------------------------------------


def test_claim_send_when_decided_here_then_once_and_never_for_replayed() -> None:
    engine, _ = make_engine()
    send = sent(engine, engine.submit(intent()))
    assert engine.claim_send(send.client_order_id)
    assert not engine.claim_send(send.client_order_id)
    replayed, _ = make_engine()
    apply(replayed, send.records)
    assert not replayed.claim_send(send.client_order_id)


# -- CANCEL -------------------------------------------------------------------


def test_cancel_when_before_submit_then_tombstone_and_late_submit_refused() -> None:
    engine, _ = make_engine()
    decision = engine.cancel("mm", "i1")
    assert decision.action is CancelAction.TOMBSTONE
    [(record_type, _)] = decision.records
    assert record_type is RecordType.CANCEL
    apply(engine, decision.records)
    assert engine.cancel("mm", "i1").action is CancelAction.NOOP
    late = engine.submit(intent())
    assert isinstance(late, Denied)
    assert late.denial.reason is DenialReason.CANCELED_BEFORE_SUBMIT
    assert reserved(engine) == 0


def test_cancel_when_tombstone_logged_before_a_racing_intent_then_never_sent() -> None:
    engine, _ = make_engine()
    send = engine.submit(intent())
    assert isinstance(send, Send)
    apply(engine, engine.cancel("mm", "i1").records)  # logged first
    apply(engine, send.records)
    assert not engine.claim_send(send.client_order_id)
    order = engine.order(send.client_order_id)
    assert order is not None and order.state is S.REJECTED
    assert reserved(engine) == 0


def test_cancel_when_tombstone_logged_after_its_intent_then_a_cancel_request() -> None:
    engine, _ = make_engine()
    tombstone = engine.cancel("mm", "i1")
    send = sent(engine, engine.submit(intent()))
    apply(engine, tombstone.records)
    assert engine.order(send.client_order_id).state is S.CANCEL_PENDING  # type: ignore[union-attr]
    [unresolved] = engine.unresolved()
    assert unresolved.action is ResolveAction.CANCEL


def test_cancel_when_open_then_cancel_pending_request_and_release_on_canceled() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    decision = engine.cancel("mm", "i1")
    assert decision.action is CancelAction.SEND and decision.request is not None
    assert decision.request.venue_order_id == "v1"
    apply(engine, decision.records)
    assert reserved(engine) == D("600.49990000")  # released only on a terminal state
    again = engine.cancel("mm", "i1")
    assert again.action is CancelAction.SEND and again.records == ()
    answer = venue_order(send, OrderStatus.CANCELED)
    apply(engine, engine.on_cancel_result(send.client_order_id, answer).records)
    assert engine.order(send.client_order_id).state is S.CANCELED  # type: ignore[union-attr]
    assert reserved(engine) == 0
    assert engine.cancel("mm", "i1").action is CancelAction.NOOP


def test_cancel_result_when_timeout_or_not_found_then_still_pending() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    apply(engine, engine.cancel("mm", "i1").records)
    for failure in (CancelFailure.UNKNOWN, CancelFailure.NOT_FOUND, CancelFailure.REFUSED):
        decision = engine.on_cancel_result(send.client_order_id, failure)
        assert decision.outcome is EventOutcome.NOOP
    assert engine.order(send.client_order_id).state is S.CANCEL_PENDING  # type: ignore[union-attr]


def test_cancel_when_malformed_ids_then_denied() -> None:
    engine, _ = make_engine()
    decision = engine.cancel("mm", "no spaces allowed")
    assert decision.action is CancelAction.DENIED
    assert decision.denial is not None and decision.denial.reason is DenialReason.MALFORMED_ID


# -- RESULTS AND UNKNOWN OUTCOMES ---------------------------------------------


def test_result_when_timeout_then_unknown_and_fillable() -> None:
    engine, _ = make_engine()
    send = sent(engine, engine.submit(intent()))
    assert failure_from_error(RequestTimeout("slow")).kind is FailureKind.UNKNOWN
    apply(engine, engine.on_result(send.client_order_id, TIMEOUT).records)
    order = engine.order(send.client_order_id)
    assert order is not None and order.state is S.UNKNOWN
    assert reserved(engine) == D("600.49990000")  # still reserved: it may exist
    assert [u.action for u in engine.unresolved()] == [ResolveAction.QUERY]
    assert not engine.claim_send(send.client_order_id)  # an unknown outcome is never resent
    apply(engine, engine.on_fill(trade(send, "t1", "0.004")).records)
    order = engine.order(send.client_order_id)
    assert order is not None and order.state is S.PARTIALLY_FILLED
    apply(
        engine,
        engine.on_order_status(send.client_order_id, venue_order(send, filled="0.004")).records,
    )
    assert engine.order(send.client_order_id).venue_order_id == "v1"  # type: ignore[union-attr]


def test_failure_when_duplicate_id_or_unexpected_error_then_unknown_not_rejected() -> None:
    assert failure_from_error(DuplicateClientOrderId("seen")).kind is FailureKind.UNKNOWN
    assert failure_from_error(RuntimeError("actor died")).kind is FailureKind.UNKNOWN
    assert failure_from_error(InvalidOrder("lot")).kind is FailureKind.REJECTED


def test_result_when_rejected_then_terminal_and_reservation_released() -> None:
    engine, _ = make_engine()
    send = sent(engine, engine.submit(intent()))
    failure = failure_from_error(InvalidOrder("post-only would take"))
    assert failure.kind is FailureKind.REJECTED
    apply(engine, engine.on_result(send.client_order_id, failure).records)
    assert engine.order(send.client_order_id).state is S.REJECTED  # type: ignore[union-attr]
    assert reserved(engine) == 0


def test_result_when_accepted_with_venue_rejection_then_rejected() -> None:
    engine, _ = make_engine()
    send = sent(engine, engine.submit(intent(post_only=True)))
    answer = venue_order(send, OrderStatus.REJECTED)
    apply(engine, engine.on_result(send.client_order_id, answer).records)
    assert engine.order(send.client_order_id).state is S.REJECTED  # type: ignore[union-attr]


def test_result_when_answer_repeated_then_noop() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    assert engine.on_result(send.client_order_id, venue_order(send)).outcome is EventOutcome.NOOP


def test_result_when_unknown_order_or_malformed_id_then_reported() -> None:
    engine, _ = make_engine()
    assert engine.on_result("swAAAAAAAAAAAAAA", TIMEOUT).outcome is EventOutcome.UNKNOWN_ORDER
    assert engine.on_result("not-an-id!", TIMEOUT).outcome is EventOutcome.INVALID


def test_status_when_not_found_soon_after_create_then_unknown_not_rejected() -> None:
    engine, clock = make_engine(config=EngineConfig(not_found_grace_ns=10 * NS_PER_S))
    send = sent(engine, engine.submit(intent()))
    apply(engine, engine.on_order_status(send.client_order_id, None).records)
    assert engine.order(send.client_order_id).state is S.UNKNOWN  # type: ignore[union-attr]
    clock.advance(9 * NS_PER_S)
    assert engine.on_order_status(send.client_order_id, None).outcome is EventOutcome.NOOP
    clock.advance(1 * NS_PER_S)
    apply(engine, engine.on_order_status(send.client_order_id, None).records)
    order = engine.order(send.client_order_id)
    assert order is not None and order.state is S.REJECTED
    assert order.reason == "never reached the venue"
    assert reserved(engine) == 0


def test_status_when_not_found_after_venue_showed_it_then_never_rejected() -> None:
    engine, clock = make_engine()
    send = open_order(engine)
    clock.advance(3600 * NS_PER_S)
    assert engine.on_order_status(send.client_order_id, None).outcome is EventOutcome.NOOP


def test_status_when_venue_contradicts_then_breaker_halt_records() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    decision = engine.on_order_status(send.client_order_id, venue_order(send, OrderStatus.REJECTED))
    assert decision.outcome is EventOutcome.CONTRADICTION
    assert [r[0] for r in decision.records] == [RecordType.BREAKER]
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.OPEN
    assert engine.order(send.client_order_id).state is S.OPEN  # type: ignore[union-attr]


# -- FILLS --------------------------------------------------------------------


def test_fill_when_same_trade_id_twice_then_applied_once() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    fill = trade(send, "t1", "0.004", fee="0.24")
    first = engine.on_fill(fill)
    assert first.outcome is EventOutcome.RECORD
    apply(engine, first.records)
    assert engine.on_fill(fill).outcome is EventOutcome.DUPLICATE
    apply(engine, first.records)  # even a record applied twice books once
    order = engine.order(send.client_order_id)
    assert order is not None and order.filled == D("0.004") and order.trade_ids == ("t1",)
    assert engine.snapshot().agents["mm"].fees == {"paper:USDT": D("0.24")}
    assert engine.snapshot().counters["duplicate_fills"] == 1


def test_fill_when_partial_then_reservation_shrinks_and_full_releases_all() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    apply(engine, engine.on_fill(trade(send, "t1", "0.004")).records)
    assert reserved(engine) == D("360.29994000")  # 6/10 of it, rounded up
    apply(engine, engine.on_fill(trade(send, "t2", "0.006")).records)
    assert engine.order(send.client_order_id).state is S.FILLED  # type: ignore[union-attr]
    assert reserved(engine) == 0


def test_fill_when_found_by_venue_order_id_only_then_booked_to_the_order() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    apply(engine, engine.on_fill(trade(send, "t1", "0.002", client_order_id=None)).records)
    assert engine.order(send.client_order_id).filled == D("0.002")  # type: ignore[union-attr]


def test_fill_when_late_after_cancel_then_applied_once_and_stays_canceled() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    apply(engine, engine.cancel("mm", "i1").records)
    answer = venue_order(send, OrderStatus.CANCELED)
    apply(engine, engine.on_cancel_result(send.client_order_id, answer).records)
    late = engine.on_fill(trade(send, "t9", "0.003"))
    assert late.outcome is EventOutcome.RECORD
    apply(engine, late.records)
    order = engine.order(send.client_order_id)
    assert order is not None and order.state is S.CANCELED and order.filled == D("0.003")
    assert reserved(engine) == 0
    assert engine.snapshot().counters["fills_after_terminal"] == 1
    assert engine.ledger.conservation_errors() == []


def test_fill_when_beyond_the_amount_then_booked_and_breaker_halts() -> None:
    engine, _ = make_engine()
    send = open_order(engine)
    apply(engine, engine.on_fill(trade(send, "t1", "0.01")).records)
    decision = engine.on_fill(trade(send, "t2", "0.001"))
    assert decision.outcome is EventOutcome.CONTRADICTION
    assert [r[0] for r in decision.records] == [RecordType.FILL, RecordType.BREAKER]
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.OPEN
    assert engine.order(send.client_order_id).filled == D("0.011")  # type: ignore[union-attr]


def test_fill_when_order_with_our_prefix_is_unknown_then_house_books_it_and_halt() -> None:
    engine, _ = make_engine()
    send = engine.submit(intent())  # decided, never logged: the venue has it, the WAL does not
    assert isinstance(send, Send)
    decision = engine.on_fill(trade(send, "t1", "0.001"))
    assert decision.outcome is EventOutcome.CONTRADICTION
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.OPEN
    assert engine.snapshot().agents["_house"].positions[0].contracts == D("0.001")
    assert engine.ledger.conservation_errors() == []


def test_fill_when_foreign_then_house_books_it_and_breaker_drains() -> None:
    engine, _ = make_engine()
    send = sent(engine, engine.submit(intent()))
    decision = engine.on_fill(trade(send, "t1", "0.001", client_order_id="manual1", venue_id="x"))
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.DRAINING
    assert engine.order(send.client_order_id).filled == 0  # type: ignore[union-attr]


# -- BUDGETS, MARKS, FUNDING, RECONCILIATION ----------------------------------


def test_set_budgets_when_negative_or_bad_agent_then_raises() -> None:
    engine, _ = make_engine()
    with pytest.raises(ValueError):
        engine.set_budgets({"mm": D(-1)})
    with pytest.raises(ValueError):
        engine.set_budgets({"Bad Agent": D(1)})


def test_mark_when_drawdown_beyond_limit_then_breaker_trips() -> None:
    engine, _ = make_engine(limits=RiskLimits(max_drawdown_fraction_agent=D("0.01")))
    send = open_order(engine, symbol=PERP, price="60000.0", amount="0.1")
    apply(engine, engine.on_fill(trade(send, "t1", "0.1")).records)
    assert engine.mark({(VENUE, PERP): D("59500")}).records == ()  # 50 < 100
    decision = engine.mark({(VENUE, PERP): D("58900")})
    assert [r[0] for r in decision.records] == [RecordType.BREAKER]
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.DRAINING


def test_funding_when_settled_then_split_once_and_conserved() -> None:
    engine, _ = make_engine()
    for agent, side in (("mm", Side.BUY), ("arb", Side.BUY)):
        send = open_order(engine, "f", agent=agent, symbol=PERP, side=side, price="60000.0")
        apply(engine, engine.on_fill(trade(send, f"t-{agent}", "0.01")).records)
    decision = engine.on_funding(VENUE, PERP, D("0.0001"), D(60000), 8 * 3600 * 1000)
    [(record_type, payload)] = decision.records
    assert record_type is RecordType.RECONCILIATION and payload["kind"] == "funding"
    apply(engine, decision.records)
    assert engine.snapshot().agents["mm"].funding == {"paper:USDT": D("-0.06000000")}
    again = engine.on_funding(VENUE, PERP, D("0.0001"), D(60000), 8 * 3600 * 1000)
    assert again.outcome is EventOutcome.DUPLICATE
    assert engine.ledger.expected_balances(VENUE)["USDT"] == D("-0.12")
    assert engine.ledger.conservation_errors() == []


def test_reconcile_when_first_then_adopts_the_venue_books() -> None:
    engine, _ = make_engine()
    decision = engine.reconcile(VENUE, balances(USDT="10000", BTC="0.5"), [])
    assert decision.result.verdict == "corrected"
    apply(engine, decision.records)
    assert engine.ledger.expected_balances(VENUE) == {"USDT": D(10000), "BTC": D("0.5")}
    assert engine.snapshot().reconciled_venues == (VENUE,)
    again = engine.reconcile(VENUE, balances(USDT="10050", BTC="0.5"), [])
    assert again.result.verdict == "corrected"  # 0.5 %: corrected and logged
    apply(engine, again.records)
    beyond = engine.reconcile(VENUE, balances(USDT="9000", BTC="0.5"), [])
    assert beyond.result.verdict == "mismatch"
    apply(engine, beyond.records)
    assert engine.breaker_state is BreakerState.OPEN


def test_reconcile_when_report_misses_a_position_we_hold_then_mismatch_and_open() -> None:
    engine, _ = make_engine()
    apply(engine, engine.reconcile(VENUE, balances(USDT="10000"), []).records)
    send = open_order(engine, symbol=PERP, price="60000.0")
    apply(engine, engine.on_fill(trade(send, "t1", "0.01")).records)
    decision = engine.reconcile(VENUE, balances(USDT="10000"), [])
    assert decision.result.verdict == "mismatch"
    assert any(m.reported is None for m in decision.result.mismatches)
    apply(engine, decision.records)
    assert engine.breaker_state is BreakerState.OPEN


# -- APPLY AND REPLAY ---------------------------------------------------------


def test_apply_when_record_malformed_or_unknown_order_then_halt_error() -> None:
    engine, _ = make_engine()
    with pytest.raises(RecordRefused) as info:
        engine.apply(RecordType.INTENT, {"client_order_id": "x"})
    assert isinstance(info.value, HaltError)
    with pytest.raises(RecordRefused):
        engine.apply(
            RecordType.RESULT,
            {"client_order_id": "swAAAAAAAAAAAAAA", "outcome": "unknown", "at_ns": 1},
        )
    with pytest.raises(RecordRefused):
        engine.apply(RecordType.CHECKPOINT, {})


def run_session(engine: GatewayEngine, log: list[WalRecord]) -> None:
    """Drive a little of everything through ``engine``, logging each record as the actor would."""

    def do(records: tuple[WalRecord, ...]) -> None:
        log.extend(records)
        apply(engine, records)

    do(engine.reconcile(VENUE, balances(USDT="20000"), []).records)
    a = engine.submit_many([intent("a"), intent("b", symbol=PERP, price="59990.0")])
    do(a.records)
    first, second = a.sends
    do(engine.on_result(first.client_order_id, venue_order(first)).records)
    do(engine.on_result(second.client_order_id, TIMEOUT).records)
    do(engine.on_fill(trade(first, "t1", "0.004", fee="0.24")).records)
    do(engine.on_fill(trade(second, "t2", "0.01", venue_id="v2")).records)
    do(engine.cancel("mm", "a").records)
    do(
        engine.on_cancel_result(
            first.client_order_id, venue_order(first, OrderStatus.CANCELED)
        ).records
    )
    do(engine.cancel("arb", "never-sent").records)
    do(engine.on_funding(VENUE, PERP, D("0.0001"), D(60000), 1).records)
    do(engine.set_budgets({"mm": D(5000)}).records)
    do(engine.trip(TripReason.MANUAL_KILL, "test").records)


def test_replay_when_records_reapplied_then_same_snapshot() -> None:
    live, _ = make_engine()
    log: list[WalRecord] = []
    run_session(live, log)
    disk = SimulatedDisk()
    wal = Wal("sim", disk=disk)
    wal.recover()
    wal.append_many(log)
    replayed, _ = make_engine(ready=False, budgets={}, marks=False)
    reader = Wal("sim", disk=disk)
    # The budget record make_engine logged for ``live`` came before the session's.
    apply(replayed, live_setup_records())
    for record in reader.replay():
        replayed.apply(record.type, record.payload)
    replayed.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID})
    replayed.finish_recovery()
    assert replayed.snapshot() == live.snapshot()
    assert live.ledger.conservation_errors() == []
    assert live.snapshot().counters["intents"] == 2


def live_setup_records() -> tuple[WalRecord, ...]:
    engine, _ = make_engine(ready=False, budgets={}, marks=False)
    return engine.set_budgets({"mm": D(10_000), "arb": D(10_000)}).records


def test_replay_when_applied_twice_into_fresh_engines_then_identical() -> None:
    live, _ = make_engine()
    log: list[WalRecord] = []
    run_session(live, log)
    snapshots = []
    for _ in range(2):
        engine, _ = make_engine(ready=True, marks=True)
        apply(engine, log)
        snapshots.append(engine.snapshot())
    assert snapshots[0] == snapshots[1] == live.snapshot()


def test_snapshot_when_taken_then_breaker_and_orders_reported() -> None:
    engine, _ = make_engine()
    open_order(engine)
    snapshot = engine.snapshot()
    assert snapshot.ready and snapshot.breaker is BreakerState.CLOSED
    assert snapshot.breaker_since_ns == 0
    assert snapshot.orders[0].venue_order_id == "v1"
    assert START_NS == snapshot.orders[0].created_ns


# -- PROPERTY: RANDOM COMMAND SEQUENCES ---------------------------------------

_AGENTS = ("mm", "arb")
_submit = st.tuples(
    st.just("submit"),
    st.integers(0, 1),  # agent
    st.integers(0, 5),  # intent id
    st.sampled_from([SPOT, PERP]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 30),  # amount in lots of 0.001
    st.integers(-20, 20),  # price offset in dollars from the mid
    st.booleans(),  # market order
)
_result = st.tuples(
    st.just("result"),
    st.integers(0, 9),
    st.sampled_from(["open", "closed", "canceled", "rejected", "timeout", "refused"]),
)
_fill = st.tuples(st.just("fill"), st.integers(0, 9), st.integers(1, 12), st.integers(0, 3))
_op = st.one_of(
    _submit,
    _submit,
    _submit,
    _result,
    _result,
    _fill,
    _fill,
    st.tuples(
        st.just("submit"),
        st.integers(0, 1),  # agent
        st.integers(0, 5),  # intent id
        st.sampled_from([SPOT, PERP]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 30),  # amount in lots of 0.001
        st.integers(-20, 20),  # price offset in dollars from the mid
        st.booleans(),  # market order
    ),
    st.tuples(
        st.just("result"),
        st.integers(0, 9),
        st.sampled_from(["open", "closed", "canceled", "rejected", "timeout", "refused"]),
    ),
    st.tuples(st.just("fill"), st.integers(0, 9), st.integers(1, 12), st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 5)),
    st.tuples(
        st.just("cancel_result"), st.integers(0, 9), st.sampled_from(["canceled", "not_found"])
    ),
    st.tuples(st.just("status"), st.integers(0, 9), st.sampled_from(["open", "none", "expired"])),
    st.tuples(st.just("advance"), st.integers(1, 30)),
    st.tuples(st.just("funding"), st.integers(-3, 3)),
    st.tuples(st.just("budget"), st.integers(0, 1), st.integers(0, 3000)),
    st.tuples(st.just("mark"), st.integers(-300, 300)),
)


def _check_invariants(engine: GatewayEngine, log: list[WalRecord]) -> None:
    snapshot = engine.snapshot()
    for agent, view in snapshot.agents.items():
        live = sum((o.reservation_left for o in snapshot.orders if o.agent_id == agent), D(0))
        assert view.reserved == live, agent
        assert view.reserved >= 0 and view.budget >= 0
    for order in snapshot.orders:
        assert order.reservation_left >= 0
        if order.state.is_terminal:
            assert order.reservation_left == 0, order
        else:
            assert order.reservation_left <= order.reservation
    for agent in _AGENTS:
        for symbol in (SPOT, PERP):
            mine = [o for o in snapshot.orders if o.agent_id == agent and o.symbol == symbol]
            expected = tuple(
                sum(
                    (
                        max(o.amount - o.filled, D(0))
                        for o in mine
                        if o.side is side and not o.state.is_terminal
                    ),
                    D(0),
                )
                for side in (Side.BUY, Side.SELL)
            )
            assert engine.open_amounts(agent, VENUE, symbol) == expected
    assert engine.ledger.conservation_errors() == []
    intents = [p["client_order_id"] for t, p in log if t is RecordType.INTENT]
    assert len(intents) == len(set(intents))  # at most one order per intent, ever
    fills = {p["trade_id"] for t, p in log if t is RecordType.FILL}
    trade_ids = [tid for o in snapshot.orders for tid in o.trade_ids]
    assert len(trade_ids) == len(set(trade_ids))  # each fill applied once
    assert set(trade_ids) <= fills
    for order in snapshot.orders:
        booked = {p["trade_id"]: p["amount"] for t, p in log if t is RecordType.FILL}
        assert order.filled == sum((booked[tid] for tid in order.trade_ids), D(0))


def _step(
    engine: GatewayEngine, clock: Any, sends: list[Send], op: tuple[Any, ...]
) -> tuple[WalRecord, ...]:
    kind = op[0]
    if kind == "submit":
        _, agent, n, symbol, side, lots, offset, market = op
        tick = D("0.01") if symbol == SPOT else D("0.1")
        price = None if market else str((MID + offset).quantize(tick))
        order_type = OrderType.MARKET if market else OrderType.LIMIT
        decision = engine.submit(
            intent(
                f"i{n}",
                agent=_AGENTS[agent],
                symbol=symbol,
                side=side,
                type=order_type,
                amount=str(D(lots) / 1000),
                price=price,
            )
        )
        if isinstance(decision, Send):
            sends.append(decision)
            return decision.records
        return ()
    if kind == "advance":
        clock.advance(op[1] * NS_PER_S)
        return ()
    if kind == "funding":
        return engine.on_funding(VENUE, PERP, D(op[1]) / 10_000, MID, clock.now_ms()).records
    if kind == "budget":
        return engine.set_budgets({_AGENTS[op[1]]: D(op[2])}).records
    if kind == "mark":
        return engine.mark({(VENUE, SPOT): MID + op[1], (VENUE, PERP): MID + op[1]}).records
    if kind == "cancel":
        return engine.cancel(_AGENTS[op[1]], f"i{op[2]}").records
    if not sends:
        return ()
    send = sends[op[1] % len(sends)]
    cid = send.client_order_id
    if kind == "result":
        answers: dict[str, Any] = {
            "open": venue_order(send, venue_id=cid),
            "closed": venue_order(send, OrderStatus.CLOSED, str(send.request.amount), cid),
            "canceled": venue_order(send, OrderStatus.CANCELED, venue_id=cid),
            "rejected": venue_order(send, OrderStatus.REJECTED, venue_id=cid),
            "timeout": TIMEOUT,
            "refused": ResultFailure(FailureKind.REJECTED, "InvalidOrder"),
        }
        return engine.on_result(cid, answers[op[2]]).records
    if kind == "fill":
        lots, k = op[2], op[3]
        amount = min(send.request.amount, D(lots) / 1000)
        price = str(send.request.price or MID)
        return engine.on_fill(trade(send, f"{cid}-{k}", str(amount), price, venue_id=cid)).records
    if kind == "cancel_result":
        answer: Any = (
            venue_order(send, OrderStatus.CANCELED, venue_id=cid)
            if op[2] == "canceled"
            else CancelFailure.NOT_FOUND
        )
        return engine.on_cancel_result(cid, answer).records
    status = {"open": OrderStatus.OPEN, "expired": OrderStatus.EXPIRED}.get(op[2])
    answer = venue_order(send, status, venue_id=cid) if status is not None else None
    return engine.on_order_status(cid, answer).records


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=10, max_size=60))
def test_property_when_random_commands_then_reservations_conserved_and_replay_equal(
    ops: list[tuple[Any, ...]],
) -> None:
    engine, clock = make_engine(config=EngineConfig(not_found_grace_ns=20 * NS_PER_S))
    log: list[WalRecord] = []
    sends: list[Send] = []
    for op in ops:
        records = _step(engine, clock, sends, op)
        log.extend(records)
        apply(engine, records)
        _check_invariants(engine, log)
    replayed, _ = make_engine()
    apply(replayed, log)
    marks = {key: price for key, price in engine.ledger.marks.items()}
    replayed.mark(marks)
    assert replayed.snapshot() == engine.snapshot()


# -- AGAINST THE PAPER VENUE --------------------------------------------------


def test_paper_venue_when_traded_through_the_engine_then_books_match_exactly() -> None:
    clock = SimulatedClock(NS_PER_S)
    paper = make_venue("binance", clock=clock)
    paper.on_market_events([standard_book("binance", PERP), standard_book("binance", SPOT)])
    markets = {("binance", symbol): m for symbol, m in paper.markets().items()}
    engine = GatewayEngine(markets, RiskLimits(), clock)
    apply(engine, engine.set_budgets({"mm": D(100_000), "arb": D(100_000)}).records)
    engine.mark({("binance", PERP): D("100.5"), ("binance", SPOT): D("100.5")})
    adopt = engine.reconcile("binance", paper.balances(), paper.positions())
    apply(engine, adopt.records)
    engine.finish_recovery()
    booked: set[str] = set()

    def place(
        agent: str, intent_id: str, symbol: str, side: Side, amount: str, price: str = ""
    ) -> str:
        decision = engine.submit(
            OrderIntent(
                agent_id=agent,
                intent_id=intent_id,
                venue="binance",
                symbol=symbol,
                side=side,
                type=OrderType.LIMIT if price else OrderType.MARKET,
                amount=D(amount),
                price=D(price) if price else None,
            )
        )
        assert isinstance(decision, Send), decision
        apply(engine, decision.records)
        assert engine.claim_send(decision.client_order_id)
        answer = paper.submit(decision.request)
        apply(engine, engine.on_result(decision.client_order_id, answer).records)
        for fill in paper.my_trades():
            if fill.id not in booked:
                booked.add(fill.id)
                apply(engine, engine.on_fill(fill).records)
        return decision.client_order_id

    place("mm", "a", PERP, Side.BUY, "1.5")
    place("arb", "b", PERP, Side.SELL, "1.2")  # nets against mm's long on the venue
    paper.on_market_events(
        [FundingEvent(2_000_000, "binance", PERP, D("0.000137"), D(8), D("100.37"))]
    )
    apply(engine, engine.on_funding("binance", PERP, D("0.000137"), D("100.37"), 2).records)
    place("mm", "c", SPOT, Side.BUY, "0.5")
    place("mm", "d", SPOT, Side.SELL, "0.2")
    resting = place("arb", "e", PERP, Side.BUY, "1.3", "100")
    place("mm", "f", PERP, Side.SELL, "1.1")
    cancel = engine.cancel("arb", "e")
    apply(engine, cancel.records)
    answer = paper.cancel(PERP, client_order_id=resting)
    apply(engine, engine.on_cancel_result(resting, answer).records)
    check = engine.reconcile("binance", paper.balances(), paper.positions())
    assert check.result.verdict == "match", check.result
    assert engine.ledger.conservation_errors() == []
    assert engine.snapshot().agents["arb"].reserved == 0
