"""ReplayFeed: discovery, the merged time order, filters, the time window, batches, stats."""

from __future__ import annotations

import gzip
import sys
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from core.errors import DataFormatError, InvalidValue
from core.events import BookDelta, FundingEvent, GapEvent, MarketEvent, TopOfBook, TradeTick
from exchanges.feeds.replay import ReplayFeed
from tests.conftest import DATA

USDM_BTC = DATA / "binance-2024-08-08" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"


def write_hyperliquid(path: Path, coin: str, times_ms: list[int]) -> Path:
    records = [
        {"coin": coin, "fundingRate": "0.0000125", "premium": "0", "time": t} for t in times_ms
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(records))
    return path


# -- DISCOVERY ----------------------------------------------------------------


def test_files_lists_every_format_of_the_embedded_data() -> None:
    files = ReplayFeed(DATA).files()
    formats = {f.format for f in files}
    assert formats == {
        "binance_capture",
        "lean_bars",
        "lean_funding",
        "cryptofeed_bybit_v5",
        "funding_parquet",
        "hyperliquid_funding",
    }
    capture = next(f for f in files if f.path == USDM_BTC)
    assert (capture.venue, capture.symbols, capture.market) == (
        "binance",
        ("BTC/USDT:USDT",),
        "linear",
    )
    assert all(f.selected for f in files)


def test_documentation_files_are_skipped_and_unknown_files_are_errors(tmp_path: Path) -> None:
    write_hyperliquid(tmp_path / "fundingHistory_BTC.json", "BTC", [1_000])
    for name in ("README.md", "notes.txt", "LICENSE", "SHA256SUMS", ".hidden"):
        (tmp_path / name).write_text("not data")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    assert [f.path.name for f in ReplayFeed(tmp_path).files()] == ["fundingHistory_BTC.json"]
    (tmp_path / "prices.bin").write_bytes(b"\x00\x01")
    with pytest.raises(DataFormatError, match=r"prices\.bin: unknown data file format"):
        ReplayFeed(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("stray.csv", b"1,2,3\n", "unknown CSV"),
        ("other.gz", gzip.compress(b"hello world\n"), "unknown gzip content"),
        ("list.json", b"[1, 2]", "unknown data file format"),
    ],
)
def test_unknown_content_names_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as info:
        ReplayFeed(tmp_path)
    assert info.value.path == str(tmp_path / name)


def test_empty_or_documentation_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no replayable data file"):
        ReplayFeed(tmp_path)
    (tmp_path / "README.md").write_text("# nothing")
    with pytest.raises(DataFormatError, match="no replayable data file"):
        ReplayFeed(tmp_path)
    with pytest.raises(DataFormatError, match="no such file"):
        ReplayFeed(tmp_path / "missing")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidValue):
        ReplayFeed(USDM_BTC, symbols="BTC/USDT:USDT")
    with pytest.raises(InvalidValue):
        ReplayFeed(USDM_BTC, start_ns=2, end_ns=1)
    with pytest.raises(InvalidValue):
        next(ReplayFeed(USDM_BTC).batches(0))


# -- MERGE AND FILTERS --------------------------------------------------------


def test_merged_stream_over_every_format_is_sorted_and_fully_counted() -> None:
    feed = ReplayFeed(DATA, symbols=["BTC"])
    events = list(feed)
    assert all(a.ts_ns <= b.ts_ns for a, b in pairwise(events))
    assert len(events) == feed.stats.events
    assert {e.symbol.split("/")[0] for e in events} == {"BTC"}
    kinds = {type(e).__name__ for e in events}
    assert {"BookDelta", "TopOfBook", "TradeTick", "Bar", "FundingEvent", "MarkEvent"} <= kinds
    assert sum(f.events for f in feed.stats.files) == len(events)


