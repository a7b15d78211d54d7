from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.clock import NS_PER_S, SimulatedClock
from core.errors import HaltError
from gateway.breaker import (
    TRANSITIONS,
    Admission,
    Breaker,
    BreakerConfig,
    BreakerEvent,
    BreakerState,
    BreakerTransition,
    Denial,
    Drained,
    ErrorObserved,
    OrderKind,
    ProbeResult,
    Reset,
    Tick,
    Trigger,
    Trip,
    TripReason,
)
from gateway.disk import SimulatedDisk
from gateway.errors import BreakerTransitionRefused
from gateway.wal import RecordType, Wal

S = BreakerState
CONFIG = BreakerConfig(
    probe_orders=2,
    error_burst_count=3,
    error_burst_window_ns=10 * NS_PER_S,
    drain_timeout_ns=30 * NS_PER_S,
)


def breaker(
    state: BreakerState = S.CLOSED, config: BreakerConfig = CONFIG, start_ns: int = 1_000
) -> tuple[Breaker, SimulatedClock]:
    clock = SimulatedClock(start_ns)
    return Breaker(config, clock, state=state, since_ns=start_ns), clock


def transition(source: BreakerState, trigger: Trigger, target: BreakerState) -> BreakerTransition:
    return BreakerTransition(
        from_state=source, to_state=target, trigger=trigger, at_ns=5, actor="test"
    )


# -- THE TABLE ----------------------------------------------------------------


def test_table_when_read_then_matches_the_design() -> None:
    assert dict(TRANSITIONS) == {
        (S.CLOSED, Trigger.TRIP): S.DRAINING,
        (S.CLOSED, Trigger.HALT): S.OPEN,
        (S.DRAINING, Trigger.HALT): S.OPEN,
        (S.DRAINING, Trigger.DRAINED): S.OPEN,
        (S.DRAINING, Trigger.DRAIN_TIMEOUT): S.OPEN,
        (S.OPEN, Trigger.RESET): S.HALF_OPEN,
        (S.OPEN, Trigger.RESET_TO_CLOSED): S.CLOSED,
        (S.HALF_OPEN, Trigger.PROBES_PASSED): S.CLOSED,
        (S.HALF_OPEN, Trigger.PROBE_FAILED): S.OPEN,
        (S.HALF_OPEN, Trigger.TRIP): S.OPEN,
        (S.HALF_OPEN, Trigger.HALT): S.OPEN,
    }
    # Nothing but an operator's reset or passed probes ever makes the breaker less safe.
    for (source, trigger), target in TRANSITIONS.items():
        if target.safety < source.safety:
            assert trigger in {Trigger.RESET, Trigger.RESET_TO_CLOSED, Trigger.PROBES_PASSED}


def test_safety_when_ordered_then_open_draining_half_open_closed() -> None:
    assert sorted(S, key=lambda state: state.safety, reverse=True) == [
        S.OPEN,
        S.DRAINING,
        S.HALF_OPEN,
        S.CLOSED,
    ]


def event_for(trigger: Trigger, breaker: Breaker, clock: SimulatedClock) -> BreakerEvent:
    """Return the event that asks for ``trigger``, with the clock and counters set up for it."""
    if trigger is Trigger.TRIP:
        return Trip(TripReason.DRAWDOWN_LIMIT, "equity -12%")
    if trigger is Trigger.HALT:
        return Trip(TripReason.WAL_CORRUPTION, "bad record")
    if trigger is Trigger.DRAINED:
        return Drained()
    if trigger is Trigger.DRAIN_TIMEOUT:
        clock.advance(CONFIG.drain_timeout_ns)
        return Tick()
    if trigger in (Trigger.RESET, Trigger.RESET_TO_CLOSED):
        return Reset("alice", "checked the venue")
    if trigger is Trigger.PROBES_PASSED:
        assert breaker.record(ProbeResult(ok=True)) is None
        return ProbeResult(ok=True)
    return ProbeResult(ok=False, detail="rejected")


