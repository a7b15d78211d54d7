"""The engine's checkpoint: restore(checkpoint) + the records after it == a replay of the whole log.

Random command sequences (orders, results, fills, cancels, funding, budgets, marks, the
breaker tripped, drained, reset and probed) with a checkpoint taken at a random point,
in-flight orders included; with and without retention of terminal orders.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import NS_PER_S, SimulatedClock
from core.models import OrderStatus
from gateway.breaker import BreakerState, TripReason
from gateway.engine import GatewayEngine
from gateway.engine_checkpoint import STATE_VERSION, CheckpointInvalid
from gateway.engine_records import WalRecord
from gateway.engine_types import EngineConfig, Send
from gateway.orders import OrderState
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
    trade,
    venue_order,
)
from tests.unit.gateway.test_engine_state import _op, _step

RETAINING = EngineConfig(
    not_found_grace_ns=20 * NS_PER_S,
    terminal_order_retention_ns=20 * NS_PER_S,
    idempotency_retention_ns=60 * NS_PER_S,
)
PLAIN = EngineConfig(not_found_grace_ns=20 * NS_PER_S)

_breaker_op = st.one_of(
    st.tuples(st.just("trip"), st.sampled_from(["kill", "halt"])),
    st.tuples(st.just("reset")),
    st.tuples(st.just("tick")),
)


def _drive(engine: GatewayEngine, clock: Any, sends: list[Send], op: tuple[Any, ...]) -> None:
    """Decide ``op`` and apply its records (as the service does); return nothing."""
    kind = op[0]
    if kind == "trip":
        reason = TripReason.MANUAL_KILL if op[1] == "kill" else TripReason.MANUAL_HALT
        records: tuple[WalRecord, ...] = engine.trip(reason, "test").records
    elif kind == "reset":
        records = engine.reset("operator").records
    elif kind == "tick":
        records = engine.breaker_tick().records
    else:
        records = _step(engine, clock, sends, op)
    apply(engine, records)


def _fresh(clock: SimulatedClock, config: EngineConfig) -> GatewayEngine:
    return GatewayEngine(MARKETS, RiskLimits(), clock, config=config)


def _plain_json(state: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON: the checkpoint holds plain values only (orjson refuses others)."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(state))
    return loaded


def _comparable(engine: GatewayEngine) -> dict[str, Any]:
    """The full internal state, minus what a full replay cannot know: the decision side's
    volatile counters (breaker error window and probes, probe results reported) and peaks."""
    state = engine.checkpoint_state()
    state["breaker"] = {k: state["breaker"][k] for k in ("state", "since_ns")}
    del state["drawdown"], state["probes_reported"]
    return state


class Recorder:
    """An engine driven live, whose applied records are the log."""

    def __init__(self, config: EngineConfig) -> None:
        self.engine, self.clock = make_engine(config=config, budgets={}, marks=False, ready=False)
        self.log: list[WalRecord] = []
        self.sends: list[Send] = []
        original = self.engine.apply

        def logged(record_type: Any, payload: Any) -> None:
            self.log.append((record_type, payload))
            original(record_type, payload)

        self.engine.apply = logged  # type: ignore[method-assign]
        apply(self.engine, self.engine.set_budgets({"mm": D(10_000), "arb": D(10_000)}).records)
        self.engine.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID})
        self.engine.finish_recovery()


def _recover(
    clock: SimulatedClock, config: EngineConfig, state: dict[str, Any], tail: list[WalRecord]
) -> GatewayEngine:
    engine = _fresh(clock, config)
    engine.restore_checkpoint(_plain_json(state))
    apply(engine, tail)
    return engine


def _replay(clock: SimulatedClock, config: EngineConfig, log: list[WalRecord]) -> GatewayEngine:
    engine = _fresh(clock, config)
    apply(engine, log)
    return engine


@pytest.mark.parametrize("config", [PLAIN, RETAINING], ids=["plain", "retaining"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.one_of(_op, _breaker_op), min_size=10, max_size=80), cut=st.floats(0, 1))
def test_recover_when_checkpoint_then_tail_then_equals_full_replay(
    config: EngineConfig, ops: list[tuple[Any, ...]], cut: float
) -> None:
    live = Recorder(config)
    at = int(len(ops) * cut)
    state: dict[str, Any] | None = None
    upto = 0
    for index, op in enumerate(ops):
        if index == at:
            state, upto = live.engine.checkpoint_state(), len(live.log)
        _drive(live.engine, live.clock, live.sends, op)
    if state is None:
        state, upto = live.engine.checkpoint_state(), len(live.log)
    recovered = _recover(live.clock, config, state, live.log[upto:])
    replayed = _replay(live.clock, config, live.log)
    assert recovered.snapshot() == replayed.snapshot()
    assert _comparable(recovered) == _comparable(replayed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(st.one_of(_op, _breaker_op), min_size=10, max_size=80),
    cuts=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_capture_when_engine_goes_on_then_encodes_the_state_of_its_moment(
    ops: list[tuple[Any, ...]], cuts: tuple[float, float]
) -> None:
    """Captured on the loop, encoded later in a thread: what happened meanwhile is not in it.

    Two captures (the second reuses the first one's copies of unchanged orders); the
    second restored + the records after it == a full replay.
    """
    live = Recorder(RETAINING)
    first, second = sorted(int(len(ops) * c) for c in cuts)
    captures: list[tuple[Any, dict[str, Any], int]] = []
    for index, op in enumerate([*ops, ("tick",)]):
        if index in (first, second) and len(captures) < 2:
            now = live.engine.checkpoint_state()
            captures.append((live.engine.capture_state(), now, len(live.log)))
        _drive(live.engine, live.clock, live.sends, op)
    for capture, at_the_time, _ in captures:
        assert _plain_json(capture.encode()) == _plain_json(at_the_time)
    _, state, upto = captures[-1]
    recovered = _recover(live.clock, RETAINING, state, live.log[upto:])
    replayed = _replay(live.clock, RETAINING, live.log)
    assert recovered.snapshot() == replayed.snapshot()
    assert _comparable(recovered) == _comparable(replayed)


def test_restore_when_version_1_state_then_upgraded_to_the_same_engine() -> None:
    """A checkpoint written before the compact format (rows per retired order) still reads."""
    live = Recorder(RETAINING)
    engine, clock = live.engine, live.clock
    for n in range(4):
        decision = engine.submit(intent(f"v1-{n}"))
        assert isinstance(decision, Send)
        apply(engine, decision.records)
        answer = venue_order(decision, OrderStatus.CLOSED, "0.01", venue_id=f"v-{n}")
        apply(engine, engine.on_result(decision.client_order_id, answer).records)
        fill = trade(decision, f"t-{n}", "0.01", venue_id=f"v-{n}")
        apply(engine, engine.on_fill(fill).records)
        clock.advance(30 * NS_PER_S)
    apply(engine, engine.set_budgets({"arb": D(10_000)}).records)
    state = _plain_json(engine.checkpoint_state())
    assert state["retired"]["count"] >= 2
    old = dict(state, version=1)
    keys = engine._retired
    old["retired"] = [
        [cid, r.fingerprint, r.agent_id, r.venue, str(r.state), str(r.filled),
         None if r.average_price is None else str(r.average_price), r.venue_order_id,
         str(r.reservation), r.reason, r.created_ns, r.updated_ns, r.retired_ns]
        for cid in keys._index
        for r in [keys.get(cid)]
        if r is not None
    ]  # fmt: skip
    old["by_venue_id"] = state["by_venue_id"] + [
        [row[3], row[7], row[0]] for row in old["retired"] if row[7]
    ]
    old["ledger"] = dict(state["ledger"], trades=[[VENUE, f"t-{n}"] for n in range(4)])
    restored = _fresh(clock, RETAINING)
    restored.restore_checkpoint(old)
    restored.finish_recovery()
    restored.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID})  # marks are volatile
    assert restored.snapshot() == engine.snapshot()
    for row in old["retired"]:
        assert restored.retired(row[0]) == engine.retired(row[0])
        assert restored.order_for_venue_id(VENUE, row[7]) == row[0]
    assert restored.ledger.seen_trades == engine.ledger.seen_trades


def test_recover_when_checkpoint_holds_in_flight_orders_then_they_are_asked_about_not_sent() -> (
    None
):
    live = Recorder(RETAINING)
    engine, clock = live.engine, live.clock
    sends = []
    for n in range(6):
        decision = engine.submit(intent(f"i{n}", symbol=PERP if n % 2 else SPOT))
        assert isinstance(decision, Send), decision
        apply(engine, decision.records)
        sends.append(decision)
    apply(engine, engine.on_result(sends[0].client_order_id, venue_order(sends[0])).records)
    apply(engine, engine.on_result(sends[1].client_order_id, TIMEOUT).records)  # UNKNOWN
    apply(engine, engine.on_fill(trade(sends[2], "t1", "0.004")).records)  # partly filled
    apply(engine, engine.cancel("mm", "i3").records)  # CANCEL_PENDING
    # i4 and i5 stay PENDING: decided, logged, never answered.
    state, upto = engine.checkpoint_state(), len(live.log)
    clock.advance(5 * NS_PER_S)
    apply(engine, engine.on_fill(trade(sends[2], "t2", "0.006")).records)
    apply(engine, engine.on_result(sends[4].client_order_id, venue_order(sends[4])).records)

    recovered = _recover(clock, RETAINING, state, live.log[upto:])
    replayed = _replay(clock, RETAINING, live.log)
    assert recovered.snapshot() == replayed.snapshot()
    states = {o.intent_id: o.state for o in recovered.snapshot().orders}
    assert states == {
        "i0": OrderState.OPEN,
        "i1": OrderState.UNKNOWN,
        "i2": OrderState.FILLED,
        "i3": OrderState.CANCEL_PENDING,
        "i4": OrderState.OPEN,
        "i5": OrderState.PENDING,
    }
    asked = {u.client_order_id for u in recovered.unresolved()}
    assert asked == {s.client_order_id for s in (sends[1], sends[3], sends[5])}
    assert not any(recovered.claim_send(s.client_order_id) for s in sends)
    assert recovered.ready is False
    assert recovered.ledger.conservation_errors() == []


def test_recover_when_breaker_open_and_counters_then_kept_and_never_less_safe() -> None:
    live = Recorder(PLAIN)
    engine = live.engine
    decision = engine.submit(intent("a"))
    assert isinstance(decision, Send)
    apply(engine, decision.records)
    apply(engine, engine.observe_error("one").records)
    apply(engine, engine.observe_error("two").records)
    state = engine.checkpoint_state()
    recovered = _recover(live.clock, PLAIN, state, [])
    assert recovered.checkpoint_state()["breaker"]["errors"] == state["breaker"]["errors"]
    assert len(state["breaker"]["errors"]) == 2
    apply(engine, engine.trip(TripReason.MANUAL_HALT, "x").records)
    state = engine.checkpoint_state()
    recovered = _recover(live.clock, PLAIN, state, [])
    assert recovered.breaker_state is BreakerState.OPEN
    assert recovered.snapshot().breaker_since_ns == engine.snapshot().breaker_since_ns


def test_recover_when_drawdown_peaks_checkpointed_then_kept() -> None:
    live = Recorder(PLAIN)
    engine = live.engine
    engine._drawdown.update({"mm": D(50)}, {"mm": D(10_000)})
    engine._drawdown.update({"mm": D(20)}, {"mm": D(10_000)})
    recovered = _recover(live.clock, PLAIN, engine.checkpoint_state(), [])
    view = recovered.drawdown()
    assert view["mm"].peak == D(50) and view["mm"].pnl == D(20)


def test_restore_when_state_of_another_version_then_refused_naming_it() -> None:
    live = Recorder(PLAIN)
    state = live.engine.checkpoint_state()
    state["version"] = STATE_VERSION + 1
    with pytest.raises(CheckpointInvalid) as caught:
        _fresh(live.clock, PLAIN).restore_checkpoint(state)
    assert caught.value.field == "version"


def test_restore_when_field_malformed_then_refused_naming_the_field() -> None:
    live = Recorder(PLAIN)
    decision = live.engine.submit(intent("a"))
    assert isinstance(decision, Send)
    apply(live.engine, decision.records)
    state = _plain_json(live.engine.checkpoint_state())
    state["orders"][0][7] = 1.5  # an amount as a float: never written, never read
    with pytest.raises(CheckpointInvalid) as caught:
        _fresh(live.clock, PLAIN).restore_checkpoint(state)
    assert caught.value.field == "orders"


def test_restore_when_engine_not_fresh_then_refused() -> None:
    live = Recorder(PLAIN)
    with pytest.raises(CheckpointInvalid):
        live.engine.restore_checkpoint(live.engine.checkpoint_state())


def test_checkpoint_when_decimals_then_exact_digits_and_exponent() -> None:
    live = Recorder(PLAIN)
    apply(live.engine, live.engine.set_budgets({"mm": D("1.2300"), "arb": D("-0") + 0}).records)
    state = _plain_json(live.engine.checkpoint_state())
    assert state["ledger"]["agents"]["mm"]["budget"] == "1.2300"
    recovered = _recover(live.clock, PLAIN, state, [])
    assert str(recovered.snapshot().agents["mm"].budget) == "1.2300"


def test_checkpoint_when_perp_history_then_late_fill_rebooks_the_same() -> None:
    live = Recorder(PLAIN)
    engine = live.engine
    sends = []
    for n in range(3):
        decision = engine.submit(intent(f"p{n}", symbol=PERP, amount="0.01"))
        assert isinstance(decision, Send)
        apply(engine, decision.records)
        sends.append(decision)
    late = trade(sends[0], "t1", "0.01", "60010").model_copy(update={"timestamp": 5})
    apply(engine, engine.on_fill(trade(sends[1], "t2", "0.01", "60020")).records)
    state, upto = engine.checkpoint_state(), len(live.log)
    apply(engine, engine.on_fill(late.model_copy(update={"timestamp": 0})).records)
    recovered = _recover(live.clock, PLAIN, state, live.log[upto:])
    replayed = _replay(live.clock, PLAIN, live.log)
    assert recovered.snapshot().venues == replayed.snapshot().venues
    assert _comparable(recovered) == _comparable(replayed)
    assert VENUE in recovered.snapshot().venues
