"""Pure matching helpers: walk a book side, take liquidity out of it, tell when prints cross.

``walk`` is the hot path of every market and marketable order. It reads the book side's
sorted price list and level dict in place: ``BookSide`` offers only allocating walks
(``levels`` builds a list, ``__iter__`` copies every price), and a market order that
touches three levels should not copy a thousand prices. The only objects it makes are
the (price, amount) pairs it returns, which become the fills.
"""

from __future__ import annotations

from decimal import Decimal

from core.book import BookSide
from core.events import Level
from core.money import ZERO, quantize_to_step


def walk(
    side: BookSide, amount: Decimal, limit: Decimal | None
) -> tuple[list[Level], Decimal, Decimal]:
    """Take up to ``amount`` from the best levels of ``side`` no worse than ``limit``.

    Return the levels taken best first as (price, amount), the total amount and the
    total of price * amount. The book is not changed (see ``consume``).
    """
    prices: list[Decimal] = side._prices  # ascending
    levels: dict[Decimal, Decimal] = side._levels
    taken: list[Level] = []
    left = amount
    value = ZERO
    n = len(prices)
    if side.descending:  # bids: a sell walks down from the highest
        i = n - 1
        while left and i >= 0:
            price = prices[i]
            if limit is not None and price < limit:
                break
            available = levels[price]
            take = available if available < left else left
            taken.append((price, take))
            value += price * take
            left -= take
            i -= 1
    else:  # asks: a buy walks up from the lowest
        i = 0
        while left and i < n:
            price = prices[i]
            if limit is not None and price > limit:
                break
            available = levels[price]
            take = available if available < left else left
            taken.append((price, take))
            value += price * take
            left -= take
            i += 1
    return taken, amount - left, value


def consume(side: BookSide, taken: list[Level]) -> None:
    """Remove the amounts in ``taken`` from ``side`` (a level taken whole disappears)."""
    for price, amount in taken:
        rest = side.amount_at(price) - amount
        side.set(price, rest if rest > ZERO else ZERO)


def would_take(side: BookSide, is_buy: bool, price: Decimal) -> bool:
    """Tell whether a limit at ``price`` crosses the best level of the opposite ``side``."""
    best = side.best()
    if best is None:
        return False
    return best[0] <= price if is_buy else best[0] >= price


def crossed_by_print(
    order_price: Decimal, is_buy: bool, print_price: Decimal, at_touch: bool
) -> bool:
    """Tell whether a print at ``print_price`` fills a resting limit at ``order_price``.

    Conservative by default: a buy fills only on a print strictly below its price (the
    queue ahead of it at its own price is assumed to absorb a print there); with
    ``at_touch`` a print at the price fills it too.
    """
    if is_buy:
        return print_price < order_price or (at_touch and print_price == order_price)
    return print_price > order_price or (at_touch and print_price == order_price)


def book_mid(bids: BookSide, asks: BookSide) -> Decimal | None:
    """Return the mid of the best levels, or the one side present, or None."""
    bid, ask = bids.best(), asks.best()
    if bid is not None and ask is not None:
        return (bid[0] + ask[0]) / 2
    if bid is not None:
        return bid[0]
    if ask is not None:
        return ask[0]
    return None


def levels_better_than(side: BookSide, price: Decimal) -> list[Level]:
    """Return ``(level, 0)`` for every level of ``side`` strictly better than ``price``.

    Better is higher for bids, lower for asks. Applied to the book, the result removes
    those levels (a fresher best price says they are gone).
    """
    prices: list[Decimal] = side._prices  # ascending
    out: list[Level] = []
    if side.descending:
        i = len(prices) - 1
        while i >= 0 and prices[i] > price:
            out.append((prices[i], ZERO))
            i -= 1
    else:
        i = 0
        while i < len(prices) and prices[i] < price:
            out.append((prices[i], ZERO))
            i += 1
    return out


def slipped(price: Decimal, sign: int, slippage: Decimal, tick: Decimal) -> Decimal:
    """Return a taker fill's ``price`` made worse by the fraction ``slippage``, on the tick.

    A buy (``sign`` > 0) pays more, a sell gets less; the tick rounds away from the taker.
    """
    moved = price * (1 + slippage) if sign > 0 else price * (1 - slippage)
    return quantize_to_step(moved, tick, "up" if sign > 0 else "down")
