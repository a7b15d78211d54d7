"""The gateway's view of each order: its state, the transition table, fills applied.

States::

    PENDING           the intent is logged; no venue answer yet
    OPEN              the venue accepted it and it rests
    PARTIALLY_FILLED  some of it has filled, the rest rests
    CANCEL_PENDING    we asked the venue to cancel it; no confirmation yet
    UNKNOWN           a timeout, a dead actor or an "unknown status" answer: it
                      may exist; it is tracked and fillable and is resolved by
                      asking the venue by client order id, never sent again
    FILLED, CANCELED, REJECTED, EXPIRED   terminal: no exit

``_ORDER_TRANSITIONS`` lists every allowed change of state; anything else
raises ``OrderTransitionRefused`` (halt-class). Staying in a state is not a
transition and always allowed.

Fills are not status changes: a fill is money that moved on the venue, so it
is applied exactly once (per trade id) in *every* state, terminal ones
included. ``_FILL_STATES`` says which state an order is in after a fill. A
late fill of a CANCELED or EXPIRED order (the venue filled it while our
cancel was on its way, and reports the trade afterwards) is applied and the
order stays terminal; its reservation was released already, so the fill is
charged to the agent's budget as used capital. A fill of a REJECTED order, or
one beyond the order's amount, is applied too, and is reported as a
contradiction for the engine to halt on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from core.models import Frozen, OrderStatus, OrderType, Side, TimeInForce
from core.money import ZERO, Dec
from gateway.engine_errors import OrderTransitionRefused

# -- STATES AND THE TRANSITION TABLE ------------------------------------------


class OrderState(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def needs_venue_query(self) -> bool:
        """Return True while only the venue can tell what became of the order."""
        return self in _UNRESOLVED


_O = OrderState
TERMINAL_STATES: Final = frozenset({_O.FILLED, _O.CANCELED, _O.REJECTED, _O.EXPIRED})
_UNRESOLVED: Final = frozenset({_O.PENDING, _O.UNKNOWN, _O.CANCEL_PENDING})

_ORDER_TRANSITIONS: Final[dict[OrderState, frozenset[OrderState]]] = {
    _O.PENDING: frozenset(
        {
            _O.OPEN,
            _O.PARTIALLY_FILLED,
            _O.FILLED,
            _O.CANCEL_PENDING,
            _O.CANCELED,
            _O.REJECTED,
            _O.EXPIRED,
            _O.UNKNOWN,
        }
    ),
    # Resolving an unknown outcome may find the order in any state, or not at all.
    _O.UNKNOWN: frozenset(
        {
            _O.OPEN,
            _O.PARTIALLY_FILLED,
            _O.FILLED,
            _O.CANCEL_PENDING,
            _O.CANCELED,
            _O.REJECTED,
            _O.EXPIRED,
        }
    ),
    _O.OPEN: frozenset(
        {_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCEL_PENDING, _O.CANCELED, _O.EXPIRED}
    ),
    _O.PARTIALLY_FILLED: frozenset({_O.FILLED, _O.CANCEL_PENDING, _O.CANCELED, _O.EXPIRED}),
    # A cancel ends in a cancel, a fill that beat it, an expiry, or (for an order
    # the venue never knew) the verdict that the create never arrived. A cancel
    # stays pending until one of these: it is re-sent, never abandoned.
    _O.CANCEL_PENDING: frozenset({_O.FILLED, _O.CANCELED, _O.EXPIRED, _O.REJECTED}),
    _O.FILLED: frozenset(),
    _O.CANCELED: frozenset(),
    _O.REJECTED: frozenset(),
    _O.EXPIRED: frozenset(),
}
ORDER_TRANSITIONS: Final = MappingProxyType(_ORDER_TRANSITIONS)

_FILL_STATES: Final[dict[OrderState, tuple[OrderState, OrderState]]] = {
    # state -> (after a partial fill, after the fill that completes the amount)
    _O.PENDING: (_O.PARTIALLY_FILLED, _O.FILLED),
    _O.UNKNOWN: (_O.PARTIALLY_FILLED, _O.FILLED),
    _O.OPEN: (_O.PARTIALLY_FILLED, _O.FILLED),
    _O.PARTIALLY_FILLED: (_O.PARTIALLY_FILLED, _O.FILLED),
    _O.CANCEL_PENDING: (_O.CANCEL_PENDING, _O.FILLED),
    _O.FILLED: (_O.FILLED, _O.FILLED),  # the venue said closed before its trades came
    _O.CANCELED: (_O.CANCELED, _O.CANCELED),  # late fill
    _O.EXPIRED: (_O.EXPIRED, _O.EXPIRED),  # late fill
    _O.REJECTED: (_O.REJECTED, _O.REJECTED),  # a contradiction, reported by apply_fill
}
FILL_STATES: Final = MappingProxyType(_FILL_STATES)

_STATUS_STATES: Final = {
    OrderStatus.CLOSED: _O.FILLED,
    OrderStatus.CANCELED: _O.CANCELED,
    OrderStatus.EXPIRED: _O.EXPIRED,
    OrderStatus.REJECTED: _O.REJECTED,
}


def can_transition(source: OrderState, target: OrderState) -> bool:
    """Return whether ``source -> target`` is allowed (staying put always is)."""
    return source is target or target in _ORDER_TRANSITIONS[source]


# -- THE TRACKED ORDER --------------------------------------------------------


class OrderView(Frozen):
    """A read-only copy of one tracked order, safe to hand to other actors."""

    client_order_id: str
    agent_id: str
    intent_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    amount: Dec
    price: Dec | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    state: OrderState
    venue_order_id: str | None
    filled: Dec
    average_price: Dec | None
    fees: dict[str, Dec]
    trade_ids: tuple[str, ...]
    reservation: Dec
    reservation_left: Dec
    reason: str
    created_ns: int
    updated_ns: int


@dataclass(slots=True)
class TrackedOrder:
    """One order as the gateway tracks it; changed only by the engine's ``apply``."""

    client_order_id: str
    agent_id: str
    intent_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    fingerprint: str
    reservation: Decimal
    reservation_left: Decimal
    probe: bool
    created_ns: int
    updated_ns: int
    state: OrderState = OrderState.PENDING
    venue_order_id: str | None = None
    venue_known: bool = False
    """The venue has shown it knows this order (an ack, a status, a fill)."""
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    trade_ids: set[str] = field(default_factory=set)
    fills_after_terminal: int = 0
    reason: str = ""

    @property
    def remaining(self) -> Decimal:
        left = self.amount - self.filled
        return left if left > 0 else ZERO

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    def move_to(self, target: OrderState, at_ns: int, reason: str = "") -> bool:
        """Change state to ``target``; return whether it changed. Refuse what the table forbids."""
        if target is self.state:
            return False
        if target not in _ORDER_TRANSITIONS[self.state]:
            raise OrderTransitionRefused(
                self.client_order_id, self.state, target, "not in the transition table"
            )
        self.state = target
        self.updated_ns = at_ns
        if reason:
            self.reason = reason
        return True

    def view(self) -> OrderView:
        """Return a frozen copy for snapshots and replies."""
        return OrderView(
            client_order_id=self.client_order_id,
            agent_id=self.agent_id,
            intent_id=self.intent_id,
            venue=self.venue,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            amount=self.amount,
            price=self.price,
            time_in_force=self.time_in_force,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
            state=self.state,
            venue_order_id=self.venue_order_id,
            filled=self.filled,
            average_price=self.average_price,
            fees=dict(sorted(self.fees.items())),
            trade_ids=tuple(sorted(self.trade_ids)),
            reservation=self.reservation,
            reservation_left=self.reservation_left,
            reason=self.reason,
            created_ns=self.created_ns,
            updated_ns=self.updated_ns,
        )