@pytest.mark.parametrize(("source", "trigger"), sorted(TRANSITIONS))
def test_decide_when_allowed_trigger_then_proposes_table_target_without_changing_state(
    source: BreakerState, trigger: Trigger
) -> None:
    config = CONFIG
    if trigger is Trigger.RESET_TO_CLOSED:
        config = CONFIG.model_copy(update={"reset_to": S.CLOSED})
    machine, clock = breaker(source, config)
    event = event_for(trigger, machine, clock)
    proposed = machine.decide(event)
    assert proposed is not None
    assert (proposed.from_state, proposed.trigger, proposed.to_state) == (
        source,
        trigger,
        TRANSITIONS[(source, trigger)],
    )
    assert proposed.at_ns == clock.now_ns()
    assert machine.state is source  # deciding is pure
    assert machine.decide(event) == proposed
    machine.apply(proposed)
    assert machine.state is TRANSITIONS[(source, trigger)]
    assert machine.since_ns == proposed.at_ns


FORBIDDEN = [
    (source, trigger, target)
    for source, trigger, target in itertools.product(S, Trigger, S)
    if TRANSITIONS.get((source, trigger)) is not target
]


@pytest.mark.parametrize(("source", "trigger", "target"), FORBIDDEN)
def test_apply_when_transition_not_in_table_then_refused(
    source: BreakerState, trigger: Trigger, target: BreakerState
) -> None:
    machine, _ = breaker(source)
    with pytest.raises(BreakerTransitionRefused, match="not in the transition table"):
        machine.apply(transition(source, trigger, target))
    assert machine.state is source


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize(
    "event",
    [
        Trip(TripReason.MANUAL_KILL),
        Trip(TripReason.RECONCILIATION_BEYOND_TOLERANCE),
        ErrorObserved(),
        Drained(),
        Tick(),
        Reset("alice"),
        ProbeResult(ok=True),
        ProbeResult(ok=False),
    ],
)
def test_decide_when_any_event_in_any_state_then_only_table_transitions(
    state: BreakerState, event: BreakerEvent
) -> None:
    config = CONFIG.model_copy(update={"probe_orders": 1})
    machine, clock = breaker(state, config)
    clock.advance(CONFIG.drain_timeout_ns)
    proposed = machine.decide(event)
    # An oracle written from the table's doc: the trigger each event is, in this set-up (one
    # error is below the burst count, the drain timeout has passed, one probe suffices).
    trigger: Trigger | None
    if isinstance(event, Trip):
        trigger = Trigger.HALT if event.reason.halts else Trigger.TRIP
    elif isinstance(event, ErrorObserved):
        trigger = None
    elif isinstance(event, Drained):
        trigger = Trigger.DRAINED
    elif isinstance(event, Tick):
        trigger = Trigger.DRAIN_TIMEOUT if state is S.DRAINING else None
    elif isinstance(event, Reset):
        trigger = Trigger.RESET_TO_CLOSED if config.reset_to is S.CLOSED else Trigger.RESET
    else:
        assert isinstance(event, ProbeResult)
        ok = Trigger.PROBES_PASSED if event.ok else Trigger.PROBE_FAILED
        trigger = ok if state is S.HALF_OPEN else None
    expected = TRANSITIONS.get((state, trigger)) if trigger is not None else None
    assert (proposed.to_state if proposed else None) is expected
    if proposed is not None:
        assert (proposed.from_state, proposed.trigger) == (state, trigger)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.OPEN, Trip(TripReason.MANUAL_KILL)),
        (S.OPEN, Trip(TripReason.WAL_CORRUPTION)),
        (S.DRAINING, Trip(TripReason.DRAWDOWN_LIMIT)),
        (S.CLOSED, Reset("alice")),
        (S.DRAINING, Reset("alice")),
        (S.HALF_OPEN, Reset("alice")),
        (S.CLOSED, Drained()),
        (S.OPEN, Drained()),
        (S.CLOSED, ProbeResult(ok=False)),
        (S.OPEN, ProbeResult(ok=True)),
    ],
)
def test_decide_when_event_has_no_transition_here_then_none(
    state: BreakerState, event: BreakerEvent
) -> None:
    machine, _ = breaker(state, CONFIG.model_copy(update={"probe_orders": 1}))
    assert machine.decide(event) is None


def test_apply_when_transition_starts_elsewhere_then_refused_as_stale() -> None:
    machine, _ = breaker(S.DRAINING)
    stale = transition(S.CLOSED, Trigger.TRIP, S.DRAINING)
    with pytest.raises(BreakerTransitionRefused, match="the breaker is draining") as caught:
        machine.apply(stale)
    assert isinstance(caught.value, HaltError)


