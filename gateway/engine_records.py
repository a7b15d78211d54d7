"""The payloads the gateway engine writes to the WAL, one frozen model per record kind.

The engine's decisions carry ``(RecordType, dict)`` pairs ready for
``Wal.append_many``; ``apply`` parses each back with the model of its type.
Decimals stay Decimals (the WAL writes them exactly), enums become their
string values on replay, and the models accept both, so a record applied
live and the same record replayed from disk have the same effect.

Every payload carries ``at_ns``: the engine's clock when it decided, so that
applying a record never reads the clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field

from core.models import Frozen, OrderStatus, OrderType, Side, TakerOrMaker, TimeInForce
from core.money import Dec
from gateway.wal_format import RecordType

WalRecord = tuple[RecordType, dict[str, Any]]
"""One record as ``Wal.append_many`` takes it."""


class _Payload(Frozen):
    RECORD_TYPE: ClassVar[RecordType]

    def to_record(self) -> WalRecord:
        """Return ``(record type, payload dict)`` for the WAL."""
        return (self.RECORD_TYPE, self.model_dump())


# -- ORDERS -------------------------------------------------------------------


class IntentPayload(_Payload):
    """INTENT: a new order, logged (with its reservation) before it is sent."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.INTENT
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
    fingerprint: str
    reservation: Dec
    reference_price: Dec | None
    probe: bool
    at_ns: int = Field(ge=0)


class ResultOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class ResultPayload(_Payload):
    """RESULT: the venue's answer to the create (or its absence: UNKNOWN)."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.RESULT
    client_order_id: str
    outcome: ResultOutcome
    venue_order_id: str | None = None
    status: OrderStatus | None = None
    filled: Dec | None = None
    reason: str = ""
    at_ns: int = Field(ge=0)


class FillPayload(_Payload):
    """FILL: one trade, booked once per (venue, trade id); ``agent_id`` may be the house."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.FILL
    client_order_id: str | None
    agent_id: str
    venue: str
    symbol: str
    trade_id: str
    venue_order_id: str | None
    side: Side
    price: Dec
    amount: Dec
    fee_cost: Dec
    fee_currency: str | None
    taker_or_maker: TakerOrMaker | None
    timestamp: int
    at_ns: int = Field(ge=0)


class CancelKind(StrEnum):
    TOMBSTONE = "tombstone"
    """The cancel came before its submit: the intent may never be placed."""
    REQUESTED = "requested"
    """A cancel is on its way to the venue."""


class CancelPayload(_Payload):
    """CANCEL: a tombstone or a cancel request."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.CANCEL
    client_order_id: str
    agent_id: str
    intent_id: str
    kind: CancelKind
    at_ns: int = Field(ge=0)


class StatusSource(StrEnum):
    QUERY = "query"
    """``fetch_order`` by client order id, or an order update from a stream."""
    CANCEL = "cancel"
    """The order the venue returned from a cancel."""
    NOT_FOUND = "not_found"
    """The venue does not know the client order id."""


class OrderStatusPayload(_Payload):
    """ORDER_STATUS: what the venue says about an order outside the create answer."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.ORDER_STATUS
    client_order_id: str
    source: StatusSource
    status: OrderStatus | None = None
    venue_order_id: str | None = None
    filled: Dec | None = None
    final: bool = False
    """For NOT_FOUND: the grace has passed, the create never reached the venue."""
    reason: str = ""
    at_ns: int = Field(ge=0)


# -- MONEY --------------------------------------------------------------------


class BudgetPayload(_Payload):
    """BUDGET: the council's budgets per agent."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.BUDGET
    budgets: dict[str, Dec]
    at_ns: int = Field(ge=0)


class CorrectionEntry(Frozen):
    kind: Literal["balance", "position"]
    key: str
    """The asset (balance) or symbol (position)."""
    delta: Dec
    price: Dec | None = None
    """For a position: the price the contracts are booked at."""


class ReconciliationPayload(_Payload):
    """RECONCILIATION (kind ``reconciliation``): a comparison with the venue and its corrections."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.RECONCILIATION
    kind: Literal["reconciliation"] = "reconciliation"
    venue: str
    verdict: str
    adopted: bool
    """The venue's first reconciliation: its report was adopted as the starting books."""
    corrections: tuple[CorrectionEntry, ...] = ()
    mismatches: tuple[str, ...] = ()
    at_ns: int = Field(ge=0)


class FundingPayload(_Payload):
    """RECONCILIATION (kind ``funding``): one funding settlement, split per agent.

    Logged under RECONCILIATION because the record types are fixed on disk and
    funding is a cash movement the venue's ledger reports; ``payments`` are the
    agents' shares, ``total`` the venue's one payment (the rounding goes to the house).
    """

    RECORD_TYPE: ClassVar[RecordType] = RecordType.RECONCILIATION
    kind: Literal["funding"] = "funding"
    venue: str
    symbol: str
    asset: str
    rate: Dec
    mark_price: Dec
    funding_timestamp: int
    payments: dict[str, Dec]
    total: Dec
    at_ns: int = Field(ge=0)
