"""The gateway engine's configuration, decisions and snapshot: plain values, no behaviour.

A decision tells the actor what to do: which records to log (and commit)
before anything else, and then what to send. The engine never does either.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from core.clock import NS_PER_S
from core.errors import DeniedError, DuplicateClientOrderId, OrderNotFound, SwarmError
from core.models import Frozen, OrderRequest
from core.money import Dec
from gateway.breaker import BreakerConfig, BreakerState
from gateway.engine_errors import error_for_denial
from gateway.engine_records import WalRecord
from gateway.ledger import AgentView, VenueView
from gateway.orders import OrderState, OrderView
from risk.checks import Denial
from risk.reconcile import Reconciliation

FILL_LOOKBACK_MS = 60_000
"""How far behind the newest trade booked the fill cursor stays (late trade reports)."""


class EngineConfig(Frozen):
    """How the engine treats the venue; unknown keys are an error."""

    breaker: BreakerConfig = BreakerConfig()
    not_found_grace_ns: int = Field(default=15 * NS_PER_S, ge=0)
    """How long after its intent a "not found" only means "not visible yet"."""
    cash_step: Dec = Decimal("0.00000001")
    """Precision reservations, funding and released cost basis are booked at."""
    terminal_order_retention_ns: int | None = Field(default=None, gt=0)
    """The venue's query window: a terminal order leaves the order table this long after
    its last change, by the log's own time (None: never). Its idempotency key stays."""
    idempotency_retention_ns: int | None = Field(default=None, gt=0)
    """How long a retired order's idempotency key is kept after it left the table: as long
    as an agent could repeat its intent (None: for ever)."""
    trade_id_retention_ns: int | None = Field(default=None, gt=0)
    """How far behind a venue's newest booked trade the ids of older trades are kept (at
    least ``FILL_LOOKBACK_MS``: the fill cursor never asks for older ones); older trades
    are refused as possibly booked, and the perp history behind is folded (None: for ever)."""

    @property
    def trade_keep_ms(self) -> int | None:
        """The trade-id horizon in ms behind the newest trade (None: ids kept for ever)."""
        if self.trade_id_retention_ns is None:
            return None
        return max(self.trade_id_retention_ns // 1_000_000, FILL_LOOKBACK_MS)


# -- SUBMIT -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Log ``records`` and commit, apply them, then send ``request`` if ``claim_send`` agrees."""

    client_order_id: str
    venue: str
    request: OrderRequest
    records: tuple[WalRecord, ...]


@dataclass(frozen=True, slots=True)
class Existing:
    """The intent is known with the same parameters: here is its order; nothing to do."""

    order: OrderView


@dataclass(frozen=True, slots=True)
class Denied:
    """The order is refused; nothing was reserved or logged."""

    denial: Denial
    client_order_id: str | None = None

    def error(self) -> SwarmError:
        """Return the typed error a client should raise for this denial."""
        return error_for_denial(self.denial, self.client_order_id)


SubmitDecision = Send | Existing | Denied


@dataclass(frozen=True, slots=True)
class Batch:
    """The decisions of ``submit_many`` and all their records, for one commit and one round trip."""

    decisions: tuple[SubmitDecision, ...]
    records: tuple[WalRecord, ...]

    @property
    def sends(self) -> tuple[Send, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Send))


# -- CANCEL -------------------------------------------------------------------


class CancelAction(StrEnum):
    SEND = "send"
    """Log the records (if any), apply them, then send ``request``."""
    TOMBSTONE = "tombstone"
    """The intent is unknown: log the tombstone; its submit will be refused."""
    NOOP = "noop"
    """Nothing to do: the order is terminal, or already tombstoned."""
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """What to ask the venue: cancel this order (by client order id; venue id if known)."""

    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str | None


@dataclass(frozen=True, slots=True)
class CancelDecision:
    action: CancelAction
    client_order_id: str | None
    records: tuple[WalRecord, ...] = ()
    request: CancelRequest | None = None
    state: OrderState | None = None
    denial: Denial | None = None


# -- EVENTS -------------------------------------------------------------------


class EventOutcome(StrEnum):
    RECORD = "record"
    """Log and apply ``records``."""
    NOOP = "noop"
    """Nothing new (a stale or repeated fact)."""
    DUPLICATE = "duplicate"
    """A fill whose trade id is booked already."""
    UNKNOWN_ORDER = "unknown_order"
    """No such client order id."""
    CONTRADICTION = "contradiction"
    """The venue contradicts the gateway: ``records`` hold the breaker halt."""
    INVALID = "invalid"
    """The input itself is malformed; nothing to log."""


@dataclass(frozen=True, slots=True)
class EventDecision:
    outcome: EventOutcome
    records: tuple[WalRecord, ...] = ()
    detail: str = ""


class FailureKind(StrEnum):
    REJECTED = "rejected"
    """The venue refused the create: the order does not exist."""
    UNKNOWN = "unknown"
    """No answer we can trust: the order may exist."""


@dataclass(frozen=True, slots=True)
class ResultFailure:
    """A create that returned no order."""

    kind: FailureKind
    reason: str = ""


def failure_from_error(error: BaseException) -> ResultFailure:
    """Classify what a create raised: a refusal only when the venue surely placed nothing.

    A duplicate client order id means the venue has an order under our id, and
    "not found" is no answer to a create: both are UNKNOWN. Timeouts, lost
    answers, retryable errors, a dead actor (``RayActorError``) and anything
    unexpected are UNKNOWN too: resolved by asking the venue, never by resending.
    """
    if isinstance(error, DeniedError) and not isinstance(
        error, DuplicateClientOrderId | OrderNotFound
    ):
        return ResultFailure(FailureKind.REJECTED, f"{type(error).__name__}: {error}")
    return ResultFailure(FailureKind.UNKNOWN, f"{type(error).__name__}: {error}")


class CancelFailure(StrEnum):
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ReconcileDecision:
    result: Reconciliation
    records: tuple[WalRecord, ...]


class ResolveAction(StrEnum):
    QUERY = "query"
    """Ask the venue for the order by client order id, then ``on_order_status``."""
    CANCEL = "cancel"
    """Send the cancel again (cancels are idempotent; creates are never resent)."""


@dataclass(frozen=True, slots=True)
class UnresolvedOrder:
    client_order_id: str
    venue: str
    symbol: str
    venue_order_id: str | None
    state: OrderState
    action: ResolveAction


# -- SNAPSHOT -----------------------------------------------------------------


class EngineSnapshot(Frozen):
    """The engine's durable state, frozen: equal for a live run and a replay of its records.

    Volatile state is left out: drawdown peaks, the breaker's counters, the
    order-rate window and decisions not yet applied.
    """

    ready: bool
    breaker: BreakerState
    breaker_since_ns: int
    orders: tuple[OrderView, ...]
    tombstones: tuple[str, ...]
    agents: dict[str, AgentView]
    venues: dict[str, VenueView]
    reconciled_venues: tuple[str, ...]
    counters: dict[str, int]
    retired_orders: int = 0
    """Terminal orders dropped from ``orders`` after the retention; their keys are kept."""
    retired_by_agent: dict[str, tuple[int, int]] = Field(default_factory=dict)
    """Per agent, ``(orders, orders with a fill)`` among those retired orders."""
