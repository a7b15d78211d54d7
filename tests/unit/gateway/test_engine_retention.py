"""Terminal orders leave the order table after the venue's query window; their idempotency keys stay."""

from __future__ import annotations

from core.clock import NS_PER_S
from core.models import OrderStatus
from gateway.breaker import BreakerState
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig, EventOutcome, Existing, Send
from gateway.orders import OrderState
from risk.checks import DenialReason
from tests.unit.gateway.engine_support import (
    D,
    apply,
    intent,
    make_engine,
    trade,
    venue_order,
)

WINDOW = EngineConfig(
    terminal_order_retention_ns=60 * NS_PER_S, idempotency_retention_ns=600 * NS_PER_S
)


def _filled(engine: GatewayEngine, intent_id: str) -> Send:
    decision = engine.submit(intent(intent_id))
    assert isinstance(decision, Send), decision
    apply(engine, decision.records)
    answer = venue_order(decision, OrderStatus.CLOSED, "0.01", venue_id=f"v-{intent_id}")
    apply(engine, engine.on_result(decision.client_order_id, answer).records)
    apply(engine, engine.on_fill(trade(decision, f"t-{intent_id}", "0.01", venue_id=None)).records)
    return decision


def _later(engine: GatewayEngine, clock: object, seconds: int) -> None:
    """Move time and apply one logged record (the log's time moves only with records)."""
    clock.advance(seconds * NS_PER_S)  # type: ignore[attr-defined]
    apply(engine, engine.set_budgets({"arb": D(10_000)}).records)


def test_retention_when_terminal_order_older_than_window_then_dropped_from_table() -> None:
    engine, clock = make_engine(config=WINDOW)
    send = _filled(engine, "a")
    _later(engine, clock, 59)
    assert engine.order(send.client_order_id) is not None
    _later(engine, clock, 2)
    assert engine.order(send.client_order_id) is None
    assert engine.snapshot().retired_orders == 1
    assert engine.snapshot().orders == ()


def test_snapshot_when_orders_retired_then_still_counted_per_agent() -> None:
    """A run's summary counts what an agent placed, not only what is left in the table."""
    engine, clock = make_engine(config=WINDOW)
    _filled(engine, "a")
    _filled(engine, "b")
    assert engine.snapshot().retired_by_agent == {}
    _later(engine, clock, 61)
    snapshot = engine.snapshot()
    assert snapshot.orders == () and snapshot.retired_by_agent == {"mm": (2, 2)}
    _later(engine, clock, 600)  # the keys expire: nothing is left to count
    assert engine.snapshot().retired_by_agent == {}


def test_retention_when_order_still_open_then_never_dropped() -> None:
    engine, clock = make_engine(config=WINDOW)
    decision = engine.submit(intent("a"))
    assert isinstance(decision, Send)
    apply(engine, decision.records)
    _later(engine, clock, 3600)
    assert engine.order(decision.client_order_id) is not None


def test_submit_when_intent_repeated_after_retirement_then_original_answer_not_a_second_order() -> (
    None
):
    engine, clock = make_engine(config=WINDOW)
    send = _filled(engine, "a")
    _later(engine, clock, 120)
    assert engine.order(send.client_order_id) is None
    again = engine.submit(intent("a"))
    assert isinstance(again, Existing), again
    assert again.order.client_order_id == send.client_order_id
    assert again.order.state is OrderState.FILLED
    assert again.order.filled == D("0.01")
    assert again.order.venue_order_id == "v-a"
    conflict = engine.submit(intent("a", amount="0.02"))
    assert not isinstance(conflict, Existing | Send)
    assert conflict.denial.reason is DenialReason.IDEMPOTENCY_CONFLICT


def test_submit_when_idempotency_retention_passed_then_key_forgotten() -> None:
    engine, clock = make_engine(config=WINDOW)
    send = _filled(engine, "a")
    _later(engine, clock, 120)
    assert engine.retired(send.client_order_id) is not None
    _later(engine, clock, 601)
    assert engine.retired(send.client_order_id) is None
    assert isinstance(engine.submit(intent("a")), Send)


def test_fill_when_order_retired_then_booked_to_its_agent_without_a_trip() -> None:
    engine, clock = make_engine(config=WINDOW)
    decision = engine.submit(intent("a"))
    assert isinstance(decision, Send)
    apply(engine, decision.records)
    answer = venue_order(decision, OrderStatus.CANCELED, venue_id="v-a")
    apply(engine, engine.on_result(decision.client_order_id, answer).records)
    _later(engine, clock, 120)
    assert engine.order(decision.client_order_id) is None
    late = engine.on_fill(trade(decision, "late", "0.004", venue_id="v-a", client_order_id=None))
    assert late.outcome is EventOutcome.RECORD, late
    apply(engine, late.records)
    assert engine.breaker_state is BreakerState.CLOSED
    mm = engine.snapshot().agents["mm"]
    assert mm.positions[0].contracts == D("0.004")
    assert engine.snapshot().counters["fills_after_retired"] == 1
    assert engine.ledger.conservation_errors() == []


def test_cancel_when_order_retired_then_noop_not_a_tombstone() -> None:
    engine, clock = make_engine(config=WINDOW)
    send = _filled(engine, "a")
    _later(engine, clock, 120)
    decision = engine.cancel("mm", "a")
    assert decision.records == ()
    assert decision.state is OrderState.FILLED
    assert engine.snapshot().tombstones == ()
    assert engine.order(send.client_order_id) is None


def test_retention_when_off_by_default_then_orders_kept() -> None:
    engine, clock = make_engine()
    send = _filled(engine, "a")
    _later(engine, clock, 10 * 24 * 3600)
    assert engine.order(send.client_order_id) is not None
