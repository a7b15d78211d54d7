"""What the engine keeps of an order once it has left the order table: its idempotency key.

A terminal order stays in the engine's order table for ``terminal_order_retention_ns``
after its last change (the venue's query window: late trades and status answers still
find it). Then it is *retired*: the table drops it and keeps a ``RetiredOrder``, small,
under its client order id, for ``idempotency_retention_ns`` more (None: for ever). An
agent that repeats the intent meanwhile gets the original answer (``retired_view``),
never a second order; a late trade of it is booked to its agent, not taken for an
order without an intent.

Retiring reads only the log's own time (the ``at_ns`` of the records applied), so a
replay retires exactly what the live run retired, and a checkpoint carries the queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView, TrackedOrder


@dataclass(frozen=True, slots=True)
class RetiredOrder:
    """A terminal order dropped from the table: enough to answer a repeated intent."""

    fingerprint: str
    agent_id: str
    venue: str
    state: OrderState
    filled: Decimal
    average_price: Decimal | None
    venue_order_id: str | None
    reservation: Decimal
    reason: str
    created_ns: int
    updated_ns: int
    retired_ns: int

    @classmethod
    def of(cls, order: TrackedOrder, retired_ns: int) -> RetiredOrder:
        return cls(
            fingerprint=order.fingerprint,
            agent_id=order.agent_id,
            venue=order.venue,
            state=order.state,
            filled=order.filled,
            average_price=order.average_price,
            venue_order_id=order.venue_order_id,
            reservation=order.reservation,
            reason=order.reason,
            created_ns=order.created_ns,
            updated_ns=order.updated_ns,
            retired_ns=retired_ns,
        )

    FINGERPRINT: ClassVar[int] = 1
    """Where the fingerprint sits in ``row``."""
    RETIRED_NS: ClassVar[int] = 12
    ROW_FIELDS: ClassVar[int] = 13

    def row(self, client_order_id: str) -> list[Any]:
        """Return the form the engine keeps and a checkpoint writes: positional, plain values.

        Kept as such (parsed only when a repeated intent or a late trade asks), so that
        a checkpoint of hundreds of thousands of keys is restored without a conversion.
        """
        return [
            client_order_id,
            self.fingerprint,
            self.agent_id,
            self.venue,
            str(self.state),
            str(self.filled),
            None if self.average_price is None else str(self.average_price),
            self.venue_order_id,
            str(self.reservation),
            self.reason,
            self.created_ns,
            self.updated_ns,
            self.retired_ns,
        ]

    @classmethod
    def from_row(cls, item: list[Any]) -> RetiredOrder:
        """Parse what ``row`` wrote."""
        (
            _,
            fp,
            agent,
            venue,
            state,
            filled,
            avg,
            voi,
            reservation,
            reason,
            created,
            updated,
            at,
        ) = item
        return cls(
            fingerprint=str(fp),
            agent_id=str(agent),
            venue=str(venue),
            state=OrderState(str(state)),
            filled=Decimal(str(filled)),
            average_price=None if avg is None else Decimal(str(avg)),
            venue_order_id=None if voi is None else str(voi),
            reservation=Decimal(str(reservation)),
            reason=str(reason),
            created_ns=int(created),
            updated_ns=int(updated),
            retired_ns=int(at),
        )


def retired_view(client_order_id: str, intent: OrderIntent, retired: RetiredOrder) -> OrderView:
    """Return the view of a retired order for a repeated ``intent`` (same fingerprint).

    The intent's fields are the order's (the fingerprint says so); state, fill and
    times are the retired order's. Fees and trade ids are not kept: the books hold them.
    """
    return OrderView(
        client_order_id=client_order_id,
        agent_id=retired.agent_id,
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
        state=retired.state,
        venue_order_id=retired.venue_order_id,
        filled=retired.filled,
        average_price=retired.average_price,
        fees={},
        trade_ids=(),
        reservation=retired.reservation,
        reservation_left=Decimal(0),
        reason=retired.reason,
        created_ns=retired.created_ns,
        updated_ns=retired.updated_ns,
    )
