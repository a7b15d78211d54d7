"""Binance raw captures: book rebuild on the real files, and every sync rule on crafted captures."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.book import OrderBook
from core.events import BookDelta, GapEvent, MarketEvent, TopOfBook, TradeTick
from exchanges.feeds.replay import ReplayFeed
from tests.conftest import DATA

BINANCE = DATA / "binance-2024-08-08" / "hftbacktest"
USDM_BTC = BINANCE / "usdm" / "btcusdt_20240808.gz"
SPOT_BTC = BINANCE / "spot" / "btcusdt_20240808.gz"
T0 = 1_723_161_255_000_000_000


# -- CRAFTED CAPTURES ---------------------------------------------------------


def write_capture(path: Path, records: Iterable[tuple[int, Any]]) -> Path:
    """Write ``<ns> <json>`` lines, gzip, as the hftbacktest collector does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        for ts, record in records:
            f.write(f"{ts} ".encode() + orjson.dumps(record) + b"\n")
    return path


def snapshot(lid: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {"lastUpdateId": lid, "E": 1, "T": 1, "bids": bids, "asks": asks}


def fut_diff(
    U: int, u: int, pu: int, b: list[list[str]] | None = None, a: list[list[str]] | None = None
) -> dict[str, Any]:
    data = {"e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": U, "u": u, "pu": pu}
    data |= {"b": b or [], "a": a or []}
    return {"stream": "btcusdt@depth@0ms", "data": data}


def spot_diff(
    U: int, u: int, b: list[list[str]] | None = None, a: list[list[str]] | None = None
) -> dict[str, Any]:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": U, "u": u, "b": b or [], "a": a or []}
    return {"stream": "btcusdt@depth@100ms", "data": data}


def book_ticker(b: str, bq: str, a: str, aq: str) -> dict[str, Any]:
    data = {"e": "bookTicker", "u": 1, "s": "BTCUSDT", "b": b, "B": bq, "a": a, "A": aq}
    return {"stream": "btcusdt@bookTicker", "data": data}


def trade(price: str, qty: str, maker: bool, trade_id: int = 7) -> dict[str, Any]:
    data = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSDT", "t": trade_id, "p": price, "q": qty}
    data |= {"X": "MARKET", "m": maker}
    return {"stream": "btcusdt@trade", "data": data}


BOOK = snapshot(100, [["10.0", "1"], ["9.9", "2"]], [["10.1", "1"], ["10.2", "3"]])


def stamped(*records: Any) -> list[tuple[int, Any]]:
    return [(T0 + i * 1_000_000, r) for i, r in enumerate(records)]


def replay(path: Path) -> tuple[ReplayFeed, list[MarketEvent]]:
    feed = ReplayFeed(path)
    return feed, list(feed)


def rebuild(events: Iterable[MarketEvent]) -> OrderBook | None:
    """Apply the emitted events as a consumer would: a gap discards the book."""
    book: OrderBook | None = None
    for event in events:
        if isinstance(event, BookDelta):
            if event.snapshot:
                book = OrderBook(event.venue, event.symbol)
            assert book is not None, "a delta arrived before any snapshot"
            book.apply(event.bids, event.asks, event.snapshot)
        elif isinstance(event, GapEvent):
            book = None
    return book


# -- SYNC RULES ---------------------------------------------------------------


def test_rebuild_when_futures_diff_breaks_chain_then_gap_and_resync(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(
            BOOK,
            fut_diff(95, 105, 90, b=[["10.0", "1.5"]]),  # straddles lastUpdateId 100
            fut_diff(106, 110, 105, a=[["10.1", "0"]]),
            fut_diff(115, 120, 112, b=[["9.0", "1"]]),  # pu 112 != 110: gap
            fut_diff(121, 125, 120, b=[["9.5", "4"]]),  # held until the next snapshot
            snapshot(123, [["10.0", "2"]], [["10.3", "1"]]),
            fut_diff(126, 130, 125, a=[["10.4", "1"]]),
        ),
    )
    feed, events = replay(path)
    kinds = [
        type(e).__name__ + (" snapshot" if getattr(e, "snapshot", False) else "") for e in events
    ]
    assert kinds == [
        "BookDelta snapshot",
        "BookDelta",
        "BookDelta",
        "GapEvent",
        "BookDelta snapshot",
        "BookDelta",
    ]
    gap = events[3]
    assert isinstance(gap, GapEvent)
    assert (gap.expected, gap.got, gap.symbol) == (110, 112, "BTC/USDT:USDT")
    resync = events[4]
    assert isinstance(resync, BookDelta)
    # The held diff straddling lastUpdateId 123 is folded into the resync snapshot.
    assert resync.sequence == 125
    assert resync.bids == ((D("10.0"), D("2")), (D("9.5"), D("4")))
    stats = feed.stats
    assert (stats.gaps, stats.books, stats.folded_into_snapshot, stats.skipped_stale) == (
        1,
        2,
        1,
        1,
    )
    assert stats.book_deltas == 5
    book = feed.book("binance", "BTC/USDT:USDT")
    assert book is not None and book.sequence == 130
    assert book.best_ask() == (D("10.3"), D("1"))


def test_rebuild_when_spot_diff_skips_an_update_id_then_gap(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "spot" / "btcusdt_20240808.gz",
        stamped(
            BOOK,
            spot_diff(99, 100, b=[["10.0", "9"]]),  # u <= lastUpdateId: stale
            spot_diff(101, 103, b=[["10.0", "3"]]),  # U <= lastUpdateId + 1 <= u
            spot_diff(104, 106, a=[["10.1", "0"]]),
            spot_diff(108, 110, a=[["10.2", "0"]]),  # U != 106 + 1
        ),
    )
    feed, events = replay(path)
    assert [type(e) for e in events] == [BookDelta, BookDelta, BookDelta, GapEvent]
    gap = events[-1]
    assert isinstance(gap, GapEvent)
    assert (gap.expected, gap.got, gap.symbol) == (107, 108, "BTC/USDT")
    assert feed.book("binance", "BTC/USDT") is None  # discarded, never guessed
    assert feed.stats.skipped_stale == 1
    assert feed.stats.skipped_unsynced == 1  # the diff that broke the chain, never resynced


def test_rebuild_folds_diffs_received_before_the_snapshot(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(
            fut_diff(80, 90, 70, b=[["9.8", "5"]]),  # older than the snapshot: stale
            fut_diff(91, 102, 90, b=[["9.9", "0"]]),  # straddles 100: applied into it
            BOOK,
            fut_diff(103, 104, 102, a=[["10.5", "1"]]),
        ),
    )
    feed, events = replay(path)
    assert [type(e) for e in events] == [BookDelta, BookDelta]
    first = events[0]
    assert isinstance(first, BookDelta) and first.snapshot and first.sequence == 102
    assert first.ts_ns == T0 + 2_000_000  # known when the snapshot arrived
    assert first.bids == ((D("10.0"), D("1")),)  # 9.9 deleted by the folded diff
    stats = feed.stats
    assert (stats.skipped_stale, stats.folded_into_snapshot, stats.gaps) == (1, 1, 0)
    book = rebuild(events)
    assert book is not None and book.best_ask() == (D("10.1"), D("1"))


def test_rebuild_when_first_diff_starts_after_snapshot_then_gap(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(BOOK, fut_diff(150, 160, 140)),
    )
    feed, events = replay(path)
    assert [type(e) for e in events] == [BookDelta, GapEvent]
    gap = events[1]
    assert isinstance(gap, GapEvent) and (gap.expected, gap.got) == (100, 150)
    assert feed.book("binance", "BTC/USDT:USDT") is None


def test_diffs_without_any_snapshot_are_counted_not_emitted(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(fut_diff(1, 2, 0), fut_diff(3, 4, 2), book_ticker("10", "1", "11", "2")),
    )
    feed, events = replay(path)
    assert [type(e) for e in events] == [TopOfBook]
    assert feed.stats.skipped_unsynced == 2
    assert feed.book("binance", "BTC/USDT:USDT") is None


def test_zero_amount_in_a_diff_deletes_the_level(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(BOOK, fut_diff(100, 101, 99, b=[["10.0", "0.000"]], a=[["10.1", "0"]])),
    )
    feed, events = replay(path)
    book = feed.book("binance", "BTC/USDT:USDT")
    assert book is not None
    assert book.best_bid() == (D("9.9"), D("2")) and book.best_ask() == (D("10.2"), D("3"))
    consumer = rebuild(events)
    assert consumer is not None and consumer.best_bid() == book.best_bid()


def test_snapshot_not_newer_than_the_synced_book_is_ignored(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(BOOK, fut_diff(100, 105, 99), snapshot(103, [["1", "1"]], [["2", "1"]])),
    )
    feed, events = replay(path)
    assert [type(e) for e in events] == [BookDelta, BookDelta]
    assert feed.stats.ignored == {"binance snapshot not newer than the synced book": 1}
    book = feed.book("binance", "BTC/USDT:USDT")
    assert book is not None and book.best_bid() == (D("10.0"), D("1"))


def test_trades_and_book_ticker_are_normalized(tmp_path: Path) -> None:
    non_market = trade("10", "1", True)
    non_market["data"]["X"] = "INSURANCE_FUND"
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(
            trade("10.05", "0.002", maker=True, trade_id=41),
            trade("10.06", "0.5", maker=False, trade_id=42),
            book_ticker("10.0", "1.5", "10.1", "2.25"),
            non_market,
        ),
    )
    feed, events = replay(path)
    sell, buy, top = events
    assert sell == TradeTick(T0, "binance", "BTC/USDT:USDT", D("10.05"), D("0.002"), "sell", "41")
    assert isinstance(buy, TradeTick) and buy.side == "buy"  # the buyer took the offer
    assert top == TopOfBook(
        T0 + 2_000_000, "binance", "BTC/USDT:USDT", D("10.0"), D("1.5"), D("10.1"), D("2.25")
    )
    assert feed.stats.ignored == {"binance trade X=INSURANCE_FUND (not a market trade)": 1}


