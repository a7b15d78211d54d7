"""The pure planning of a download: spans, pagination cursors, gap checks, validation."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import InvalidValue, NotSupported, UnknownSymbol
from exchanges.ccxt.history import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MIN,
    Kind,
    NoProgress,
    Series,
    Span,
    advance,
    day_span,
    funding_intervals,
    grid_gaps,
    parse_utc,
    plan_fetch,
    plan_request,
    settled_end,
    timeframe_ms,
)

DAY1 = parse_utc("2024-08-01", "since")
DAY2 = DAY1 + MS_PER_DAY
OHLCV_1M = Series("binance", "BTC/USDT:USDT", Kind.OHLCV, "1m")
TRADES = Series("binance", "BTC/USDT:USDT", Kind.TRADES)
FUNDING = Series("binance", "BTC/USDT:USDT", Kind.FUNDING)
MARKETS = {"BTC/USDT:USDT": True, "BTC/USDT": False}


def test_plan_fetch_when_nothing_stored_then_whole_span_in_one_piece() -> None:
    wanted = Span(DAY1 + MS_PER_HOUR, DAY2 + MS_PER_HOUR)
    assert plan_fetch(wanted, {}) == [wanted]


def test_plan_fetch_when_first_day_partly_covered_then_rest_merged_across_days() -> None:
    covered = {date(2024, 8, 1): Span(DAY1, DAY1 + 6 * MS_PER_HOUR)}
    assert plan_fetch(Span(DAY1, DAY2 + MS_PER_DAY), covered) == [
        Span(DAY1 + 6 * MS_PER_HOUR, DAY2 + MS_PER_DAY)
    ]


def test_plan_fetch_when_every_day_covered_then_nothing_to_fetch() -> None:
    covered = {date(2024, 8, 1): day_span(date(2024, 8, 1)), date(2024, 8, 2): Span(DAY2, DAY2 + 1)}
    assert plan_fetch(Span(DAY1 + 5, DAY2 + 1), covered) == []


def test_plan_fetch_when_request_beyond_a_hole_then_hole_fetched_to_keep_coverage_contiguous() -> (
    None
):
    covered = {date(2024, 8, 1): Span(DAY1, DAY1 + MS_PER_HOUR)}
    wanted = Span(DAY1 + 5 * MS_PER_HOUR, DAY1 + 6 * MS_PER_HOUR)
    assert plan_fetch(wanted, covered) == [Span(DAY1 + MS_PER_HOUR, DAY1 + 6 * MS_PER_HOUR)]


def test_advance_when_page_short_then_window_exhausted() -> None:
    window = Span(DAY1, DAY1 + 10 * MS_PER_MIN)
    assert advance(OHLCV_1M, window, [DAY1, DAY1 + MS_PER_MIN], limit=10) == window.end_ms


def test_advance_when_page_full_then_after_last_candle() -> None:
    window = Span(DAY1, DAY1 + 10 * MS_PER_MIN)
    rows = [DAY1 + i * MS_PER_MIN for i in range(3)]
    assert advance(OHLCV_1M, window, rows, limit=3) == DAY1 + 3 * MS_PER_MIN


def test_advance_when_trades_page_full_then_at_last_trade_ms_to_refetch_its_peers() -> None:
    window = Span(DAY1, DAY1 + MS_PER_HOUR)
    assert advance(TRADES, window, [DAY1, DAY1 + 7, DAY1 + 9], limit=3) == DAY1 + 9


def test_advance_when_full_trades_page_all_at_window_start_then_no_progress_error() -> None:
    window = Span(DAY1, DAY1 + MS_PER_HOUR)
    with pytest.raises(NoProgress, match="limit=3"):
        advance(TRADES, window, [DAY1, DAY1, DAY1], limit=3)


def test_grid_gaps_when_rows_missing_inside_and_at_edges_then_each_reported() -> None:
    span = Span(DAY1, DAY1 + 10 * MS_PER_MIN)
    rows = [DAY1 + i * MS_PER_MIN for i in (2, 3, 6, 7)]
    gaps = [
        (g.span.start_ms - DAY1, g.span.end_ms - DAY1, g.missing)
        for g in grid_gaps(rows, MS_PER_MIN, span)
    ]
    m = MS_PER_MIN
    assert gaps == [(-m, 2 * m, 2), (3 * m, 6 * m, 2), (7 * m, 10 * m, 2)]


def test_grid_gaps_when_complete_then_none() -> None:
    rows = [DAY1 + i * MS_PER_MIN for i in range(10)]
    assert grid_gaps(rows, MS_PER_MIN, Span(DAY1, DAY1 + 10 * MS_PER_MIN)) == []


def test_funding_intervals_when_cadence_changes_then_read_from_spacing() -> None:
    prints = [0, 8 * MS_PER_HOUR, 16 * MS_PER_HOUR, 17 * MS_PER_HOUR, 18 * MS_PER_HOUR]
    assert funding_intervals(prints, None, default_hours=1) == [8, 8, 8, 1, 1]


def test_funding_intervals_when_hole_then_venue_default() -> None:
    prints = [0, 40 * MS_PER_HOUR]
    assert funding_intervals(prints, -8 * MS_PER_HOUR, default_hours=8) == [8, 8]
    assert funding_intervals([0], None, default_hours=4) == [4]


def test_settled_end_when_now_inside_a_candle_then_that_candle_left_out() -> None:
    now = DAY1 + 5 * MS_PER_MIN + 30_000
    assert settled_end(OHLCV_1M, Span(DAY1, DAY2), now) == Span(DAY1, DAY1 + 5 * MS_PER_MIN)
    assert settled_end(FUNDING, Span(DAY1, DAY2), now) == Span(DAY1, now)


def plan(**overrides: object) -> object:
    args: dict[str, object] = {
        "venue_name": "binance",
        "symbols": ["BTC/USDT:USDT"],
        "kinds": ["ohlcv", "funding"],
        "timeframe": "1m",
        "since_ms": DAY1,
        "until_ms": DAY2,
        "now_ms": DAY2 + MS_PER_DAY,
        "venue_timeframes": ["1m", "1h"],
        "markets": MARKETS,
    }
    args.update(overrides)
    return plan_request(**args)  # type: ignore[arg-type]


def test_plan_request_when_valid_then_one_series_per_symbol_and_kind() -> None:
    request = plan()
    assert [s.name for s in request.series] == ["ohlcv_1m", "funding"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "error", "field", "value"),
    [
        ({"venue_name": "kraken"}, InvalidValue, "venue", "kraken"),
        ({"kinds": ["candles"]}, InvalidValue, "kinds", "candles"),
        ({"timeframe": "7m"}, InvalidValue, "timeframe", "7m"),
        ({"symbols": ["DOGE/USDT:USDT"]}, UnknownSymbol, "symbol", "DOGE/USDT:USDT"),
        ({"symbols": ["BTC/USDT"]}, InvalidValue, "kinds", "funding"),
        ({"until_ms": DAY1}, InvalidValue, "until", "2024-08-01T00:00:00Z"),
        ({"now_ms": DAY1}, InvalidValue, "since", "2024-08-01T00:00:00Z"),
    ],
)
def test_plan_request_when_bad_field_then_typed_error_naming_field_and_value(
    overrides: dict[str, object], error: type[InvalidValue], field: str, value: str
) -> None:
    with pytest.raises(error) as caught:
        plan(**overrides)
    assert (caught.value.field, caught.value.value) == (field, value)
    assert field in str(caught.value) and value in str(caught.value)


def test_plan_request_when_kind_not_offered_by_venue_then_not_supported_naming_it() -> None:
    with pytest.raises(NotSupported, match=r"liquidations.*binance"):
        plan(kinds=["liquidations"])
    with pytest.raises(NotSupported, match="kinds='mark' on hyperliquid"):
        plan(venue_name="hyperliquid", kinds=["mark"])


def test_timeframe_ms_when_units_then_lengths() -> None:
    assert [timeframe_ms(t) for t in ("1s", "15m", "4h", "1d", "1w")] == [
        1000, 15 * MS_PER_MIN, 4 * MS_PER_HOUR, MS_PER_DAY, 7 * MS_PER_DAY
    ]  # fmt: skip
    with pytest.raises(InvalidValue, match="timeframe='0m'"):
        timeframe_ms("0m")
