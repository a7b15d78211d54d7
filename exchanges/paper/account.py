"""The paper account: cash from the ledger, locks held by open orders, perp positions.

Cash moves only through ledger entries. A lock is not a cash movement: it marks part
of the cash as ``used`` by an open order (spot: the quote a buy may spend, the base a
sell will deliver; perps: the order's initial margin) and is released as the order
fills or ends. Margin is cross per settle asset: equity is cash plus the unrealized
P&L of the positions settled in it, less the value of the spot assets it owes.

Spot margin (where the venue config enables it): a spot sell beyond what is held takes
the base below zero, and a negative base balance is a loan. Its value at the spot price
is a liability of the quote asset's margin account, with an initial and a maintenance
margin like a perp's (``LoanTerms``); buying the base back repays it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.models import Balance, Balances
from core.money import ZERO
from exchanges.paper.ledger import Ledger, LedgerKind
from exchanges.paper.margin import PositionState, margin_totals
from exchanges.paper.rules import MarketRules


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """How one base asset may be borrowed: through which spot market, at what rate and margin."""

    base: str
    quote: str
    symbol: str
    """The spot market the loan is valued at and its interest is booked against."""
    rate_per_hour: Decimal
    leverage: Decimal
    maintenance_margin_rate: Decimal


class Account:
    """Cash, locks and positions of one venue account."""

    __slots__ = ("_default", "ledger", "leverage", "loan_terms", "locked", "positions")

    def __init__(self, default_leverage: Decimal) -> None:
        self.ledger = Ledger()
        self.locked: dict[str, Decimal] = {}
        self.positions: dict[str, PositionState] = {}
        self.leverage: dict[str, Decimal] = {}
        self.loan_terms: dict[str, LoanTerms] = {}
        """Base asset -> its terms; empty where spot margin is off."""
        self._default = default_leverage

    # -- SPOT LOANS -----------------------------------------------------------

    def owed(self, asset: str) -> Decimal:
        """Return how much of ``asset`` the account has borrowed (0 when its balance is >= 0)."""
        total = self.ledger.total(asset)
        return -total if total < 0 else ZERO

    def loans(self) -> dict[str, Decimal]:
        """Return every borrowed asset and the amount owed."""
        return {a: owed for a in self.loan_terms if (owed := self.owed(a)) > 0}

    def loan_margin(
        self, settle: str, prices: dict[str, Decimal]
    ) -> tuple[Decimal, Decimal, Decimal]:
        """Return (liability, initial margin, maintenance margin) of the loans valued in ``settle``.

        ``prices`` holds spot prices by symbol; a loan without one is valued at 0 (and the
        venue never lends without a price: see ``VenueCore._check_funds``).
        """
        value = im = mm = ZERO
        for base, terms in self.loan_terms.items():
            if terms.quote != settle:
                continue
            owed = self.owed(base)
            price = prices.get(terms.symbol)
            if not owed or price is None:
                continue
            worth = owed * price
            value += worth
            im += worth / terms.leverage
            mm += worth * terms.maintenance_margin_rate
        return value, im, mm

    # -- CASH AND LOCKS -------------------------------------------------------

    def cash(self, asset: str) -> Decimal:
        return self.ledger.total(asset)

    def free(self, asset: str) -> Decimal:
        return self.ledger.total(asset) - self.locked.get(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        if amount:
            self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        if amount:
            self.locked[asset] = self.locked.get(asset, ZERO) - amount

    def post(
        self,
        ts_ns: int,
        asset: str,
        amount: Decimal,
        kind: LedgerKind,
        symbol: str | None = None,
        ref: str | None = None,
    ) -> None:
        self.ledger.post(ts_ns, asset, amount, kind, symbol, ref)

    # -- POSITIONS ------------------------------------------------------------

    def leverage_of(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, self._default)

    def position(self, rules: MarketRules) -> PositionState:
        """Return ``rules``' position, creating a flat one on first use."""
        position = self.positions.get(rules.symbol)
        if position is None:
            position = PositionState(
                rules.symbol,
                rules.margin_asset,
                rules.contract_size,
                rules.maintenance_margin_rate,
                self.leverage_of(rules.symbol),
            )
            self.positions[rules.symbol] = position
        return position

    def has_open(self, settle: str) -> bool:
        """Tell whether any position margined in ``settle`` is open (allocates nothing)."""
        for position in self.positions.values():
            if position.contracts and position.settle == settle:
                return True
        return False

    def open_positions(self, settle: str | None = None) -> list[PositionState]:
        return [
            p
            for p in self.positions.values()
            if p.contracts and (settle is None or p.settle == settle)
        ]

    def margin(self, settle: str, marks: dict[str, Decimal]) -> tuple[Decimal, Decimal, Decimal]:
        """Return (equity, initial margin in use, maintenance margin) of ``settle``'s positions.

        Loans valued in ``settle`` count as a liability with their margins; ``marks`` holds
        the perps' marks and, where something is borrowed, the spot prices.
        """
        upnl, im, mm = margin_totals(self.positions.values(), marks, settle)
        equity = self.ledger.total(settle) + upnl
        if self.loan_terms:
            owed, loan_im, loan_mm = self.loan_margin(settle, marks)
            equity, im, mm = equity - owed, im + loan_im, mm + loan_mm
        return equity, im, mm

    def available(self, asset: str, marks: dict[str, Decimal]) -> Decimal:
        """Return what a new order may commit in ``asset``: equity minus margin and locks."""
        equity, im, _mm = self.margin(asset, marks)
        return equity - im - self.locked.get(asset, ZERO)

    # -- VIEWS ----------------------------------------------------------------

    def balances(self, venue: str, timestamp_ms: int | None) -> Balances:
        """Return cash per asset; ``used`` is order locks plus positions' initial margin at entry."""
        margin_used: dict[str, Decimal] = {}
        for position in self.positions.values():
            if position.contracts:
                margin_used[position.settle] = (
                    margin_used.get(position.settle, ZERO) + position.basis / position.leverage
                )
        assets: dict[str, Balance] = {}
        for asset in sorted(set(self.ledger.assets()) | set(self.locked)):
            total = self.ledger.total(asset)
            used = self.locked.get(asset, ZERO) + margin_used.get(asset, ZERO)
            assets[asset] = Balance.model_construct(
                currency=asset, free=total - used, used=used, total=total
            )
        return Balances.model_construct(venue=venue, timestamp=timestamp_ms, assets=assets)