@pytest.mark.parametrize("state", [S.CLOSED, S.HALF_OPEN, S.DRAINING])
@pytest.mark.parametrize(
    "reason", [reason for reason in TripReason if reason.halts], ids=lambda reason: reason.value
)
def test_trip_when_halt_class_reason_then_open_directly(
    state: BreakerState, reason: TripReason
) -> None:
    machine, _ = breaker(state)
    proposed = machine.decide(Trip(reason, actor="reconciler"))
    assert proposed is not None
    assert (proposed.to_state, proposed.trigger, proposed.reason) == (S.OPEN, Trigger.HALT, reason)
    assert proposed.actor == "reconciler"


def test_manual_kill_when_closed_then_draining_then_open_once_drained() -> None:
    machine, _ = breaker()
    kill = machine.decide(Trip(TripReason.MANUAL_KILL, "going to lunch", actor="alice"))
    assert kill is not None and kill.to_state is S.DRAINING and kill.actor == "alice"
    machine.apply(kill)
    drained = machine.decide(Drained())
    assert drained is not None and drained.to_state is S.OPEN
    machine.apply(drained)
    assert machine.state is S.OPEN


# -- TIME: ERROR BURST, DRAIN TIMEOUT -----------------------------------------


def test_error_burst_when_count_reached_within_window_then_trips_to_draining() -> None:
    machine, clock = breaker()
    assert machine.record(ErrorObserved("timeout")) is None
    clock.advance(4 * NS_PER_S)
    assert machine.record(ErrorObserved("timeout")) is None
    clock.advance(5 * NS_PER_S)
    # Deciding does not count: asking twice is still the third error, not the fourth.
    assert machine.decide(ErrorObserved("x")) == machine.decide(ErrorObserved("x"))
    proposed = machine.record(ErrorObserved("rate limited"))
    assert proposed is not None
    assert (proposed.to_state, proposed.reason) == (S.DRAINING, TripReason.ERROR_BURST)
    assert "rate limited" in proposed.detail


def test_error_burst_when_errors_spread_beyond_window_then_never_trips() -> None:
    machine, clock = breaker()
    for _ in range(20):
        assert machine.record(ErrorObserved()) is None
        clock.advance(5 * NS_PER_S)  # two errors per 10 s window, the limit is three


def test_error_burst_when_oldest_error_exactly_window_old_then_expired() -> None:
    machine, clock = breaker()
    machine.record(ErrorObserved())
    clock.advance(NS_PER_S)
    machine.record(ErrorObserved())
    clock.advance(9 * NS_PER_S)  # the first is now exactly 10 s old: outside the window
    assert machine.record(ErrorObserved()) is None
    assert machine.record(ErrorObserved()) is not None


def test_error_burst_when_half_open_then_back_to_open() -> None:
    machine, _ = breaker(S.HALF_OPEN)
    machine.record(ErrorObserved())
    machine.record(ErrorObserved())
    proposed = machine.record(ErrorObserved())
    assert proposed is not None and proposed.to_state is S.OPEN


def test_error_burst_when_breaker_reset_then_old_errors_forgotten() -> None:
    machine, _ = breaker(S.OPEN)
    machine.record(ErrorObserved())
    machine.record(ErrorObserved())
    reset = machine.decide(Reset("alice"))
    assert reset is not None
    machine.apply(reset)
    assert machine.record(ErrorObserved()) is None


def test_drain_timeout_when_clock_passes_it_then_open() -> None:
    machine, clock = breaker()
    trip = machine.decide(Trip(TripReason.RECONCILIATION_MISMATCH))
    assert trip is not None
    machine.apply(trip)
    clock.advance(CONFIG.drain_timeout_ns - 1)
    assert machine.decide(Tick()) is None
    clock.advance(1)
    timeout = machine.decide(Tick())
    assert timeout is not None
    assert (timeout.trigger, timeout.to_state) == (Trigger.DRAIN_TIMEOUT, S.OPEN)


# -- RESET AND PROBES ---------------------------------------------------------


def test_reset_when_open_then_half_open_by_default_and_closed_only_if_configured() -> None:
    machine, _ = breaker(S.OPEN)
    proposed = machine.decide(Reset("alice"))
    assert proposed is not None and proposed.to_state is S.HALF_OPEN
    assert proposed.actor == "alice"
    direct, _ = breaker(S.OPEN, CONFIG.model_copy(update={"reset_to": S.CLOSED}))
    proposed = direct.decide(Reset("bob"))
    assert proposed is not None
    assert (proposed.trigger, proposed.to_state) == (Trigger.RESET_TO_CLOSED, S.CLOSED)


