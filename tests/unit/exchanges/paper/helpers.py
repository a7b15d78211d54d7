"""Small builders shared by the paper venue's tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.clock import SimulatedClock
from core.events import BookDelta, Level
from core.models import OrderRequest, OrderStatus
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig
from exchanges.paper.venue import PaperVenue

PERP = "BTC/USDT:USDT"
SPOT = "BTC/USDT"
HL_PERP = "BTC/USDC:USDC"


def D(value: str | int) -> Decimal:
    return Decimal(value)


def make_venue(
    venue: str = "binance",
    *,
    model: bool = False,
    balances: dict[str, Decimal] | None = None,
    seed: int = 1,
    clock: SimulatedClock | None = None,
    **settings: Any,
) -> PaperVenue:
    """Return a venue with the liquidation model off unless asked (it moves books)."""
    config = PaperVenueConfig(liquidation_model=LiquidationModelConfig(enabled=model), **settings)
    if balances is None:
        balances = {"USDT": D(1_000_000), "USDC": D(1_000_000), "BTC": D(10)}
    return PaperVenue(
        venue, clock or SimulatedClock(0), seed=seed, config=config, initial_balances=balances
    )


def levels(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    return tuple((D(p), D(a)) for p, a in pairs)


def snapshot(
    venue: str,
    symbol: str,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    ts_ns: int = 1_000_000,
) -> BookDelta:
    return BookDelta(ts_ns, venue, symbol, bids, asks, snapshot=True)


def standard_book(venue: str = "binance", symbol: str = PERP, ts_ns: int = 1_000_000) -> BookDelta:
    """Bids 100/99/98 and asks 101/102/103 with 1, 2 and 3 of size."""
    return snapshot(
        venue,
        symbol,
        levels(("100", "1"), ("99", "2"), ("98", "3")),
        levels(("101", "1"), ("102", "2"), ("103", "3")),
        ts_ns,
    )


def request(
    client_order_id: str,
    side: str,
    amount: str,
    price: str | None = None,
    *,
    symbol: str = PERP,
    type: str | None = None,
    **flags: Any,
) -> OrderRequest:
    order_type = type or ("market" if price is None else "limit")
    return OrderRequest(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        type=order_type,
        amount=D(amount),
        price=D(price) if price is not None else None,
        **flags,
    )


def state_of(venue: PaperVenue) -> tuple[object, ...]:
    """Everything a refused order must leave untouched."""
    return (
        venue.balances().assets,
        len(venue.ledger()),
        tuple(o.id for o in venue.open_orders()),
        tuple((p.symbol, p.contracts) for p in venue.positions()),
        venue.order_book(PERP) if PERP in venue.markets() else None,
    )


def is_terminal(status: OrderStatus) -> bool:
    return status is not OrderStatus.OPEN