def test_continuation_capture_keeps_the_chain_across_files(tmp_path: Path) -> None:
    write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(BOOK, fut_diff(100, 101, 99)),
    )
    write_capture(  # the next day's file: no snapshot, the chain goes on
        tmp_path / "usdm" / "btcusdt_20240809.gz",
        [(T0 + 10**9, fut_diff(102, 103, 101, b=[["9.7", "1"]]))],
    )
    feed, events = replay(tmp_path)
    assert [type(e) for e in events] == [BookDelta, BookDelta, BookDelta]
    assert feed.stats.gaps == 0
    assert [f.book_deltas for f in feed.stats.files] == [2, 1]


# -- THE REAL CAPTURES --------------------------------------------------------


@pytest.fixture(scope="module")
def usdm_btc() -> tuple[ReplayFeed, list[MarketEvent]]:
    feed = ReplayFeed(USDM_BTC)
    return feed, list(feed)


def _check_against_book_ticker(events: list[MarketEvent]) -> tuple[float, float]:
    """Rebuild as a consumer; never crossed; return (exact, within 5 bp) top-of-book matches."""
    book: OrderBook | None = None
    exact = close = compared = 0
    for event in events:
        if isinstance(event, BookDelta):
            if event.snapshot:
                book = OrderBook(event.venue, event.symbol)
            assert book is not None
            book.apply(event.bids, event.asks, event.snapshot)
            assert not book.is_crossed(), f"crossed book after update {event.sequence}"
        elif isinstance(event, TopOfBook) and book is not None:
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None
            compared += 1
            exact += bid[0] == event.bid and ask[0] == event.ask
            tolerance = (event.bid + event.ask) / 2 * D("0.0005")
            close += abs(bid[0] - event.bid) <= tolerance and abs(ask[0] - event.ask) <= tolerance
    assert compared > 10_000
    return exact / compared, close / compared


