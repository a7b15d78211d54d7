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
    entry_prices: tuple[Decimal, ...] = ()
    """Each leg's price when the unit was entered (or rebuilt): the margin stop's reference."""


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """Unwinds of one unit key: the cooldown, the daily cap and a persistent failure's cause."""

    day: int = 0
    """UTC day (``ts_ns // DAY``) ``today`` counts."""
    today: int = 0
    consecutive: int = 0
    """Unwinds with no successful open between them."""
    cooldown_until_ns: int = 0
    disabled_cause: str | None = None
    """Fingerprint of what the unit's venues looked like when it was disabled; None: enabled."""


@dataclass(frozen=True, slots=True)
class ExitNote:
    """One unit closed by a decide: when, which, why, and its expected carry then (%/yr)."""

    ts_ns: int
    unit: str
    reason: str
    carry_apr_pct: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the last decide saw of the candidates: the figures ``idle_reason`` reports."""

    candidates: int = 0
    """Candidate units the configuration allows."""
    tradable: int = 0
    """Of which had fresh prices and ready estimates."""
    best_unit: str | None = None
    best_carry_apr_pct: float | None = None
    """Expected carry of the best tradable candidate, %/yr of notional, before costs."""
    best_net_apr_pct: float | None = None
    """The same after its round-trip costs spread over the horizon."""
    entry_apr_pct: float = 0.0
    """The entry bar (``entry_margin`` over the horizon), %/yr."""
    blocked: tuple[tuple[str, int], ...] = ()
    """Why tradable-looking candidates were skipped, with counts (cooldown, disabled, ...)."""
    deployed_fraction: float = 0.0
    """Capital of the active units over the budget."""
    active_units: int = 0
    untradable: tuple[tuple[str, int], ...] = ()
    """Why candidates could not be entered (no_price, stale_price, estimate_not_ready, ...)."""
    seen_unit: str | None = None
    """The best candidate by expected carry among those with an estimate, tradable or not."""
    seen_carry_apr_pct: float | None = None


@dataclass(frozen=True, slots=True)
class FundingArbState:
    """What ``decide`` remembers between calls; positions are always re-read from the snapshot."""

    estimates: dict[MarketKey, RateEstimate] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    rebuilt: bool = False
    """False until units were restored from the snapshot's positions (a fresh start)."""
    counters: dict[str, int] = field(default_factory=dict)
    failures: dict[str, FailureRecord] = field(default_factory=dict)
    evaluation: Evaluation = Evaluation()
    exits: tuple[ExitNote, ...] = ()
    """The exits of the last decide only (a backtest collects them; the state stays small)."""
