"""Property: whatever happens, the books balance and a refused order changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DeniedError
from core.events import Bar, BookDelta, FundingEvent, MarkEvent, TradeTick
from core.models import OrderRequest, OrderStatus
from exchanges.paper.venue import PaperVenue
from tests.unit.exchanges.paper.helpers import D, make_venue

SYMBOLS = ("BTC/USDT:USDT", "BTC/USDT", "ETH/USDT:USDT")
TICK = D("0.1")
# One unit is about 2 USDT of notional at the test prices (OKX swaps count contracts).
UNIT = {
    ("binance", "BTC/USDT:USDT"): D("0.02"),
    ("binance", "BTC/USDT"): D("0.02"),
    ("binance", "ETH/USDT:USDT"): D("0.02"),
    ("okx", "BTC/USDT:USDT"): D(2),
    ("okx", "BTC/USDT"): D("0.02"),
    ("okx", "ETH/USDT:USDT"): D("0.2"),
}

prices = st.integers(min_value=850, max_value=1150)  # in ticks: 85.0 .. 115.0
units = st.integers(min_value=1, max_value=2000)

actions = st.one_of(
    st.tuples(st.just("book"), st.sampled_from(SYMBOLS), prices, units),
    st.tuples(
        st.just("order"),
        st.sampled_from(SYMBOLS),
        st.sampled_from(["buy", "sell"]),
        st.sampled_from(["market", "limit"]),
        units,
        st.integers(min_value=-30, max_value=30),
        st.sampled_from(["GTC", "GTC", "IOC", "FOK", "PO"]),
        st.sampled_from([False, False, False, True]),  # reduce-only now and then
    ),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), prices, units),
    st.tuples(st.just("bar"), st.sampled_from(SYMBOLS), prices, prices, units),
    st.tuples(st.just("funding"), st.sampled_from(SYMBOLS), st.integers(-50, 50)),
    st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), prices),
)


def _mid(venue: PaperVenue, symbol: str) -> Decimal:
    book = venue.order_book(symbol)
    if book.bids and book.asks:
        return (book.bids[0][0] + book.asks[0][0]) / 2
    return D(100)


def _apply(venue: PaperVenue, action: tuple[Any, ...], ts_ns: int, step: int) -> None:
    name = venue.venue
    kind, symbol = action[0], action[1]
    lot = UNIT.get((name, symbol), D(1))
    if kind == "book":
        _, symbol, center, size = action
        c = center * TICK
        bids = tuple((c - i * TICK, size * lot * (i + 1)) for i in range(1, 6))
        asks = tuple((c + i * TICK, size * lot * (i + 1)) for i in range(1, 6))
        venue.on_market_event(BookDelta(ts_ns, name, symbol, bids, asks, snapshot=True))
    elif kind == "order":
        _, symbol, side, order_type, amount, offset, tif, reduce_only = action
        price = None
        if order_type == "limit":
            price = (_mid(venue, symbol) / TICK).to_integral_value() * TICK + offset * TICK
        request = OrderRequest(
            client_order_id=f"c{step}",
            symbol=symbol,
            side=side,
            type=order_type,
            amount=amount * lot,
            price=price if price is None or price > 0 else TICK,
            time_in_force=tif if order_type == "limit" else "GTC",
            reduce_only=reduce_only and symbol.endswith(":USDT"),
        )
        before = (venue.balances(), len(venue.ledger()), len(venue.open_orders()))
        try:
            venue.submit(request)
        except DeniedError:
            after = (venue.balances(), len(venue.ledger()), len(venue.open_orders()))
            assert after == before, "a refused order changed the account"
    elif kind == "cancel":
        open_orders = venue.open_orders()
        if open_orders:
            target = open_orders[action[1] % len(open_orders)]
            assert venue.cancel(target.symbol, id=target.id).status is OrderStatus.CANCELED
    elif kind == "trade":
        _, symbol, price, amount = action
        venue.on_market_event(TradeTick(ts_ns, name, symbol, price * TICK, amount * lot, "buy"))
    elif kind == "bar":
        _, symbol, a, b, volume = action
        low, high = min(a, b) * TICK, max(a, b) * TICK
        venue.on_market_event(Bar(ts_ns, name, symbol, low, high, low, high, volume * lot, 60))
    elif kind == "funding":
        _, symbol, rate = action
        venue.on_market_event(FundingEvent(ts_ns, name, symbol, D(rate) / 10_000, D(8)))
    elif kind == "mark":
        _, symbol, price = action
        venue.on_market_event(MarkEvent(ts_ns, name, symbol, price * TICK))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(["binance", "okx"]),
    model=st.booleans(),
    steps=st.lists(actions, min_size=1, max_size=60),
)
def test_conservation_when_random_sequence_then_ledger_equals_balances_exactly(
    name: str, model: bool, steps: list[tuple[Any, ...]]
) -> None:
    venue = make_venue(name, model=model, balances={"USDT": D(500), "BTC": D(1)}, leverage=D(20))
    for symbol in SYMBOLS:  # every market starts with a book around 100
        _apply(venue, ("book", symbol, 1000, 50), 1, 0)
    for step, action in enumerate(steps, start=1):
        _apply(venue, action, step * 60_000_000_000, step)
        problems = venue.check_conservation()
        assert problems == [], (step, action, problems)
    for asset, balance in venue.balances().assets.items():
        assert balance.total == sum(e.amount for e in venue.ledger() if e.asset == asset)
        assert balance.used >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["binance", "okx"]),
    side=st.sampled_from(["buy", "sell"]),
    path=st.lists(
        st.tuples(st.sampled_from(["book", "mark", "funding"]), prices, st.integers(-50, 50)),
        min_size=1,
        max_size=30,
    ),
)
def test_leveraged_position_when_price_wanders_then_never_left_below_maintenance(
    name: str, side: str, path: list[tuple[str, int, int]]
) -> None:
    symbol = "BTC/USDT:USDT"
    venue = make_venue(name, balances={"USDT": D(500)}, leverage=D(20))
    _apply(venue, ("book", symbol, 1000, 2000), 1, 0)
    amount = D(90) if name == "binance" else D(9000)  # 9000 USDT of notional: 18x
    venue.submit(
        OrderRequest(client_order_id="lev1", symbol=symbol, side=side, type="market", amount=amount)
    )
    for step, (kind, price, rate) in enumerate(path, start=1):
        ts_ns = step * 3_600_000_000_000
        if kind == "book":
            _apply(venue, ("book", symbol, price, 2000), ts_ns, step)
        elif kind == "mark":
            venue.on_market_event(MarkEvent(ts_ns, name, symbol, price * TICK))
        else:
            venue.on_market_event(FundingEvent(ts_ns, name, symbol, D(rate) / 1000, D(8)))
        assert venue.check_conservation() == []
        positions = venue.positions()
        if positions:
            (position,) = positions
            assert position.unrealized_pnl is not None and position.maintenance_margin is not None
            equity = venue.balances().assets["USDT"].total + position.unrealized_pnl
            assert equity >= position.maintenance_margin
        else:
            assert venue.stats()["own_liquidations"] == 1
            assert venue.balances().assets["USDT"].total >= 0