def test_equal_times_keep_file_order_then_record_order(tmp_path: Path) -> None:
    write_hyperliquid(tmp_path / "a" / "fundingHistory_ETH.json", "ETH", [1_000, 2_000])
    write_hyperliquid(tmp_path / "b" / "fundingHistory_BTC.json", "BTC", [1_000, 2_000])
    events = list(ReplayFeed(tmp_path))
    assert [(e.ts_ns // 1_000_000, e.symbol) for e in events] == [
        (1_000, "ETH/USDC:USDC"),
        (1_000, "BTC/USDC:USDC"),
        (2_000, "ETH/USDC:USDC"),
        (2_000, "BTC/USDC:USDC"),
    ]


def test_symbol_and_venue_filters_select_files_and_events() -> None:
    feed = ReplayFeed(DATA, symbols=["ETH/USDT:USDT"], venues=["bybit"])
    selected = [f for f in feed.files() if f.selected]
    assert {f.format for f in selected} == {"cryptofeed_bybit_v5", "funding_parquet"}
    events = list(feed)
    assert {(e.venue, e.symbol) for e in events} == {("bybit", "ETH/USDT:USDT")}
    assert len([e for e in events if isinstance(e, FundingEvent)]) == 1095
    unselected = [f for f in feed.files() if not f.selected]
    assert any(f.path == USDM_BTC for f in unselected)


def test_batches_concatenate_to_the_stream() -> None:
    feed = ReplayFeed(DATA / "bybit-btcusdt-2022-12-13")
    batches = list(feed.batches(1000))
    assert [len(b) for b in batches] == [1000, 1000, 1000, 345]
    flat = [e for batch in batches for e in batch]
    assert flat == list(feed)


def test_each_iteration_replays_from_the_start_with_fresh_stats() -> None:
    feed = ReplayFeed(DATA / "hyperliquid-funding-2023")
    first, second = list(feed), list(feed)
    assert first == second and feed.stats.events == 1038


# -- TIME WINDOW --------------------------------------------------------------


def test_window_sends_the_synced_book_at_start_and_stops_after_end() -> None:
    start, end = 1_723_161_400_000_000_000, 1_723_161_410_000_000_000
    feed = ReplayFeed(USDM_BTC, start_ns=start, end_ns=end)
    events = list(feed)
    assert all(start <= e.ts_ns <= end for e in events)
    first = events[0]
    assert isinstance(first, BookDelta) and first.snapshot and len(first.bids) > 1000
    stats = feed.stats
    assert stats.books == 1 and stats.outside_window > 30_000
    assert stats.events == len(events)
    # The window's book equals the full replay's book at the same update id.
    full_feed = ReplayFeed(USDM_BTC, end_ns=end)
    full = list(full_feed)
    deltas = [e for e in full if isinstance(e, BookDelta)]
    window_deltas = [e for e in events if isinstance(e, BookDelta)]
    assert window_deltas[-1].sequence == deltas[-1].sequence
    book, expected = (
        feed.book("binance", "BTC/USDT:USDT"),
        full_feed.book("binance", "BTC/USDT:USDT"),
    )
    assert book is not None and expected is not None
    assert list(book.bids) == list(expected.bids) and list(book.asks) == list(expected.asks)


# -- NORMALIZED RECORDINGS ----------------------------------------------------


def test_normalized_recordings_are_read_by_their_module(tmp_path: Path) -> None:
    normalized = pytest.importorskip("exchanges.feeds.normalized")
    events: list[MarketEvent] = [
        TopOfBook(5, "okx", "BTC/USDT", D("1"), D("2"), D("3"), D("4")),
        TradeTick(6, "okx", "BTC/USDT", D("2"), D("1"), "buy", "t1"),
        GapEvent(7, "paper", "ETH/USDT", "test"),
    ]
    normalized.write_events(tmp_path / "rec.swarm.parquet", events)
    feed = ReplayFeed(tmp_path, venues=["okx"])
    assert list(feed) == events[:2]
    assert feed.stats.ignored == {"filtered out by venue": 1}
    assert (feed.stats.top_of_book, feed.stats.trades, feed.stats.gaps) == (1, 1, 0)


def test_normalized_recording_without_its_reader_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rec.swarm.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "exchanges.feeds.normalized", None)
    feed = ReplayFeed(tmp_path)
    with pytest.raises(DataFormatError, match="reader is unavailable") as info:
        list(feed)
    assert info.value.path == str(path)


def test_window_over_several_captures_resends_each_book_once() -> None:
    start, end = 1_723_161_400_000_000_000, 1_723_161_401_000_000_000
    feed = ReplayFeed(DATA / "binance-2024-08-08", start_ns=start, end_ns=end)
    snapshots = [e for e in feed if isinstance(e, BookDelta) and e.snapshot]
    assert sorted(e.symbol for e in snapshots) == [
        "BTC/USDT",
        "BTC/USDT:USDT",
        "ETH/USDT",
        "ETH/USDT:USDT",
    ]
    assert all(e.ts_ns >= start for e in snapshots)
    assert feed.stats.books == 4
