"""The values ``decide`` reads and returns: the snapshot it is handed and its own state.

Both are frozen; ``decide`` returns a new state rather than mutating the old one.
Quantities in positions are in each market's order units (contracts for a perp
with a contract size, base asset otherwise), signed: long > 0, short < 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from core.events import FundingEvent

MarketKey = tuple[str, str]
"""(venue, symbol)."""

UnitKind = Literal["spot_perp", "perp_perp", "orphan"]
UnitStatus = Literal["opening", "open", "closing"]


@dataclass(frozen=True, slots=True)
class Quote:
    """A market's price at ``ts_ns``; ``spread`` is the full bid-ask spread as a fraction."""

    venue: str
    symbol: str
    price: Decimal
    ts_ns: int
    spread: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionView:
    """The gateway's view of this agent's holding on one market (signed order units)."""

    venue: str
    symbol: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OpenOrderView:
    """One of this agent's orders the gateway still holds open."""

    intent_id: str
    venue: str
    symbol: str
    placed_ns: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything ``decide`` may look at: prices, new funding prints, positions, open orders."""

    ts_ns: int
    budget: Decimal
    quotes: tuple[Quote, ...] = ()
    funding: tuple[FundingEvent, ...] = ()
    positions: tuple[PositionView, ...] = ()
    open_orders: tuple[OpenOrderView, ...] = ()


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """Hourly funding rate estimators of one perpetual."""

    slow: Decimal
    fast: Decimal
    last: Decimal
    prints: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a unit: ``sign`` +1 is long, -1 short."""

    venue: str
    symbol: str
    sign: int

    @property
    def market(self) -> MarketKey:
        return (self.venue, self.symbol)


@dataclass(frozen=True, slots=True)
class Unit:
    """Two legs held as one delta-neutral position of ``size`` base units per leg."""

    key: str
    kind: UnitKind
    base: str
    legs: tuple[Leg, ...]
    size: Decimal
    status: UnitStatus
    entry_basis: Decimal = Decimal(0)
    hedge_attempts: int = 0
    opened_ns: int = 0


@dataclass(frozen=True, slots=True)
class FundingArbState:
    """What ``decide`` remembers between calls; positions are always re-read from the snapshot."""

    estimates: dict[MarketKey, RateEstimate] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    rebuilt: bool = False
    """False until units were restored from the snapshot's positions (a fresh start)."""
    counters: dict[str, int] = field(default_factory=dict)
