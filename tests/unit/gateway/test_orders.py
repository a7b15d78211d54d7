from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from core.errors import HaltError
from core.models import OrderStatus, OrderType, Side, TimeInForce
from gateway.engine_errors import OrderTransitionRefused
from gateway.orders import (
    FILL_STATES,
    ORDER_TRANSITIONS,
    TERMINAL_STATES,
    OrderState,
    TrackedOrder,
    can_transition,
    merge_venue_status,
    state_after_fill,
)

S = OrderState
D = Decimal

# The table, written out independently of the code, so a change to either shows.
ALLOWED = {
    (S.PENDING, S.OPEN),
    (S.PENDING, S.PARTIALLY_FILLED),
    (S.PENDING, S.FILLED),
    (S.PENDING, S.CANCEL_PENDING),
    (S.PENDING, S.CANCELED),
    (S.PENDING, S.REJECTED),
    (S.PENDING, S.EXPIRED),
    (S.PENDING, S.UNKNOWN),
    (S.UNKNOWN, S.OPEN),
    (S.UNKNOWN, S.PARTIALLY_FILLED),
    (S.UNKNOWN, S.FILLED),
    (S.UNKNOWN, S.CANCEL_PENDING),
    (S.UNKNOWN, S.CANCELED),
    (S.UNKNOWN, S.REJECTED),
    (S.UNKNOWN, S.EXPIRED),
    (S.OPEN, S.PARTIALLY_FILLED),
    (S.OPEN, S.FILLED),
    (S.OPEN, S.CANCEL_PENDING),
    (S.OPEN, S.CANCELED),
    (S.OPEN, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCEL_PENDING),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.CANCEL_PENDING, S.FILLED),
    (S.CANCEL_PENDING, S.CANCELED),
    (S.CANCEL_PENDING, S.EXPIRED),
    (S.CANCEL_PENDING, S.REJECTED),
}
PAIRS = [(a, b) for a, b in itertools.product(S, S) if a is not b]


def order(state: OrderState = S.PENDING, amount: str = "1", **extra: object) -> TrackedOrder:
    tracked = TrackedOrder(
        client_order_id="swAAAAAAAAAAAAAA",
        agent_id="mm",
        intent_id="i1",
        venue="paper",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D(amount),
        price=D(100),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        reduce_only=False,
        fingerprint="f",
        reservation=D(100),
        reservation_left=D(100),
        probe=False,
        created_ns=0,
        updated_ns=0,
    )
    tracked.state = state
    for key, value in extra.items():
        setattr(tracked, key, value)
    return tracked


def test_table_when_compared_with_the_spec_then_identical() -> None:
    table = {(a, b) for a, targets in ORDER_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("source", "target"), [p for p in PAIRS if p in ALLOWED])
def test_move_when_allowed_then_state_changes(source: OrderState, target: OrderState) -> None:
    tracked = order(source)
    assert tracked.move_to(target, 5)
    assert tracked.state is target
    assert tracked.updated_ns == 5


@pytest.mark.parametrize(("source", "target"), [p for p in PAIRS if p not in ALLOWED])
def test_move_when_forbidden_then_halt_error_and_unchanged(
    source: OrderState, target: OrderState
) -> None:
    tracked = order(source)
    with pytest.raises(OrderTransitionRefused) as info:
        tracked.move_to(target, 5)
    assert isinstance(info.value, HaltError)
    assert tracked.state is source
    assert tracked.client_order_id in str(info.value)


@pytest.mark.parametrize("state", list(S))
def test_move_when_same_state_then_no_change(state: OrderState) -> None:
    tracked = order(state)
    assert not tracked.move_to(state, 9)
    assert tracked.updated_ns == 0
    assert can_transition(state, state)


def test_terminal_states_when_listed_then_have_no_exit() -> None:
    assert {s for s in S if s.is_terminal} == TERMINAL_STATES
    for state in TERMINAL_STATES:
        assert ORDER_TRANSITIONS[state] == frozenset()


def test_unknown_when_resolved_then_every_venue_verdict_is_reachable() -> None:
    for target in (S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED):
        assert can_transition(S.UNKNOWN, target)
    assert not can_transition(S.UNKNOWN, S.PENDING)  # never "not sent yet": it is never resent


