"""GatewayEngine: its books and state, replayed and checked against the paper venue.

Budgets, marks, funding and reconciliation; apply and replay of WAL records; random
command sequences (reservations conserved, replay equal); trading through the engine
against the paper venue.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import NS_PER_S, SimulatedClock
from core.errors import HaltError
from core.events import FundingEvent
from core.models import OrderStatus, OrderType, Side
from gateway.breaker import BreakerState, TripReason
from gateway.disk import SimulatedDisk
from gateway.engine import GatewayEngine
from gateway.engine_errors import RecordRefused
from gateway.engine_records import WalRecord
from gateway.engine_types import (
    CancelFailure,
    EngineConfig,
    EventOutcome,
    FailureKind,
    ResultFailure,
    Send,
)
from gateway.intents import OrderIntent
from gateway.orders import OrderState
from gateway.wal import RecordType, Wal
from risk.limits import RiskLimits
from tests.unit.exchanges.paper.helpers import make_venue, standard_book
from tests.unit.gateway.engine_support import (
    MID,
    PERP,
    SPOT,
    START_NS,
    TIMEOUT,
    VENUE,
    D,
    apply,
    intent,
    make_engine,
    open_order,
    trade,
    venue_order,
)
from tests.unit.risk.test_reconcile import balances

S = OrderState


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


def test_agent_orders_when_asked_then_equal_the_snapshot_filtered_to_the_agent() -> None:
    """The agent's account without a whole snapshot: its live orders and the asked ones."""
    from core.models import OrderStatus
    from tests.unit.gateway.engine_support import apply, make_engine, open_order, venue_order

    engine, _ = make_engine()
    open_order(engine, "a1", agent="mm")
    done = open_order(engine, "a2", agent="mm")
    open_order(engine, "b1", agent="arb")
    closed = venue_order(done, OrderStatus.CANCELED)
    apply(engine, engine.on_order_status(done.client_order_id, closed).records)
    view = engine.order(done.client_order_id)
    assert view is not None and view.state.is_terminal  # the asked-for case is exercised

    def filtered(agent: str, asked: set[str]) -> tuple[object, ...]:
        return tuple(
            o
            for o in engine.snapshot().orders
            if o.agent_id == agent and (not o.state.is_terminal or o.intent_id in asked)
        )

    for agent, asked in (("mm", set()), ("mm", {"a2"}), ("arb", {"a1"}), ("nobody", {"a1"})):
        assert engine.agent_orders(agent, asked) == filtered(agent, asked), (agent, asked)
    assert engine.agent_view("mm") == engine.snapshot().agents["mm"]
    assert engine.agent_view("nobody") is None
