"""The paper account's ledger: every change of cash is an entry, and the entries are the truth.

A balance is never set, only posted to: ``post`` appends an entry and moves the running
total by exactly its amount, so per asset ``sum(entries) == total`` holds in Decimal at
all times. ``verify`` recomputes the sums from scratch to prove it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from core.money import ZERO


class LedgerKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRADE = "trade"  # spot cash flow of a fill (quote out and base in, or the reverse)
    FEE = "fee"
    FUNDING = "funding"
    REALIZED_PNL = "realized_pnl"
    LIQUIDATION_FEE = "liquidation_fee"
    INSURANCE = "insurance"  # the venue's insurance fund covering a liquidated deficit
    INTEREST = "interest"  # hourly interest on a borrowed spot asset (spot margin)


class LedgerEntry(NamedTuple):
    """One cash movement. ``ref`` names its cause: a trade id, an order id or a funding time.

    A named tuple: immutable, and several times cheaper to make than a frozen dataclass,
    which matters at two or three entries per fill.
    """

    seq: int
    ts_ns: int
    asset: str
    amount: Decimal
    kind: LedgerKind
    symbol: str | None = None
    ref: str | None = None


class Ledger:
    """Append-only entries with a running total per asset."""

    __slots__ = ("_entries", "_totals")

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._totals: dict[str, Decimal] = {}

    def post(
        self,
        ts_ns: int,
        asset: str,
        amount: Decimal,
        kind: LedgerKind,
        symbol: str | None = None,
        ref: str | None = None,
    ) -> None:
        """Append an entry and move ``asset``'s total by ``amount`` (zero amounts are skipped)."""
        if not amount:
            return
        self._entries.append(
            LedgerEntry(len(self._entries) + 1, ts_ns, asset, amount, kind, symbol, ref)
        )
        totals = self._totals
        totals[asset] = totals.get(asset, ZERO) + amount

    def total(self, asset: str) -> Decimal:
        return self._totals.get(asset, ZERO)

    def assets(self) -> list[str]:
        return list(self._totals)

    def entries(self, asset: str | None = None) -> tuple[LedgerEntry, ...]:
        """Return the entries in order, optionally of one asset."""
        if asset is None:
            return tuple(self._entries)
        return tuple(e for e in self._entries if e.asset == asset)

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self) -> list[str]:
        """Recompute every asset's sum from the entries; return the mismatches."""
        sums: dict[str, Decimal] = {}
        problems: list[str] = []
        for i, entry in enumerate(self._entries, start=1):
            if entry.seq != i:
                problems.append(f"ledger entry {i} has seq {entry.seq}")
            sums[entry.asset] = sums.get(entry.asset, ZERO) + entry.amount
        for asset in sorted(set(sums) | set(self._totals)):
            recomputed, running = sums.get(asset, ZERO), self._totals.get(asset, ZERO)
            if recomputed != running:
                problems.append(
                    f"{asset}: entries sum to {recomputed} but the running total is {running}"
                )
        return problems
