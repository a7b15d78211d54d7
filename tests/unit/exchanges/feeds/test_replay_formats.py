"""Each recorded format on the real embedded files, and the Bybit v5 book rules on crafted frames."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from core.book import OrderBook
from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    GapEvent,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from exchanges.feeds.replay import ReplayFeed
from tests.conftest import DATA

LEAN = DATA / "bybit-btcusdt-2022-12-13"
BYBIT_V5 = DATA / "bybit-v5-2026-08-09"
FUNDING = DATA / "funding-2025-2026"
HYPERLIQUID = DATA / "hyperliquid-funding-2023"


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def by_file(feed: ReplayFeed) -> dict[str, Any]:
    return {Path(f.path).name: f for f in feed.stats.files}


# -- LEAN ---------------------------------------------------------------------


def test_lean_bars_and_funding_match_provenance_row_counts() -> None:
    feed = ReplayFeed(LEAN)
    events = list(feed)
    files = by_file(feed)
    # PROVENANCE rows: spot trade 1440, spot quote 721, perp trade 721, perp quote 460, funding 3.
    assert files["20221213_btcusdt_minute_trade.csv"].bars == 1440
    assert files["20221213_btcusdt_minute_quote.csv"].top_of_book == 721
    assert files["20221213_btcusdt_minute_trade_perp.csv"].bars == 721
    assert files["20221213_btcusdt_minute_quote_perp.csv"].top_of_book == 460
    assert files["btcusdt.csv"].funding_events == 3
    assert feed.stats.events == len(events) == 3345
    assert {(e.venue, e.symbol) for e in events} == {
        ("bybit", "BTC/USDT"),
        ("bybit", "BTC/USDT:USDT"),
    }


def test_lean_bar_is_known_when_it_closes() -> None:
    feed = ReplayFeed(LEAN, symbols=["BTC/USDT"])
    bars = [e for e in feed if isinstance(e, Bar)]
    # First row: 0,17208.86,17212.99,17205,17205,1.549151 (the 00:00 minute).
    assert bars[0] == Bar(
        ns("2022-12-13T00:01:00"),
        "bybit",
        "BTC/USDT",
        D("17208.86"),
        D("17212.99"),
        D("17205"),
        D("17205"),
        D("1.549151"),
        60,
    )
    assert bars[-1].ts_ns == ns("2022-12-14T00:00:00")


def test_lean_quote_bar_gives_the_closing_top_of_book() -> None:
    feed = ReplayFeed(LEAN, symbols=["BTC/USDT:USDT"])
    tops = [e for e in feed if isinstance(e, TopOfBook)]
    # First row: 0,17193.5,17199,17193.5,17199,135.724,17194,17199.5,17194,17199.5,17.697
    assert tops[0] == TopOfBook(
        ns("2022-12-13T00:01:00"),
        "bybit",
        "BTC/USDT:USDT",
        D("17199"),
        D("135.724"),
        D("17199.5"),
        D("17.697"),
    )


def test_lean_funding_prints_are_eight_hourly_without_mark() -> None:
    feed = ReplayFeed(LEAN / "lean" / "cryptofuture" / "bybit" / "margin_interest")
    events = list(feed)
    assert events == [
        FundingEvent(ns("2022-12-13T00:00:00"), "bybit", "BTC/USDT:USDT", D("-0.0002016"), D(8)),
        FundingEvent(ns("2022-12-13T08:00:00"), "bybit", "BTC/USDT:USDT", D("-0.00022398"), D(8)),
        FundingEvent(ns("2022-12-13T16:00:00"), "bybit", "BTC/USDT:USDT", D("-0.00038555"), D(8)),
    ]


# -- FUNDING HISTORY ----------------------------------------------------------


def test_funding_parquet_btc_eth_counts_and_symbols() -> None:
    feed = ReplayFeed(FUNDING, symbols=["BTC", "ETH"])
    events = list(feed)
    counts = Counter((e.venue, e.symbol) for e in events)
    # PROVENANCE: 1095 rows per Binance/Bybit BTC/ETH market (8h), 8785 per Hyperliquid coin (1h).
    for venue in ("binance", "bybit"):
        for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDC:USDC", "ETH/USDC:USDC"):
            assert counts[(venue, symbol)] == 1095
    assert counts[("hyperliquid", "BTC/USDC:USDC")] == 8785
    assert counts[("hyperliquid", "ETH/USDC:USDC")] == 8785
    assert feed.stats.funding_events == len(events) == 26_330
    assert all(a.ts_ns <= b.ts_ns for a, b in pairwise(events))
    first = next(e for e in events if e.venue == "binance" and e.symbol == "BTC/USDT:USDT")
    assert isinstance(first, FundingEvent)
    assert first.interval_hours == 8 and first.mark_price is not None and first.mark_price > 0
    hyper = next(e for e in events if e.venue == "hyperliquid")
    assert (
        isinstance(hyper, FundingEvent) and hyper.interval_hours == 1 and hyper.mark_price is None
    )


def test_funding_parquet_files_describe_their_symbols() -> None:
    files = {f.venue: f for f in ReplayFeed(FUNDING).files()}
    assert set(files) == {"binance", "bybit", "hyperliquid"}
    assert len(files["binance"].symbols) == 36 and "BTC/USDC:USDC" in files["binance"].symbols
    assert "AAPL/USDT:USDT" in files["bybit"].symbols
    assert len(files["hyperliquid"].symbols) == 18


def test_funding_parquet_row_without_interval_is_counted_not_guessed() -> None:
    # The Bybit file holds one INJUSDT row whose interval_hours is NULL.
    feed = ReplayFeed(FUNDING / "venue=bybit", symbols=["INJ/USDT:USDT"])
    events = list(feed)
    stats = feed.stats
    assert stats.messages == 1244 and len(events) == 1243
    assert stats.skipped_invalid == 1
    (reason,) = stats.ignored
    assert "interval_hours" in reason


def _write_funding_parquet(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (venue VARCHAR, venue_symbol VARCHAR, canonical_symbol VARCHAR, "
        "settlement_ts TIMESTAMPTZ, rate_raw DOUBLE, interval_hours DOUBLE, rate_apr DOUBLE, "
        "is_predicted BOOLEAN, contract_type VARCHAR, mark_price DOUBLE)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def test_funding_parquet_predicted_rows_are_counted_and_left_out(tmp_path: Path) -> None:
    path = _write_funding_parquet(
        tmp_path / "f.parquet",
        [
            (
                "okx",
                "BTCUSD",
                "BTC-USD-PERP",
                "2026-01-01 00:00:00+00",
                1e-05,
                8.0,
                0.01,
                False,
                "inverse",
                90000.5,
            ),
            (
                "okx",
                "BTCUSD",
                "BTC-USD-PERP",
                "2026-01-01 08:00:00+00",
                2e-05,
                8.0,
                0.02,
                True,
                "inverse",
                None,
            ),
            (
                "okx",
                "BTCUSD",
                "BTC-USD-PERP",
                "2026-01-01 16:00:00+00",
                float("nan"),
                8.0,
                0.0,
                False,
                "inverse",
                None,
            ),
        ],
    )
    feed = ReplayFeed(path)
    events = list(feed)
    assert events == [
        FundingEvent(
            ns("2026-01-01T00:00:00"), "okx", "BTC/USD:BTC", D("0.00001"), D(8), D("90000.5")
        )
    ]
    assert (feed.stats.skipped_predicted, feed.stats.skipped_invalid) == (1, 1)


def test_hyperliquid_funding_history_is_hourly_usdc_perp() -> None:
    feed = ReplayFeed(HYPERLIQUID)
    events = list(feed)
    # PROVENANCE: 1038 rows; the first {"fundingRate":"-0.00061334","time":1683849600048}.
    assert len(events) == feed.stats.funding_events == 1038
    assert events[0] == FundingEvent(
        1_683_849_600_048_000_000, "hyperliquid", "BTC/USDC:USDC", D("-0.00061334"), D(1)
    )


# -- BYBIT V5 (cryptofeed capture) --------------------------------------------


@pytest.fixture(scope="module")
def bybit_real() -> tuple[ReplayFeed, list[MarketEvent]]:
    feed = ReplayFeed(BYBIT_V5)
    return feed, list(feed)


def test_bybit_capture_counts_match_the_frames(
    bybit_real: tuple[ReplayFeed, list[MarketEvent]],
) -> None:
    feed, events = bybit_real
    stats = feed.stats
    # 3256 lines: 6 orderbook snapshots + 2142 deltas, 120 trade frames holding 347
    # trades, 758 linear ticker frames, 6 confirmed klines (94 still open).
    assert stats.messages == 3256
    assert (stats.books, stats.book_deltas, stats.gaps) == (6, 2148, 0)
    assert (stats.trades, stats.bars, stats.marks, stats.top_of_book) == (347, 6, 156, 638)
    assert stats.ignored["bybit kline not yet confirmed (bar still open)"] == 94
    assert stats.events == len(events)
    assert all(a.ts_ns <= b.ts_ns for a, b in pairwise(events))
    symbols = {e.symbol for e in events}
    assert {"BTC/USDT:USDT", "SOL/USDT:USDT", "BTC/USDT", "ETH/USDT"} <= symbols


def test_bybit_capture_books_stay_uncrossed_and_marks_carry_funding(
    bybit_real: tuple[ReplayFeed, list[MarketEvent]],
) -> None:
    feed, events = bybit_real
    books: dict[str, OrderBook] = {}
    for event in events:
        if isinstance(event, BookDelta):
            if event.snapshot:
                books[event.symbol] = OrderBook(event.venue, event.symbol)
            books[event.symbol].apply(event.bids, event.asks, event.snapshot)
            assert not books[event.symbol].is_crossed()
    mark = next(e for e in events if isinstance(e, MarkEvent) and e.symbol == "BTC/USDT:USDT")
    assert mark.mark_price == D("65117.44") and mark.index_price == D("65137.76")
    assert mark.funding_rate == D("0.0001") and mark.open_interest == D("59891.732")
    assert mark.next_funding_ns == 1_786_320_000_000 * 10**6
    for symbol, book in books.items():
        rebuilt = feed.book("bybit", symbol)
        assert rebuilt is not None and rebuilt.best_bid() == book.best_bid()


def write_cryptofeed(path: Path, frames: list[dict[str, Any]], category: str = "linear") -> Path:
    conn = "BYBIT.ws.2"
    header = {
        "t": "header",
        "format": 2,
        "exchange": "BYBIT",
        "config": {"l2_book": ["BTC-USDT-PERP"]},
    }
    lines = [
        header,
        {"t": "connect", "conn": conn, "ts": 1.0, "addr": f"wss://x/v5/public/{category}"},
    ]
    for i, frame in enumerate(frames):
        lines.append(
            {
                "t": "recv",
                "conn": conn,
                "ts": 1786310819.5 + i / 1000,
                "data": orjson.dumps(frame).decode(),
            }
        )
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def book_frame(kind: str, u: int, b: list[list[str]], a: list[list[str]]) -> dict[str, Any]:
    return {
        "topic": "orderbook.200.BTCUSDT",
        "type": kind,
        "ts": 1,
        "data": {"s": "BTCUSDT", "b": b, "a": a, "u": u, "seq": 9},
    }


def test_bybit_delta_that_skips_an_update_id_is_a_gap_until_a_snapshot(tmp_path: Path) -> None:
    path = write_cryptofeed(
        tmp_path / "BYBIT.jsonl.gz",
        [
            book_frame("snapshot", 10, [["100", "1"]], [["101", "1"]]),
            book_frame("delta", 11, [["100", "2"]], []),
            book_frame("delta", 13, [["99", "1"]], []),  # 12 is missing
            book_frame("delta", 14, [["98", "1"]], []),  # unsynced: counted
            book_frame("delta", 1, [["90", "1"]], [["91", "1"]]),  # u == 1: a full book
            book_frame("delta", 2, [["90", "0"]], []),
        ],
    )
    feed = ReplayFeed(path)
    events = list(feed)
    assert [type(e) for e in events] == [BookDelta, BookDelta, GapEvent, BookDelta, BookDelta]
    gap = events[2]
    assert isinstance(gap, GapEvent) and (gap.expected, gap.got) == (12, 13)
    reset = events[3]
    assert isinstance(reset, BookDelta) and reset.snapshot and reset.sequence == 1
    assert feed.stats.skipped_unsynced == 1
    book = feed.book("bybit", "BTC/USDT:USDT")
    assert book is not None and book.best_bid() is None and book.best_ask() == (D("91"), D("1"))


def test_bybit_ticker_deltas_merge_into_the_last_snapshot(tmp_path: Path) -> None:
    snap = {
        "symbol": "BTCUSDT",
        "markPrice": "100.5",
        "indexPrice": "100.4",
        "fundingRate": "-0.0001",
        "nextFundingTime": "1786320000000",
        "openInterest": "12.5",
        "bid1Price": "100.1",
        "bid1Size": "3",
        "ask1Price": "100.2",
        "ask1Size": "4",
    }
    path = write_cryptofeed(
        tmp_path / "BYBIT.jsonl.gz",
        [
            {
                "topic": "tickers.BTCUSDT",
                "type": "delta",
                "data": {"symbol": "BTCUSDT", "markPrice": "1"},
            },
            {"topic": "tickers.BTCUSDT", "type": "snapshot", "data": snap},
            {
                "topic": "tickers.BTCUSDT",
                "type": "delta",
                "data": {"symbol": "BTCUSDT", "bid1Size": "5"},
            },
            {
                "topic": "tickers.BTCUSDT",
                "type": "delta",
                "data": {"symbol": "BTCUSDT", "markPrice": "100.6"},
            },
        ],
    )
    feed = ReplayFeed(path)
    events = list(feed)
    assert [type(e) for e in events] == [MarkEvent, TopOfBook, TopOfBook, MarkEvent]
    tob = events[2]
    assert isinstance(tob, TopOfBook) and (tob.bid, tob.bid_size, tob.ask_size) == (
        D("100.1"),
        D("5"),
        D("4"),
    )
    mark = events[3]
    assert isinstance(mark, MarkEvent)
    assert (mark.mark_price, mark.index_price, mark.funding_rate) == (
        D("100.6"),
        D("100.4"),
        D("-0.0001"),
    )
    assert feed.stats.skipped_unsynced == 1  # the delta before any snapshot


def test_bybit_liquidation_side_is_the_forced_order_side(tmp_path: Path) -> None:
    path = write_cryptofeed(
        tmp_path / "BYBIT.jsonl.gz",
        [
            {
                "topic": "allLiquidation.BTCUSDT",
                "type": "snapshot",
                "ts": 1,
                "data": [
                    {"T": 1, "s": "BTCUSDT", "S": "Buy", "v": "0.5", "p": "64000"},
                    {"T": 1, "s": "BTCUSDT", "S": "Sell", "v": "0.1", "p": "65000"},
                ],
            },
            {
                "topic": "publicTrade.BTCUSDT",
                "type": "snapshot",
                "data": [
                    {"T": 1, "s": "BTCUSDT", "S": "Sell", "v": "0.004", "p": "65114.20", "i": "a-1"}
                ],
            },
        ],
    )
    events: list[MarketEvent] = list(ReplayFeed(path))
    long_wiped, short_wiped, trade = events
    assert isinstance(long_wiped, Liquidation) and long_wiped.side == "sell"  # a long was sold off
    assert isinstance(short_wiped, Liquidation) and short_wiped.side == "buy"
    assert long_wiped.source == "recorded" and long_wiped.amount == D("0.5")
    assert trade == TradeTick(
        trade.ts_ns, "bybit", "BTC/USDT:USDT", D("65114.20"), D("0.004"), "sell", "a-1"
    )