def test_real_usdm_capture_rebuilds_an_uncrossed_book_matching_book_ticker(
    usdm_btc: tuple[ReplayFeed, list[MarketEvent]],
) -> None:
    feed, events = usdm_btc
    # The depth stream and bookTicker are separate streams: at a bookTicker's
    # receive time the last depth batch may lag, so exact equality holds for
    # most samples, and the top stays within a few ticks nearly always.
    exact, close = _check_against_book_ticker(events)
    assert exact > 0.5 and close > 0.99
    book = feed.book("binance", "BTC/USDT:USDT")
    assert book is not None and not book.is_crossed() and len(book.bids) > 1000


def test_real_usdm_capture_counts_match_provenance(
    usdm_btc: tuple[ReplayFeed, list[MarketEvent]],
) -> None:
    feed, events = usdm_btc
    stats = feed.stats
    # PROVENANCE: 93954 lines = bookTicker 66089 + trade 21313 + depth 6551 + 1 snapshot.
    assert stats.messages == 93_954
    assert (stats.top_of_book, stats.trades, stats.books, stats.gaps) == (66_089, 21_313, 1, 0)
    applied = stats.book_deltas - stats.books
    assert applied + stats.folded_into_snapshot + stats.skipped_stale == 6_551
    assert stats.events == len(events) == 93_948
    assert all(a.ts_ns <= b.ts_ns for a, b in pairwise(events))


def test_real_spot_capture_rebuilds_with_the_spot_chain() -> None:
    feed = ReplayFeed(SPOT_BTC)
    events = list(feed)
    exact, close = _check_against_book_ticker(events)
    assert exact > 0.5 and close > 0.99
    stats = feed.stats
    # PROVENANCE: bookTicker 28040, trade 9757, depth@100ms 3451, 1 snapshot.
    assert (stats.top_of_book, stats.trades, stats.books, stats.gaps) == (28_040, 9_757, 1, 0)
    applied = stats.book_deltas - stats.books
    assert applied + stats.folded_into_snapshot + stats.skipped_stale == 3_451