def test_probes_when_all_succeed_then_closed() -> None:
    machine, _ = breaker(S.HALF_OPEN)
    assert machine.admit(OrderKind.NEW).probe
    assert machine.admit(OrderKind.NEW).probe
    assert machine.record(ProbeResult(ok=True)) is None
    proposed = machine.record(ProbeResult(ok=True))
    assert proposed is not None
    assert (proposed.trigger, proposed.to_state) == (Trigger.PROBES_PASSED, S.CLOSED)
    machine.apply(proposed)
    assert machine.admits(OrderKind.NEW) == Admission(True, S.CLOSED)


def test_probes_when_one_fails_then_open() -> None:
    machine, _ = breaker(S.HALF_OPEN)
    machine.record(ProbeResult(ok=True))
    proposed = machine.record(ProbeResult(ok=False, detail="venue rejected"))
    assert proposed is not None
    assert (proposed.trigger, proposed.to_state) == (Trigger.PROBE_FAILED, S.OPEN)


def test_probes_when_breaker_enters_half_open_again_then_budget_renewed() -> None:
    machine, _ = breaker(S.HALF_OPEN)
    machine.admit(OrderKind.NEW)
    machine.admit(OrderKind.NEW)
    assert not machine.admits(OrderKind.NEW)
    machine.apply(transition(S.HALF_OPEN, Trigger.PROBE_FAILED, S.OPEN))
    machine.apply(transition(S.OPEN, Trigger.RESET, S.HALF_OPEN))
    assert machine.admits(OrderKind.NEW).allowed


# -- ADMISSION ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind", "expected"),
    [
        (S.CLOSED, OrderKind.NEW, Admission(True, S.CLOSED)),
        (S.CLOSED, OrderKind.REDUCE_ONLY, Admission(True, S.CLOSED)),
        (S.DRAINING, OrderKind.NEW, Admission(False, S.DRAINING, Denial.DRAINING_REDUCE_ONLY)),
        (S.DRAINING, OrderKind.REDUCE_ONLY, Admission(True, S.DRAINING)),
        (S.HALF_OPEN, OrderKind.NEW, Admission(True, S.HALF_OPEN, probe=True)),
        (S.HALF_OPEN, OrderKind.REDUCE_ONLY, Admission(True, S.HALF_OPEN, probe=True)),
        (S.OPEN, OrderKind.NEW, Admission(False, S.OPEN, Denial.BREAKER_OPEN)),
        (S.OPEN, OrderKind.REDUCE_ONLY, Admission(False, S.OPEN, Denial.BREAKER_OPEN)),
    ],
)
def test_admits_when_state_then_passes_only_what_the_state_allows(
    state: BreakerState, kind: OrderKind, expected: Admission
) -> None:
    machine, _ = breaker(state)
    admission = machine.admits(kind)
    assert admission == expected
    assert bool(admission) is expected.allowed


def test_admits_when_half_open_budget_spent_then_denied_with_reason() -> None:
    machine, _ = breaker(S.HALF_OPEN)
    for _ in range(5):
        machine.admits(OrderKind.NEW)  # asking spends nothing
    assert machine.admit(OrderKind.NEW).allowed
    assert machine.admit(OrderKind.REDUCE_ONLY).allowed
    denied = machine.admit(OrderKind.NEW)
    assert denied == Admission(False, S.HALF_OPEN, Denial.PROBE_BUDGET_SPENT)
    assert machine.probes_admitted == 2


# -- RESTORE ------------------------------------------------------------------


def test_restore_when_transitions_logged_through_the_wal_then_same_state() -> None:
    disk = SimulatedDisk()
    wal = Wal("unused", disk=disk)
    wal.recover()
    machine, clock = breaker()
    events: list[BreakerEvent] = [Trip(TripReason.DRAWDOWN_LIMIT), Drained(), Reset("alice")]
    for event in events:
        clock.advance(NS_PER_S)
        proposed = machine.decide(event)
        assert proposed is not None
        wal.append_and_commit(RecordType.BREAKER, proposed.to_payload())
        machine.apply(proposed)
    logged = [
        BreakerTransition.from_payload(record.payload)
        for record in Wal("unused", disk=disk).replay()
        if record.type is RecordType.BREAKER
    ]
    restored = Breaker.restore(logged, config=CONFIG, clock=clock)
    assert restored.state is machine.state is S.HALF_OPEN
    assert restored.since_ns == machine.since_ns