# -- MERGING WHAT THE VENUE SAYS ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Merge:
    """What a venue fact does to an order: a new state, nothing, or a contradiction."""

    target: OrderState | None = None
    contradiction: str | None = None


NO_CHANGE: Final = Merge()


def merge_venue_status(order: TrackedOrder, status: OrderStatus, filled: Decimal | None) -> Merge:
    """Return what the venue reporting ``status`` (with ``filled``) does to ``order``.

    Facts never move an order backwards: a status older than a fill we have
    applied, or an "open" while our cancel is in flight, changes nothing. A
    live order we hold terminal, or a "rejected" for an order the venue had
    accepted, is a contradiction.
    """
    current = order.state
    if status is OrderStatus.OPEN:
        if current.is_terminal:
            return Merge(contradiction=f"the venue says open, the gateway holds it {current}")
        if current is OrderState.CANCEL_PENDING:
            return NO_CHANGE  # our cancel has not reached it yet; keep waiting for it
        some = order.filled > 0 or (filled is not None and filled > 0)
        target = OrderState.PARTIALLY_FILLED if some else OrderState.OPEN
        if current is OrderState.PARTIALLY_FILLED:
            return NO_CHANGE
        return NO_CHANGE if target is current else Merge(target)
    target = _STATUS_STATES[status]
    if current.is_terminal:
        return NO_CHANGE  # a second verdict adds nothing: fills still arrive as trades
    if target is OrderState.REJECTED and order.venue_known:
        return Merge(contradiction="the venue rejects an order it had accepted")
    if not can_transition(current, target):
        return Merge(contradiction=f"{current} -> {target} is not an allowed transition")
    return Merge(target)


def state_after_fill(order: TrackedOrder, amount: Decimal) -> tuple[OrderState, str | None]:
    """Return the state after a fill of ``amount`` and a contradiction, if the fill is one."""
    partial, complete = _FILL_STATES[order.state]
    total = order.filled + amount
    contradiction: str | None = None
    if order.state is OrderState.REJECTED:
        contradiction = "a fill of an order held rejected: it did reach the venue"
    elif total > order.amount:
        contradiction = f"overfill: {total} filled of {order.amount}"
    return (complete if total >= order.amount else partial), contradiction
