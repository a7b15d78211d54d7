"""GatewayEngine: the order path.

Submit (idempotency, breaker, readiness, bad input), submit_many, sending, cancel, the
venue's results and unknown outcomes, fills.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.clock import NS_PER_S
from core.errors import (
    DuplicateClientOrderId,
    GatewayNotReady,
    InvalidOrder,
    RequestTimeout,
)
from core.models import OrderStatus, OrderType, Side
from gateway.breaker import BreakerConfig, BreakerState, TripReason
from gateway.engine import GatewayEngine
from gateway.engine_errors import IdempotencyConflict, OrderDenied
from gateway.engine_types import (
    CancelAction,
    CancelFailure,
    Denied,
    EngineConfig,
    EventOutcome,
    Existing,
    FailureKind,
    ResolveAction,
    Send,
    failure_from_error,
)
from gateway.intents import OrderIntent, client_order_id_for
from gateway.orders import OrderState
from gateway.wal import RecordType
from risk.checks import DenialReason
from risk.limits import RiskLimits
from tests.unit.gateway.engine_support import (
    MARKETS,
    MID,
    PERP,
    SPOT,
    TIMEOUT,
    VENUE,
    D,
    apply,
    intent,
    make_engine,
    open_breaker,
    open_order,
    reserved,
    sent,
    trade,
    venue_order,
)

S = OrderState


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
