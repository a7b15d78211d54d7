"""Perpetual positions (one-way mode) and cross-margin arithmetic, in exact Decimal.

A position keeps its signed size in contracts and its cost basis: the sum of entry
price * contracts * contract size of what is still open. Closing part of it releases
the same share of the basis (rounded to the cash step; the rounding stays in the basis
and is released with the last contract), so the realized P&L over a position's life is
exactly what was received minus what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from core.money import ZERO


class PositionState:
    """One perpetual position; ``contracts`` > 0 is long, < 0 short."""

    __slots__ = ("basis", "contract_size", "contracts", "leverage", "mmr", "settle", "symbol")

    def __init__(
        self,
        symbol: str,
        settle: str,
        contract_size: Decimal,
        mmr: Decimal,
        leverage: Decimal,
    ) -> None:
        self.symbol = symbol
        self.settle = settle
        self.contract_size = contract_size
        self.mmr = mmr
        self.leverage = leverage
        self.contracts = ZERO
        self.basis = ZERO

    @property
    def is_open(self) -> bool:
        return self.contracts != ZERO

    @property
    def side_sign(self) -> int:
        return 1 if self.contracts > 0 else -1 if self.contracts < 0 else 0

    def size(self) -> Decimal:
        """Unsigned contracts."""
        return abs(self.contracts)

    def entry_price(self) -> Decimal | None:
        if not self.contracts:
            return None
        return self.basis / (abs(self.contracts) * self.contract_size)

    def notional(self, mark: Decimal) -> Decimal:
        return abs(self.contracts) * self.contract_size * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        if not self.contracts:
            return ZERO
        value = abs(self.contracts) * self.contract_size * mark
        return value - self.basis if self.contracts > 0 else self.basis - value

    def initial_margin(self, mark: Decimal) -> Decimal:
        return self.notional(mark) / self.leverage

    def maintenance_margin(self, mark: Decimal) -> Decimal:
        return self.notional(mark) * self.mmr

    def apply_fill(
        self, side_sign: int, amount: Decimal, price: Decimal, cash_step: Decimal
    ) -> Decimal:
        """Apply a fill of ``amount`` contracts at ``price``; return the realized P&L."""
        size = abs(self.contracts)
        cs = self.contract_size
        if not size or (self.contracts > 0) == (side_sign > 0):
            self.contracts += amount if side_sign > 0 else -amount
            self.basis += price * amount * cs
            return ZERO
        closing = amount if amount < size else size
        if closing == size:
            released = self.basis
        else:
            released = (self.basis * closing / size).quantize(cash_step, ROUND_HALF_EVEN)
        exit_value = price * closing * cs
        pnl = exit_value - released if self.contracts > 0 else released - exit_value
        self.basis -= released
        self.contracts += closing if side_sign > 0 else -closing
        opening = amount - closing
        if opening:
            self.contracts = opening if side_sign > 0 else -opening
            self.basis = price * opening * cs
        return pnl

    def opening_amount(self, side_sign: int, amount: Decimal) -> Decimal:
        """Return how much of an order of ``amount`` would add to exposure."""
        if not self.contracts or (self.contracts > 0) == (side_sign > 0):
            return amount
        size = abs(self.contracts)
        return amount - size if amount > size else ZERO


def cross_liquidation_price(
    position: PositionState, mark: Decimal, other_equity: Decimal
) -> Decimal | None:
    """Estimate the mark at which ``position`` alone moving puts the account at maintenance.

    ``other_equity`` is cash plus the other positions' unrealized P&L minus their
    maintenance margin, all at their current marks (cross margin).
    """
    q = abs(position.contracts) * position.contract_size
    if not q:
        return None
    if position.contracts > 0:
        price = (position.basis - other_equity) / (q * (1 - position.mmr))
    else:
        price = (other_equity + position.basis) / (q * (1 + position.mmr))
    return price if price > 0 else None


def margin_totals(
    positions: Iterable[PositionState], marks: dict[str, Decimal], settle: str | None = None
) -> tuple[Decimal, Decimal, Decimal]:
    """Return (unrealized P&L, initial margin, maintenance margin) of the open ``positions``.

    Only those margined in ``settle`` when it is given; each at its mark in ``marks``
    (its entry price when there is none).
    """
    upnl = im = mm = ZERO
    for position in positions:
        if not position.contracts or (settle is not None and position.settle != settle):
            continue
        mark = marks.get(position.symbol)
        if mark is None:
            entry = position.entry_price()
            if entry is None:
                continue
            mark = entry
        notional = abs(position.contracts) * position.contract_size * mark
        upnl += notional - position.basis if position.contracts > 0 else position.basis - notional
        im += notional / position.leverage
        mm += notional * position.mmr
    return upnl, im, mm
