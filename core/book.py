"""An L2 order book: price -> amount per side, with sorted prices for best-first walks.

Pure and shared: the replay feed rebuilds books with it, the paper venue matches
against it. Prices are Decimal; sorted lists are kept with ``bisect`` so the best
level is O(1) and an update is O(log n) search plus a short memmove.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from decimal import Decimal

from core.errors import InvalidValue
from core.events import Level

_ZERO = Decimal(0)


class BookSide:
    """One side of a book. ``descending`` for bids (best = highest)."""

    __slots__ = ("_levels", "_prices", "descending")

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self._levels: dict[Decimal, Decimal] = {}
        self._prices: list[Decimal] = []  # ascending

    def __len__(self) -> int:
        return len(self._prices)

    def clear(self) -> None:
        self._levels.clear()
        self._prices.clear()

    def set(self, price: Decimal, amount: Decimal) -> None:
        """Set the amount at ``price``; 0 removes the level."""
        levels = self._levels
        if amount == _ZERO:
            if levels.pop(price, None) is not None:
                prices = self._prices
                del prices[bisect_left(prices, price)]
            return
        if amount < _ZERO:
            raise InvalidValue("amount", amount, f"negative book amount at price {price}")
        if price not in levels:
            if price <= _ZERO:
                raise InvalidValue("price", price, "must be > 0")
            insort(self._prices, price)
        levels[price] = amount

    def best(self) -> Level | None:
        if not self._prices:
            return None
        price = self._prices[-1] if self.descending else self._prices[0]
        return price, self._levels[price]

    def amount_at(self, price: Decimal) -> Decimal:
        return self._levels.get(price, _ZERO)

    def levels(self, depth: int | None = None) -> list[Level]:
        """Best first, at most ``depth`` levels."""
        prices = self._prices
        n = len(prices) if depth is None else min(depth, len(prices))
        chosen = prices[len(prices) - n :][::-1] if self.descending else prices[:n]
        levels = self._levels
        return [(p, levels[p]) for p in chosen]

    def __iter__(self) -> Iterator[Level]:
        """Walk best first."""
        prices = reversed(self._prices) if self.descending else iter(self._prices)
        levels = self._levels
        for p in list(prices):
            yield p, levels[p]


class OrderBook:
    """Bids and asks of one symbol, with the sequence number of the last update applied."""

    __slots__ = ("asks", "bids", "sequence", "symbol", "ts_ns", "venue")

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids = BookSide(descending=True)
        self.asks = BookSide(descending=False)
        self.sequence: int | None = None
        self.ts_ns = 0

    def apply(self, bids: Iterable[Level], asks: Iterable[Level], snapshot: bool = False) -> None:
        """Apply levels (a snapshot replaces the book first)."""
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        set_bid = self.bids.set
        for price, amount in bids:
            set_bid(price, amount)
        set_ask = self.asks.set
        for price, amount in asks:
            set_ask(price, amount)

    def best_bid(self) -> Level | None:
        return self.bids.best()

    def best_ask(self) -> Level | None:
        return self.asks.best()

    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best(), self.asks.best()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid[0] >= ask[0]