def test_restore_when_crash_after_log_before_apply_then_trip_takes_effect() -> None:
    machine, _ = breaker()
    trip = machine.decide(Trip(TripReason.RECONCILIATION_BEYOND_TOLERANCE))
    assert trip is not None
    # Logged, then the process died before apply(): memory still said CLOSED.
    restored = Breaker.restore([trip], config=CONFIG, clock=SimulatedClock(0))
    assert restored.state is S.OPEN
    assert restored.state.safety > machine.state.safety


def test_restore_when_logged_transition_not_in_table_then_refused() -> None:
    log = [
        transition(S.CLOSED, Trigger.TRIP, S.DRAINING),
        transition(S.DRAINING, Trigger.RESET, S.CLOSED),  # never written by this code
    ]
    with pytest.raises(BreakerTransitionRefused, match="logged transition #1") as caught:
        Breaker.restore(log, config=CONFIG, clock=SimulatedClock(0))
    assert isinstance(caught.value, HaltError)


def test_restore_when_chain_broken_then_refused() -> None:
    log = [
        transition(S.CLOSED, Trigger.HALT, S.OPEN),
        transition(S.CLOSED, Trigger.TRIP, S.DRAINING),  # starts from a state it is not in
    ]
    with pytest.raises(BreakerTransitionRefused, match="the breaker is open"):
        Breaker.restore(log, config=CONFIG, clock=SimulatedClock(0))


def test_restore_when_from_checkpointed_state_then_continues_from_it() -> None:
    log = [transition(S.OPEN, Trigger.RESET, S.HALF_OPEN)]
    restored = Breaker.restore(log, config=CONFIG, clock=SimulatedClock(0), state=S.OPEN)
    assert restored.state is S.HALF_OPEN
    assert restored.admits(OrderKind.NEW).probe


def test_transition_payload_when_not_a_transition_then_refused() -> None:
    with pytest.raises(BreakerTransitionRefused, match="not a breaker transition"):
        BreakerTransition.from_payload({"from_state": "closed", "to_state": "lunch"})


def test_config_when_unknown_key_then_error() -> None:
    with pytest.raises(ValidationError):
        BreakerConfig.model_validate({"probe_order": 3})
    with pytest.raises(ValidationError):
        BreakerConfig.model_validate({"reset_to": "open"})  # only to HALF_OPEN or CLOSED


EVENTS = st.sampled_from(
    [
        Trip(TripReason.DRAWDOWN_LIMIT),
        Trip(TripReason.WAL_CORRUPTION),
        Trip(TripReason.MANUAL_KILL),
        ErrorObserved(),
        Drained(),
        Tick(),
        Reset("alice"),
        ProbeResult(ok=True),
        ProbeResult(ok=False),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(EVENTS, st.integers(0, 40 * NS_PER_S)), max_size=40),
    crash_before_apply=st.booleans(),
)
def test_restore_when_crash_at_any_point_then_never_less_safe_than_the_log(
    steps: list[tuple[BreakerEvent, int]], crash_before_apply: bool
) -> None:
    """Log every transition before applying it; a crash may hit between the two.

    The restored breaker is exactly where the log says. It is never less safe
    than the live breaker, except when the unapplied last transition was a
    durable decision to relax (a reset, passed probes), which recovery completes.
    """
    machine, clock = breaker()
    log: list[BreakerTransition] = []
    for event, delay in steps:
        clock.advance(delay)
        proposed = machine.record(event)
        if proposed is None:
            continue
        log.append(BreakerTransition.model_validate_json(proposed.model_dump_json()))
        machine.apply(proposed)
    if crash_before_apply and log:
        # Rewind the live breaker to just before the last apply.
        machine = Breaker.restore(log[:-1], config=CONFIG, clock=clock)
    restored = Breaker.restore(log, config=CONFIG, clock=clock)
    assert restored.state is (log[-1].to_state if log else S.CLOSED)
    if restored.state.safety < machine.state.safety:
        assert crash_before_apply
        assert log[-1].trigger in {Trigger.RESET, Trigger.RESET_TO_CLOSED, Trigger.PROBES_PASSED}
