"""HistoryDownloader over ccxt's REAL binance and hyperliquid classes, answered from recordings.

Only ccxt's ``fetch`` is stubbed (``recorded_venue.RecordedVenue``): every answer is
recorded rows cut to the request's window, except Binance's funding, built from its
documentation's example (see ``tests/fixtures/ccxt_history/README.md``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cli.download import client_config
from core.clock import SimulatedClock
from core.events import Bar, FundingEvent
from exchanges.ccxt.download import HistoryDownloader
from exchanges.ccxt.history import MS_PER_HOUR, Kind, Series, Span, parse_utc
from exchanges.ccxt.store import PartitionStore
from exchanges.feeds.replay import ReplayFeed
from tests.unit.exchanges.ccxt.recorded_venue import (
    Crash,
    RecordedVenue,
    binance_funding_doc_example,
    binance_klines,
    binance_window,
    client_factory,
    hyperliquid_funding_rows,
    hyperliquid_window,
)

NOW_NS = parse_utc("2025-01-01", "now") * 1_000_000
BTC_PERP = "BTC/USDT:USDT"
HL_BTC = "BTC/USDC:USDC"
SWAP_1M = "swap ohlcv"  # 3 recorded 1m candles from 2024-04-10T08:41Z
FIRST_CANDLE = 1712738460000


def binance(rows: list[Any] | None = None) -> RecordedVenue:
    stub = RecordedVenue("binance")
    klines = binance_klines(SWAP_1M) if rows is None else rows
    stub.serve("GET", "/fapi/v1/klines", klines, lambda r: int(r[0]), binance_window, page_cap=1500)
    funding = binance_funding_doc_example()
    stub.serve(
        "GET", "/fapi/v1/fundingRate", funding, lambda r: int(r["fundingTime"]), binance_window
    )
    return stub


def hyperliquid() -> RecordedVenue:
    stub = RecordedVenue("hyperliquid")
    rows = hyperliquid_funding_rows()
    stub.serve(
        "POST", "/info", rows, lambda r: int(r["time"]), hyperliquid_window,
        body_type="fundingHistory", page_cap=500,
    )  # fmt: skip
    return stub


def downloader(
    stub: RecordedVenue, out: Path, limits: dict[Kind, int] | None = None, flush_pages: int = 50
) -> HistoryDownloader:
    client = client_factory(stub)(stub.venue, client_config(stub.venue))
    return HistoryDownloader(
        client,
        PartitionStore(out),
        SimulatedClock(NOW_NS),
        page_limits=limits,
        flush_pages=flush_pages,
    )


async def run(stub: RecordedVenue, out: Path, series: Series, span: Span, **kw: Any) -> Any:
    loader = downloader(stub, out, **kw)
    try:
        return await loader.download(series, span)
    finally:
        await loader.client.close()


def span_of(start_ms: int, minutes: int) -> Span:
    return Span(start_ms, start_ms + minutes * 60_000)


# -- PAGINATION ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_download_when_limit_below_span_then_pages_through_every_window(
    tmp_path: Path,
) -> None:
    stub = binance()
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")

    result = await run(stub, tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})

    starts = [int(s.query["startTime"]) for s in stub.history_requests()]
    assert starts == [FIRST_CANDLE, FIRST_CANDLE + 60_000, FIRST_CANDLE + 120_000]
    assert all(s.query["limit"] == "1" for s in stub.history_requests())
    assert (result.rows, result.gaps) == (3, [])
    bars = [e for e in ReplayFeed(tmp_path) if isinstance(e, Bar)]
    recorded = binance_klines(SWAP_1M)
    assert [b.ts_ns // 1_000_000 for b in bars] == [int(r[0]) + 60_000 for r in recorded]
    assert [(b.open, b.close, b.volume) for b in bars] == [
        (Decimal(r[1]), Decimal(r[4]), Decimal(r[5])) for r in recorded
    ]
    assert {(b.venue, b.symbol, b.interval_s) for b in bars} == {("binance", BTC_PERP, 60)}


@pytest.mark.asyncio
async def test_download_when_page_full_then_next_request_starts_after_its_last_candle(
    tmp_path: Path,
) -> None:
    stub = binance()
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")

    await run(stub, tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 2})

    windows = [
        (int(s.query["startTime"]), int(s.query["endTime"])) for s in stub.history_requests()
    ]
    assert windows == [
        (FIRST_CANDLE, FIRST_CANDLE + 120_000 - 1),
        (FIRST_CANDLE + 120_000, FIRST_CANDLE + 180_000 - 1),
    ]


# -- IDEMPOTENT, RESUMABLE ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_download_when_rerun_over_covered_span_then_zero_requests(tmp_path: Path) -> None:
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")
    await run(binance(), tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})
    files = sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet"))

    again = binance()
    result = await run(again, tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})

    assert again.sent == []
    assert (result.requests, result.rows, result.fetched, result.gaps) == (0, 0, [], [])
    assert sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")) == files


@pytest.mark.asyncio
async def test_download_when_rerun_with_later_until_then_fetches_only_missing(
    tmp_path: Path,
) -> None:
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")
    await run(binance(), tmp_path, series, span_of(FIRST_CANDLE, 2), limits={Kind.OHLCV: 1})

    again = binance()
    result = await run(again, tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})

    assert [int(s.query["startTime"]) for s in again.history_requests()] == [FIRST_CANDLE + 120_000]
    assert result.rows == 1
    assert len([e for e in ReplayFeed(tmp_path) if isinstance(e, Bar)]) == 3


def hl_funding_span() -> Span:
    return Span(parse_utc("2023-05-12", "since"), parse_utc("2023-07-18", "until"))


@pytest.mark.asyncio
async def test_download_when_crash_mid_series_then_resume_refetches_only_missing_and_loses_nothing(
    tmp_path: Path,
) -> None:
    series = Series("hyperliquid", HL_BTC, Kind.FUNDING)
    span = hl_funding_span()
    whole = tmp_path / "whole"
    await run(hyperliquid(), whole, series, span, limits={Kind.FUNDING: 200})

    crashed = tmp_path / "crashed"
    stub = hyperliquid()
    stub.crash_at = 4  # the 4th page request dies
    with pytest.raises(Crash):
        await run(stub, crashed, series, span, limits={Kind.FUNDING: 200})
    written = [e for e in ReplayFeed(crashed) if isinstance(e, FundingEvent)]
    assert written, "pages before the crash were written"
    after_crash = max(e.ts_ns for e in written) // 1_000_000

    resumed = hyperliquid()
    await run(resumed, crashed, series, span, limits={Kind.FUNDING: 200})

    first_start = resumed.history_requests()[0].json["startTime"]
    assert after_crash < first_start <= span.start_ms + 3 * 200 * MS_PER_HOUR
    assert len(resumed.history_requests()) < len(stub.history_requests()) + 3
    full = [e for e in ReplayFeed(whole) if isinstance(e, FundingEvent)]
    again = [e for e in ReplayFeed(crashed) if isinstance(e, FundingEvent)]
    assert again == full
    assert len(full) == len(hyperliquid_funding_rows())


@pytest.mark.asyncio
async def test_download_when_crashed_during_partition_write_then_partial_file_ignored_and_removed(
    tmp_path: Path,
) -> None:
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")
    await run(binance(), tmp_path, series, span_of(FIRST_CANDLE, 2), limits={Kind.OHLCV: 1})
    (partition,) = tmp_path.rglob("*.swarm.parquet")
    leftover = partition.with_name(f".{partition.name}.123.deadbeef.tmp")
    leftover.write_bytes(b"PAR1 half a file")

    assert len([e for e in ReplayFeed(tmp_path) if isinstance(e, Bar)]) == 2
    await run(binance(), tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})
    assert not leftover.exists()
    assert len([e for e in ReplayFeed(tmp_path) if isinstance(e, Bar)]) == 3


# -- GAPS ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_download_when_venue_skips_a_candle_then_gap_reported(tmp_path: Path) -> None:
    rows = binance_klines(SWAP_1M)
    stub = binance([rows[0], rows[2]])
    series = Series("binance", BTC_PERP, Kind.OHLCV, "1m")

    result = await run(stub, tmp_path, series, span_of(FIRST_CANDLE, 3), limits={Kind.OHLCV: 1})

    assert [(g.span.start_ms, g.span.end_ms, g.missing) for g in result.gaps] == [
        (FIRST_CANDLE, FIRST_CANDLE + 120_000, 1)
    ]
    assert result.summary()["gaps"] == [
        "no rows in [2024-04-10T08:41:00Z, 2024-04-10T08:43:00Z) (about 1 missing)"
    ]


# -- FUNDING ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_download_when_hyperliquid_funding_then_every_recorded_print_with_its_interval(
    tmp_path: Path,
) -> None:
    stub = hyperliquid()
    series = Series("hyperliquid", HL_BTC, Kind.FUNDING)

    result = await run(stub, tmp_path, series, hl_funding_span())

    bodies = [s.json for s in stub.history_requests()]
    assert {(b["type"], b["coin"]) for b in bodies} == {("fundingHistory", "BTC")}
    assert len(bodies) == 4  # 66 days in windows of 500 hours
    prints = [e for e in ReplayFeed(tmp_path) if isinstance(e, FundingEvent)]
    recorded = hyperliquid_funding_rows()
    assert [(p.ts_ns // 1_000_000, p.rate) for p in prints] == [
        (r["time"], Decimal(r["fundingRate"])) for r in recorded
    ]
    # the first prints are 8 hours apart (8h rates), the later ones hourly
    assert (prints[0].interval_hours, prints[-1].interval_hours) == (Decimal(8), Decimal(1))
    assert (result.rows, result.requests) == (len(recorded), 4)
    # the recording lacks the print of 2023-07-02 20:00, and ends at 21:00 on its last day
    assert [str(g) for g in result.gaps] == [
        "no rows in [2023-07-02T19:00:00.235Z, 2023-07-02T21:00:00.180Z) (about 1 missing)",
        "no rows in [2023-07-17T21:00:00.065Z, 2023-07-18T00:00:00Z) (about 2 missing)",
    ]


@pytest.mark.asyncio
async def test_download_when_binance_funding_then_mark_price_kept(tmp_path: Path) -> None:
    stub = binance()
    series = Series("binance", BTC_PERP, Kind.FUNDING)
    span = Span(parse_utc("2019-10-09", "since"), parse_utc("2019-10-10", "until"))

    result = await run(stub, tmp_path, series, span)

    prints = [e for e in ReplayFeed(tmp_path) if isinstance(e, FundingEvent)]
    assert [(p.rate, p.mark_price, p.interval_hours) for p in prints] == [
        (Decimal("-0.0375"), Decimal("34287.54619963"), Decimal(8)),
        (Decimal("0.0001"), Decimal("34287.54619963"), Decimal(8)),
    ]
    # the example has no print at 00:00: one missing since the 8-hourly print before it
    assert [str(g) for g in result.gaps] == [
        "no rows in [2019-10-08T16:00:00Z, 2019-10-09T08:00:00Z) (about 1 missing)"
    ]
    assert result.requests == 1


@pytest.mark.asyncio
async def test_funding_backtest_when_reading_a_download_then_prints_are_its_input(
    tmp_path: Path,
) -> None:
    from agents.funding_arb.backtest import run_backtest

    span = hl_funding_span()
    await run(hyperliquid(), tmp_path, Series("hyperliquid", HL_BTC, Kind.FUNDING), span)

    report = run_backtest(tmp_path, ["BTC"], Decimal(100_000))

    assert "hyperliquid:BTC/USDC:USDC" in report["mean_funding_apr_pct"]


OTHER_VENUES = [
    # venue, fixture description, symbol, timeframe, path, first candle (ms), candles
    ("bybit", "swap ohlcv with since and limit", BTC_PERP, "1h", "/v5/market/kline", 1706630400000, 3),
    ("okx", "spot ohlcv with limit and since", "BTC/USDT", "1h", "candles", 1706630400000, 3),
    ("hyperliquid", "btc ohlcv", HL_BTC, "1m", "/info", 1710552360000, 2),
]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("venue", "description", "symbol", "tf", "path", "first", "n"), OTHER_VENUES
)
async def test_download_when_bybit_okx_hyperliquid_candles_then_recorded_answer_stored(
    tmp_path: Path,
    venue: str,
    description: str,
    symbol: str,
    tf: str,
    path: str,
    first: int,
    n: int,
) -> None:
    from tests.unit.exchanges.ccxt_stub import fixture_entry

    stub = RecordedVenue(venue)
    entry = fixture_entry(venue, "fetchOHLCV", description)
    stub.on("GET" if venue != "hyperliquid" else "POST", path, entry["httpResponse"])
    series = Series(venue, symbol, Kind.OHLCV, tf)
    step = series.step_ms
    assert step is not None

    result = await run(stub, tmp_path, series, Span(first, first + n * step))

    bars = [e for e in ReplayFeed(tmp_path) if isinstance(e, Bar)]
    closes = sorted(
        (
            int(c["t"]) if isinstance(c, dict) else int(c[0]),
            Decimal(c["c"] if isinstance(c, dict) else c[4]),
        )
        for c in (
            entry["httpResponse"]
            if venue == "hyperliquid"
            else entry["httpResponse"]
            .get("result", entry["httpResponse"])
            .get("list", entry["httpResponse"].get("data"))
        )
    )
    assert [(b.ts_ns // 1_000_000 - step, b.close) for b in bars] == closes[:n]
    assert (result.rows, result.requests, result.gaps) == (n, 1, [])
