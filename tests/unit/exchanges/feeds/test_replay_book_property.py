"""Property: replaying any chain of diffs gives the book a plain dict model gives."""

from __future__ import annotations

import gzip
import tempfile
from decimal import Decimal as D
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import OrderBook
from core.events import BookDelta
from exchanges.feeds.replay import ReplayFeed
from exchanges.feeds.replay_base import Decimals, LevelBook, convert_levels

PRICES = [f"{p / 10:.1f}" for p in range(900, 1100)]
AMOUNTS = ["0", "0.000", "0.001", "1", "2.50", "10"]

level = st.tuples(st.sampled_from(PRICES), st.sampled_from(AMOUNTS))
side = st.lists(level, max_size=8)
diffs = st.lists(st.tuples(side, side), max_size=40)


def model_apply(model: dict[D, D], levels: list[tuple[str, str]]) -> None:
    for price, amount in levels:
        if D(amount) == 0:
            model.pop(D(price), None)
        else:
            model[D(price)] = D(amount)


@settings(max_examples=60, deadline=None)
@given(diffs)
def test_level_book_matches_a_dict_model(chain: list[tuple[list[tuple[str, str]], ...]]) -> None:
    dec = Decimals()
    book = LevelBook("x", "X/Y")
    bids: dict[D, D] = {}
    asks: dict[D, D] = {}
    for bid_levels, ask_levels in chain:
        book.apply(convert_levels(bid_levels, dec), convert_levels(ask_levels, dec))
        model_apply(bids, bid_levels)
        model_apply(asks, ask_levels)
    book.prune()
    assert book.bids == bids and book.asks == asks
    order_book = book.to_order_book()
    assert list(order_book.bids) == sorted(bids.items(), reverse=True)
    assert list(order_book.asks) == sorted(asks.items())


@settings(max_examples=40, deadline=None)
@given(diffs)
def test_replayed_capture_events_rebuild_the_model_book(
    chain: list[tuple[list[tuple[str, str]], ...]],
) -> None:
    snapshot = {"lastUpdateId": 10, "bids": [["95.0", "1"]], "asks": [["105.0", "1"]]}
    lines = [b"1000 " + orjson.dumps(snapshot)]
    bids: dict[D, D] = {D("95.0"): D("1")}
    asks: dict[D, D] = {D("105.0"): D("1")}
    for i, (bid_levels, ask_levels) in enumerate(chain):
        data = {"e": "depthUpdate", "s": "BTCUSDT", "U": 10 + i, "u": 10 + i, "pu": 9 + i}
        data |= {"b": [list(x) for x in bid_levels], "a": [list(x) for x in ask_levels]}
        record = {"stream": "btcusdt@depth@0ms", "data": data}
        lines.append(f"{1001 + i} ".encode() + orjson.dumps(record))
        model_apply(bids, bid_levels)
        model_apply(asks, ask_levels)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usdm" / "btcusdt_20240808.gz"
        path.parent.mkdir()
        path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
        feed = ReplayFeed(path)
        consumer = OrderBook("binance", "BTC/USDT:USDT")
        for event in feed:
            assert isinstance(event, BookDelta)
            consumer.apply(event.bids, event.asks, event.snapshot)
        rebuilt = feed.book("binance", "BTC/USDT:USDT")
    assert feed.stats.gaps == 0 and feed.stats.book_deltas == len(chain) + 1
    assert rebuilt is not None
    for book in (consumer, rebuilt):
        assert list(book.bids) == sorted(bids.items(), reverse=True)
        assert list(book.asks) == sorted(asks.items())
