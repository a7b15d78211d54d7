"""QuantConnect Lean crypto files: minute trade and quote bars, and funding prints.

Layout (under any root)::

    {crypto|cryptofuture}/<venue>/minute/<pair>/<YYYYMMDD>_<pair>_minute_{trade|quote}[_perp].csv
    cryptofuture/<venue>/margin_interest/<pair>.csv

Bars have no header; the first column is milliseconds since midnight UTC of the
file's date. Trade bars: ``ms,open,high,low,close,volume``; quote bars:
``ms,bidO,bidH,bidL,bidC,lastBidSize,askO,askH,askL,askC,lastAskSize``. A bar is
known only when it closes, so its event time is its open time plus its length.
``margin_interest`` rows are ``YYYYMMDD HH:MM:SS,rate``: Lean's name for the
funding rate settled at that time (8-hourly on Bybit and Binance).

``crypto`` is spot (``BTC/USDT``); ``cryptofuture`` is a perpetual, linear for a
stablecoin quote (``BTC/USDT:USDT``) and inverse for USD (``BTC/USD:BTC``,
volumes in contracts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.clock import NS_PER_MS, NS_PER_S
from core.errors import DataFormatError
from core.events import Bar, FundingEvent, MarketEvent, TopOfBook
from exchanges.feeds.replay_base import (
    BadValue,
    Decimals,
    ReadContext,
    signed_decimal,
    unified_symbol,
)
from exchanges.feeds.replay_stats import (
    ReplayFile,
)

FORMAT_BARS = "lean_bars"
FORMAT_FUNDING = "lean_funding"

_BARS = re.compile(
    r"^(?P<date>\d{8})_(?P<pair>[a-z0-9]+)_(?P<res>minute|second)_(?P<kind>trade|quote)(?P<perp>_perp)?\.csv$"
)
_RESOLUTION_S = {"minute": 60, "second": 1}
_FUNDING_INTERVAL_HOURS = Decimal(8)
_LEAN_STABLE_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD")


def _market(security_type: str, pair: str) -> str:
    if security_type == "crypto":
        return "spot"
    return "linear" if pair.upper().endswith(_LEAN_STABLE_QUOTES) else "inverse"


def describe(path: Path) -> ReplayFile | None:
    """Describe a Lean crypto file from its path, or return None if it is not one."""
    parts = path.parts
    match = _BARS.match(path.name)
    if match and len(parts) >= 5:
        security_type, venue, resolution, pair_dir = parts[-5:-1]
        pair = match["pair"]
        if (
            security_type in ("crypto", "cryptofuture")
            and resolution == match["res"]
            and pair_dir == pair
            and bool(match["perp"]) == (security_type == "cryptofuture")
        ):
            market = _market(security_type, pair)
            return _file(path, FORMAT_BARS, venue, pair, market)
    if len(parts) >= 4 and parts[-2] == "margin_interest" and parts[-4] == "cryptofuture":
        pair = path.stem
        return _file(path, FORMAT_FUNDING, parts[-3], pair, _market("cryptofuture", pair))
    return None


def _file(path: Path, format: str, venue: str, pair: str, market: str) -> ReplayFile:
    try:
        symbol = unified_symbol(pair, market)
    except BadValue as e:
        raise DataFormatError(path, str(e)) from None
    return ReplayFile(path, format, venue, (symbol,), market=market)


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, comma-split fields) of a CSV without a header; blank last line ok."""
    try:
        text = path.read_text(encoding="ascii")
    except (UnicodeDecodeError, OSError) as e:
        raise DataFormatError(path, f"cannot read as text: {e}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        yield lineno, line.rstrip("\r").split(",")


def read_bars(file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
    """Yield a Bar per trade-bar row or a TopOfBook per quote-bar row."""
    path = file.path
    match = _BARS.match(path.name)
    assert match is not None
    symbol = file.symbols[0]
    if ctx.accept is not None and not ctx.accept(symbol):
        return
    c = ctx.counters
    interval_s = _RESOLUTION_S[match["res"]]
    try:
        day = datetime.strptime(match["date"], "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise DataFormatError(path, f"bad date in the file name: {match['date']}") from None
    midnight_ns = int(day.timestamp()) * NS_PER_S
    close_offset_ns = interval_s * NS_PER_S
    quote = match["kind"] == "quote"
    columns = 11 if quote else 6
    dec = Decimals()
    price, amount = dec.price, dec.amount
    venue = file.venue
    last_ms = -1
    for lineno, row in _rows(path):
        c.messages += 1
        try:
            if len(row) != columns:
                raise BadValue(f"expected {columns} columns, got {len(row)}")
            ms = int(row[0])
            if not 0 <= ms < 86_400_000 or ms <= last_ms:
                raise BadValue(f"bar time {ms} ms is out of the day or not after {last_ms}")
            last_ms = ms
            ts = midnight_ns + ms * NS_PER_MS + close_offset_ns
            if quote:
                if not row[4] or not row[9]:
                    # Lean leaves a side empty when it had no quote in the minute.
                    c.ignore("lean quote bar with an empty side")
                    continue
                bid, bid_size = price(row[4]), amount(row[5])
                ask, ask_size = price(row[9]), amount(row[10])
                c.top_of_book += 1
                yield TopOfBook(ts, venue, symbol, bid, bid_size, ask, ask_size)
            else:
                o, h, lo, cl = price(row[1]), price(row[2]), price(row[3]), price(row[4])
                if not lo <= min(o, cl) <= max(o, cl) <= h:
                    raise BadValue(f"inconsistent bar: O={o} H={h} L={lo} C={cl}")
                c.bars += 1
                yield Bar(ts, venue, symbol, o, h, lo, cl, amount(row[5]), interval_s)
        except (BadValue, ValueError) as e:
            raise DataFormatError(path, str(e), line=lineno) from None


def read_funding(file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
    """Yield a FundingEvent per ``margin_interest`` row (no mark price in this format)."""
    path = file.path
    symbol = file.symbols[0]
    if ctx.accept is not None and not ctx.accept(symbol):
        return
    c = ctx.counters
    last_ts = -1
    for lineno, row in _rows(path):
        c.messages += 1
        try:
            if len(row) != 2:
                raise BadValue(f"expected 2 columns (time,rate), got {len(row)}")
            stamp = row[0].strip()
            fmt = "%Y%m%d %H:%M:%S" if " " in stamp else "%Y%m%d"
            when = datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
            ts = int(when.timestamp()) * NS_PER_S
            if ts <= last_ts:
                raise BadValue(f"funding time {stamp} is not after the previous row")
            last_ts = ts
            rate = signed_decimal(row[1].strip())
        except (BadValue, ValueError) as e:
            raise DataFormatError(path, str(e), line=lineno) from None
        c.funding_events += 1
        yield FundingEvent(ts, file.venue, symbol, rate, _FUNDING_INTERVAL_HOURS, None)