@pytest.mark.parametrize("state", list(S))
def test_fill_table_when_it_moves_then_the_move_is_allowed(state: OrderState) -> None:
    # A fill is accepted in every state (money moved); the states it leads to must be legal.
    for after in FILL_STATES[state]:
        assert can_transition(state, after), (state, after)


# -- FILLS --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "partial", "complete"),
    [
        (S.PENDING, S.PARTIALLY_FILLED, S.FILLED),
        (S.UNKNOWN, S.PARTIALLY_FILLED, S.FILLED),
        (S.OPEN, S.PARTIALLY_FILLED, S.FILLED),
        (S.CANCEL_PENDING, S.CANCEL_PENDING, S.FILLED),
        (S.CANCELED, S.CANCELED, S.CANCELED),
        (S.EXPIRED, S.EXPIRED, S.EXPIRED),
    ],
)
def test_fill_when_partial_or_complete_then_state_per_table(
    state: OrderState, partial: OrderState, complete: OrderState
) -> None:
    assert state_after_fill(order(state), D("0.4")) == (partial, None)
    assert state_after_fill(order(state), D(1)) == (complete, None)


def test_fill_when_beyond_amount_then_contradiction() -> None:
    target, problem = state_after_fill(order(S.PARTIALLY_FILLED, filled=D("0.8")), D("0.3"))
    assert target is S.FILLED
    assert problem is not None and "overfill" in problem


def test_fill_when_order_held_rejected_then_contradiction_and_stays_rejected() -> None:
    target, problem = state_after_fill(order(S.REJECTED), D("0.1"))
    assert target is S.REJECTED
    assert problem is not None


# -- VENUE STATUS -------------------------------------------------------------


def test_status_when_open_with_fills_then_partially_filled() -> None:
    assert merge_venue_status(order(S.PENDING), OrderStatus.OPEN, D("0.2")).target is (
        S.PARTIALLY_FILLED
    )
    assert merge_venue_status(order(S.UNKNOWN), OrderStatus.OPEN, D(0)).target is S.OPEN


def test_status_when_older_than_applied_fills_then_no_regression() -> None:
    tracked = order(S.PARTIALLY_FILLED, filled=D("0.2"))
    merge = merge_venue_status(tracked, OrderStatus.OPEN, D(0))
    assert merge.target is None and merge.contradiction is None


def test_status_when_open_while_cancel_pending_then_keep_waiting() -> None:
    merge = merge_venue_status(order(S.CANCEL_PENDING), OrderStatus.OPEN, D(0))
    assert merge.target is None and merge.contradiction is None


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_status_when_open_but_held_terminal_then_contradiction(state: OrderState) -> None:
    assert merge_venue_status(order(state), OrderStatus.OPEN, D(0)).contradiction is not None


def test_status_when_rejected_after_venue_showed_it_then_contradiction() -> None:
    merge = merge_venue_status(order(S.OPEN, venue_known=True), OrderStatus.REJECTED, None)
    assert merge.contradiction is not None
    merge = merge_venue_status(
        order(S.CANCEL_PENDING, venue_known=True), OrderStatus.REJECTED, None
    )
    assert merge.contradiction is not None


def test_status_when_second_terminal_verdict_then_no_change() -> None:
    merge = merge_venue_status(order(S.CANCELED), OrderStatus.CLOSED, D(1))
    assert merge.target is None and merge.contradiction is None


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (OrderStatus.CLOSED, S.FILLED),
        (OrderStatus.CANCELED, S.CANCELED),
        (OrderStatus.EXPIRED, S.EXPIRED),
        (OrderStatus.REJECTED, S.REJECTED),
    ],
)
def test_status_when_terminal_from_pending_then_that_state(
    status: OrderStatus, target: OrderState
) -> None:
    assert merge_venue_status(order(S.PENDING), status, None).target is target


def test_view_when_taken_then_frozen_copy() -> None:
    tracked = order(S.OPEN, trade_ids={"b", "a"})
    view = tracked.view()
    assert view.trade_ids == ("a", "b")
    tracked.trade_ids.add("c")
    assert view.trade_ids == ("a", "b")
