"""Queue position of our resting limits in the paper venue: who is ahead of us at our price.

The venue replays a recorded L2 book (amounts per price, not orders), so where our order
sits in the queue at its price is estimated, as hftbacktest does (its ``ProbQueueModel``,
after Rigtorp 2013, "Estimating order queue position", and the quant.stackexchange
question 3782). Only the mechanism is the same; this code is ours. Per order:

- **joining**: the order goes to the back. ``ahead`` = the book's amount at its price on
  its side when it rests, plus our own earlier orders resting at that price;
- **a trade at our price** (a sell hitting bids at a bid's price, a buy lifting asks at an
  ask's price) passes through the queue front: ``ahead -= amount``, and the trade amount
  is remembered (``traded``). What the trade has left once ``ahead`` is below zero fills
  us, in whole lots, at our price, as maker; ``ahead`` is then 0 (we are at the front);
- **a trade through our price** (strictly better for the aggressor than our price: a sell
  printing below a bid) means the whole level was taken: it fills us up to its amount
  whatever ``ahead`` was;
- **the level's amount changes** (a depth update at our price): the part of a decrease not
  already explained by the trades seen since the last update is cancellations. The model
  ``"power"`` splits a cancelled amount ``c`` between the front and the back of us with
  ``p = f(back) / (f(back) + f(front))``, ``f(x) = x ** power`` (hftbacktest's
  ``PowerProbQueueFunc``): ``ahead -= (1 - p) * c``, the rest is taken from behind us
  (and from the front too when there is not that much behind). The model
  ``"risk_averse"`` never moves us up on a cancellation. In both, ``ahead`` never
  exceeds the level's new amount, and an increase of the level (orders joining) is
  behind us;
- **a book without depth** (only the best bid and ask, e.g. a ticker feed): amounts away
  from the touch are unknown. An order resting off the touch has ``ahead = None``
  (unknown): prints at its price do not fill it until the level becomes the visible touch,
  and then everything shown there counts as ahead of us;
- **bars** (1-minute OHLCV data) show no queue at all: the venue fills a resting limit
  only when the bar trades *through* its price (the low strictly below a bid, the high
  strictly above an ask), never at it, up to ``bar_participation`` of the bar's volume.

The estimate is an expectation, not a draw: no randomness, so a replay is deterministic
and paper lockstep equals the backtest. Its one parameter (``power``) is a guess about
where cancellations come from; 3 (the default) takes most of a level's cancellations
from the larger side of us, which neither jumps a new order to the front nor pins an old
one at the back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pydantic import Field

from core.book import BookSide, OrderBook
from core.config import ConfigModel
from core.events import Level
from core.models import OrderStatus
from core.money import ZERO, decimal_from_float, quantize_to_step
from exchanges.paper.orders import OrderRecord, RestingOrders

QueueKind = Literal["power", "risk_averse"]


class QueueModelConfig(ConfigModel):
    """How the paper venue estimates the amount ahead of our resting limits (see this module)."""

    model: QueueKind = "power"
    """``"power"``: cancellations split by ``f(x) = x ** power`` of the amounts behind and
    ahead (hftbacktest's ``PowerProbQueueFunc``); ``"risk_averse"``: only trades at our
    price move us up."""
    power: float = Field(default=3.0, gt=0, le=100)


def cancelled_ahead(front: float, back: float, cancelled: float, power: float) -> float:
    """Return how much of ``cancelled`` left the queue ahead of us (front ``front``, back ``back``).

    ``p = back**n / (back**n + front**n)`` is the chance a cancelled unit was behind us;
    what is cancelled beyond the amount behind must have come from the front.
    """
    if cancelled <= 0:
        return 0.0
    if front <= 0:
        return 0.0
    if back <= 0:
        return min(cancelled, front)
    fb, ff = back**power, front**power
    p = fb / (fb + ff) if math.isfinite(fb + ff) and fb + ff > 0 else 1.0
    if not math.isfinite(fb):
        p = 1.0
    ahead = (1.0 - p) * cancelled
    overflow = cancelled * p - back
    if overflow > 0:
        ahead += overflow
    return min(ahead, front)


def on_depth(
    ahead: Decimal | None,
    traded: Decimal,
    previous: Decimal,
    new: Decimal,
    config: QueueModelConfig,
) -> Decimal | None:
    """Return the amount ahead after the level at our price went from ``previous`` to ``new``.

    ``traded`` is the amount printed at our price since the last depth update of the
    level (it already moved us; the caller resets it). ``None`` stays unknown.
    """
    if ahead is None:
        return None
    cancelled = previous - new - traded
    if cancelled <= 0 or config.model == "risk_averse" or ahead <= 0:
        return min(ahead, new)
    front = float(ahead)
    back = float(previous - ahead)
    moved = cancelled_ahead(front, back, float(cancelled), config.power)
    moved_d = decimal_from_float(moved, "queue") or ZERO
    return min(ahead - moved_d, new)


# -- THE VENUE'S BOOKKEEPING (our resting orders against the replayed book) ---------------


def join_ahead(
    order: OrderRecord, side: BookSide, same_side: list[OrderRecord], has_depth: bool
) -> Decimal | None:
    """Return the amount ahead of ``order`` as it joins its price level (at the back).

    ``side`` is the book side it rests on, ``same_side`` our orders already resting there.
    Without depth (a top-of-book-only book) a level off the touch is unknown (``None``).
    """
    price = order.price
    assert price is not None
    own = sum((o.remaining for o in same_side if o.price == price and o is not order), ZERO)
    visible = side.amount_at(price)
    if has_depth or visible > 0:
        return visible + own
    best = side.best()
    improves = best is not None and (price > best[0] if order.is_buy else price < best[0])
    return own if improves else None


def depth_touched(
    resting: RestingOrders,
    book: OrderBook,
    bids: Iterable[Level],
    asks: Iterable[Level],
    whole: bool,
) -> list[tuple[OrderRecord, Decimal]]:
    """Return our resting orders whose level an update will set, each with the level's amount now.

    Call before the update is applied; ``whole``: the update replaces the book (a snapshot,
    or a top-of-book-only book), so every level may change.
    """
    touched: list[tuple[OrderRecord, Decimal]] = []
    for orders, levels, side in ((resting.buys, bids, book.bids), (resting.sells, asks, book.asks)):
        if not orders:
            continue
        prices = None if whole else {price for price, _ in levels}
        for order in orders:
            assert order.price is not None
            if prices is None or order.price in prices:
                touched.append((order, side.amount_at(order.price)))
    return touched


def apply_depth(
    touched: list[tuple[OrderRecord, Decimal]],
    book: OrderBook,
    has_depth: bool,
    config: QueueModelConfig,
) -> None:
    """Move the queues of ``touched`` orders after the update (``depth_touched``) was applied.

    Without depth a level that is not the visible touch is unknown: hiding says nothing
    about the queue, and a level coming into view puts everything shown ahead of an order
    whose place was unknown.
    """
    for order, previous in touched:
        if order.status is not OrderStatus.OPEN:
            continue
        assert order.price is not None
        new = (book.bids if order.is_buy else book.asks).amount_at(order.price)
        if not has_depth:
            if new == 0:
                continue
            if previous == 0:
                ahead = order.queue_ahead
                order.queue_ahead = new if ahead is None else min(ahead, new)
                order.queue_traded = ZERO
                continue
        order.queue_ahead = on_depth(order.queue_ahead, order.queue_traded, previous, new, config)
        order.queue_traded = ZERO


def trade_at_price(order: OrderRecord, amount: Decimal, step: Decimal) -> Decimal:
    """Pass a print of ``amount`` at ``order``'s price through its queue; return what it may fill.

    The print moves the queue front (``queue_ahead -= amount``); what is left of it past
    the front may fill the order, in whole lots (``step``), up to its remaining amount.
    An order whose place is unknown fills nothing.
    """
    ahead = order.queue_ahead
    if ahead is None:
        return ZERO
    ahead -= amount
    order.queue_traded += amount
    if ahead >= 0:
        order.queue_ahead = ahead
        return ZERO
    order.queue_ahead = ZERO  # what went past us went to those behind, or to us
    return quantize_to_step(min(-ahead, order.remaining), step, "down")
