"""Bybit v5 public websocket captures in cryptofeed's v2 replay format (``*.jsonl[.gz]``).

Each line is ``{"t", "conn", "ts", "addr", "data"}``: ``t`` is header, http,
connect, send or recv; ``ts`` is the local time in epoch seconds; ``data`` the
raw frame. The category of a connection (linear, spot, inverse) comes from the
address of its ``connect`` record. Connections are replayed as separate streams
and merged by time, because a capture converted from cryptofeed's v1 files holds
one connection after the other.

Topics: ``orderbook.<depth>.<SYM>`` (a snapshot, or ``u == 1``, resets the book;
a delta must carry ``u == previous u + 1``, otherwise a gap), ``publicTrade``,
``tickers`` (deltas carry only changed fields, so the last values are kept per
symbol), ``kline`` (a Bar once ``confirm`` is true), ``allLiquidation``. Event time
is the local receive time; a confirmed kline is known only when it arrives.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import orjson

from core.clock import NS_PER_MS
from core.errors import DataFormatError
from core.events import (
    Bar,
    BookDelta,
    GapEvent,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from exchanges.feeds.replay_base import (
    BadValue,
    Decimals,
    LevelBook,
    ReadContext,
    convert_levels,
    load_levels,
    signed_decimal,
    unified_symbol,
)
from exchanges.feeds.replay_gzip import (
    gzip_head,
    gzip_line_chunks,
)
from exchanges.feeds.replay_stats import (
    ReplayFile,
)

FORMAT = "cryptofeed_bybit_v5"
VENUE = "bybit"

_CATEGORIES = ("linear", "spot", "inverse")
_KLINE_S = {
    "1": 60,
    "3": 180,
    "5": 300,
    "15": 900,
    "30": 1800,
    "60": 3600,
    "120": 7200,
    "240": 14400,
    "360": 21600,
    "720": 43200,
    "D": 86400,
}
_MARK_FIELDS = ("markPrice", "indexPrice", "fundingRate", "nextFundingTime", "openInterest")
_BBO_FIELDS = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")
Side = Literal["buy", "sell"]
_SIDES: dict[str, Side] = {"Buy": "buy", "Sell": "sell"}
# allLiquidation's S is the side of the liquidated position; the forced order is opposite.
_LIQUIDATION_ORDER_SIDE: dict[str, Side] = {"Buy": "sell", "Sell": "buy"}
_STABLE = ("USDT", "USDC")

_BOOK, _TRADE, _TICKER, _KLINE, _LIQUIDATION, _SKIP = range(6)


def _read_header(line: bytes) -> dict[str, Any] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict) and record.get("t") == "header":
        return record
    return None


def sniff(head: bytes) -> bool:
    """Tell whether the first bytes are a cryptofeed v2 capture (a header record first)."""
    header = _read_header(head.split(b"\n", 1)[0])
    return header is not None and header.get("format") == 2


def _cryptofeed_symbol(name: str) -> str:
    parts = name.split("-")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3 and parts[2] == "PERP":
        base, quote = parts[0], parts[1]
        return f"{base}/{quote}:{quote if quote in _STABLE else base}"
    raise BadValue(f"unsupported cryptofeed symbol {name!r}")


def describe(path: Path) -> ReplayFile:
    """Describe a capture from its header record (exchange and subscribed symbols)."""
    if path.name.endswith(".gz"):
        head = gzip_head(path)
    else:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    header = _read_header(head.split(b"\n", 1)[0])
    if header is None:
        raise DataFormatError(path, "no cryptofeed header record on the first line", line=1)
    if header.get("exchange") != "BYBIT":
        raise DataFormatError(
            path, f"cryptofeed capture of {header.get('exchange')!r}: only BYBIT is supported"
        )
    config = header.get("config")
    names: set[str] = set()
    if isinstance(config, dict):
        for value in config.values():
            if isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
    try:
        symbols = tuple(sorted({_cryptofeed_symbol(n) for n in names}))
    except BadValue as e:
        raise DataFormatError(path, str(e), line=1) from None
    return ReplayFile(path, FORMAT, VENUE, symbols)


def _lines(path: Path) -> Iterator[list[bytes]]:
    if path.name.endswith(".gz"):
        yield from gzip_line_chunks(path)
    else:
        yield path.read_bytes().split(b"\n")


def _bybit_symbol(raw: str, category: str) -> str:
    if category == "linear" and raw.endswith("PERP") and raw.isalnum():
        return f"{raw[:-4]}/USDC:USDC"  # Bybit names its USDC perpetuals BTCPERP
    return unified_symbol(raw, category)


def _time_ns(ts: object) -> int:
    if type(ts) is not float and type(ts) is not int:
        raise BadValue(f"ts must be epoch seconds, got {ts!r}")
    if not 0 < ts < 1e10:
        raise BadValue(f"ts {ts!r} is not epoch seconds")
    # Captured to the microsecond; rounding there makes the float exact again.
    return round(ts * 1_000_000) * 1000


def _optional(text: object, parse: Any) -> Any:
    if text is None or text == "":
        return None
    return parse(text)


class _BookState:
    __slots__ = ("book", "last_u")

    def __init__(self) -> None:
        self.book: LevelBook | None = None
        self.last_u = 0


class CaptureReader:
    """Replay one cryptofeed Bybit capture: split by connection, parse, merge by time."""

    def __init__(self, file: ReplayFile, ctx: ReadContext) -> None:
        self.file = file
        self.ctx = ctx
        self.dec = Decimals()

    def read(self) -> Iterator[MarketEvent]:
        path = self.file.path
        c = self.ctx.counters
        categories: dict[str, str] = {}
        frames: dict[str, list[tuple[int, int, str]]] = {}
        lineno = 0
        for chunk in _lines(path):
            for line in chunk:
                lineno += 1
                if not line.strip():
                    continue
                c.messages += 1
                try:
                    record = orjson.loads(line)
                    kind = record["t"]
                    if kind == "recv":
                        conn = record["conn"]
                        if conn not in categories:
                            raise BadValue(f"recv on connection {conn!r} before its connect")
                        frames[conn].append((lineno, _time_ns(record["ts"]), record["data"]))
                    elif kind == "connect":
                        conn = record["conn"]
                        category = str(record["addr"]).rstrip("/").rsplit("/", 1)[-1]
                        categories[conn] = category
                        frames.setdefault(conn, [])
                    elif kind == "header" and lineno != 1:
                        raise BadValue("a header record after the first line")
                    elif kind not in ("header", "send", "http", "disconnect"):
                        raise BadValue(f"unknown record type t={kind!r}")
                    else:
                        c.ignore(f"cryptofeed {kind} record")
                except orjson.JSONDecodeError as e:
                    raise DataFormatError(path, f"not valid JSON: {e}", line=lineno) from None
                except KeyError as e:
                    raise DataFormatError(
                        path, f"missing field {e.args[0]!r}", line=lineno
                    ) from None
                except (BadValue, TypeError, AttributeError) as e:
                    raise DataFormatError(path, str(e), line=lineno) from None
        streams = [
            self._connection(conn, categories[conn], conn_frames)
            for conn, conn_frames in frames.items()
            if conn_frames
        ]
        yield from heapq.merge(*streams, key=attrgetter("ts_ns"))

    def _connection(
        self, conn: str, category: str, frames: list[tuple[int, int, str]]
    ) -> Iterator[MarketEvent]:
        path = self.file.path
        c = self.ctx.counters
        if category not in _CATEGORIES:
            c.ignore(f"bybit {category} connection frames", len(frames))
            return
        routes: dict[str, tuple[int, str, Any]] = {}
        books: dict[str, _BookState] = {}
        tickers: dict[str, dict[str, Any]] = {}
        last_ts = 0
        for lineno, ts, raw in frames:
            try:
                if ts < last_ts:
                    raise BadValue(f"receive time goes backwards on connection {conn}")
                last_ts = ts
                frame = orjson.loads(raw)
                topic = frame.get("topic")
                if topic is None:
                    if "op" in frame or "success" in frame:
                        c.ignore("bybit op reply")
                        continue
                    raise BadValue("a frame with neither topic nor op")
                route = routes.get(topic)
                if route is None:
                    route = routes[topic] = self._route(topic, category)
                kind, symbol, extra = route
                if kind == _BOOK:
                    state = books.get(symbol)
                    if state is None:
                        state = books[symbol] = _BookState()
                    yield from self._on_book(state, symbol, ts, frame)
                elif kind == _TRADE:
                    yield from self._on_trades(symbol, ts, frame["data"])
                elif kind == _TICKER:
                    yield from self._on_ticker(tickers, symbol, ts, frame, category)
                elif kind == _KLINE:
                    yield from self._on_kline(symbol, ts, frame["data"], extra)
                elif kind == _LIQUIDATION:
                    yield from self._on_liquidations(symbol, ts, frame["data"])
                else:
                    c.ignore(extra)
            except DataFormatError:
                raise
            except orjson.JSONDecodeError as e:
                raise DataFormatError(path, f"frame is not valid JSON: {e}", line=lineno) from None
            except KeyError as e:
                raise DataFormatError(path, f"missing field {e.args[0]!r}", line=lineno) from None
            except (BadValue, TypeError, ValueError, AttributeError) as e:
                raise DataFormatError(path, str(e), line=lineno) from None

    def _route(self, topic: str, category: str) -> tuple[int, str, Any]:
        parts = topic.split(".")
        channel = parts[0]
        if channel in ("orderbook", "kline") and len(parts) == 3:
            raw = parts[2]
        elif channel in ("publicTrade", "tickers", "allLiquidation") and len(parts) == 2:
            raw = parts[1]
        else:
            return _SKIP, "", f"bybit topic {channel}"
        symbol = _bybit_symbol(raw, category)
        accept = self.ctx.accept
        if accept is not None and not accept(symbol):
            return _SKIP, symbol, "filtered out by symbol"
        if channel == "orderbook":
            return _BOOK, symbol, None
        if channel == "publicTrade":
            return _TRADE, symbol, None
        if channel == "tickers":
            return _TICKER, symbol, None
        if channel == "kline":
            interval_s = _KLINE_S.get(parts[1])
            if interval_s is None:
                return _SKIP, symbol, f"bybit kline interval {parts[1]}"
            return _KLINE, symbol, interval_s
        return _LIQUIDATION, symbol, None

    # -- BOOK -----------------------------------------------------------------

    def _on_book(
        self, state: _BookState, symbol: str, ts: int, frame: dict[str, Any]
    ) -> list[MarketEvent]:
        c = self.ctx.counters
        data = frame["data"]
        kind = frame["type"]
        u = data["u"]
        if type(u) is not int:
            raise BadValue(f"field 'u' must be an integer, got {u!r}")
        if kind == "snapshot" or u == 1:  # u == 1: the service restarted; a full book
            fresh = LevelBook(VENUE, symbol)
            load_levels(fresh.bids, data["b"], self.dec)
            load_levels(fresh.asks, data["a"], self.dec)
            fresh.sequence = state.last_u = u
            fresh.ts_ns = ts
            state.book = fresh
            self.ctx.books[(VENUE, symbol)] = fresh
            c.book_deltas += 1
            c.books += 1
            return [fresh.snapshot_event(ts)]
        if kind != "delta":
            raise BadValue(f"unknown orderbook message type {kind!r}")
        book = state.book
        if book is None:
            convert_levels(data["b"], self.dec)
            convert_levels(data["a"], self.dec)
            c.skipped_unsynced += 1
            return []
        if u != state.last_u + 1:
            expected = state.last_u + 1
            state.book = None
            self.ctx.books.pop((VENUE, symbol), None)
            c.gaps += 1
            return [
                GapEvent(ts, VENUE, symbol, "bybit delta: u is not previous u + 1", expected, u)
            ]
        bids = convert_levels(data["b"], self.dec)
        asks = convert_levels(data["a"], self.dec)
        book.apply(bids, asks)
        book.sequence = state.last_u = u
        book.ts_ns = ts
        c.book_deltas += 1
        return [BookDelta(ts, VENUE, symbol, bids, asks, False, u)]

    # -- TRADES, TICKERS, KLINES, LIQUIDATIONS --------------------------------

    def _on_trades(self, symbol: str, ts: int, trades: list[Any]) -> list[MarketEvent]:
        c = self.ctx.counters
        out: list[MarketEvent] = []
        for trade in trades:
            amount = self.dec.amount(trade["v"])
            if not amount:
                raise BadValue("trade amount is 0")
            side = _SIDES.get(trade["S"])
            if side is None:
                raise BadValue(f"trade side must be Buy or Sell, got {trade['S']!r}")
            out.append(
                TradeTick(
                    ts, VENUE, symbol, self.dec.price(trade["p"]), amount, side, str(trade["i"])
                )
            )
        c.trades += len(out)
        return out

    def _on_ticker(
        self,
        tickers: dict[str, dict[str, Any]],
        symbol: str,
        ts: int,
        frame: dict[str, Any],
        category: str,
    ) -> list[MarketEvent]:
        c = self.ctx.counters
        if category == "spot":
            c.ignore("bybit spot ticker (no bid/ask or mark)")
            return []
        data = frame["data"]
        if not isinstance(data, dict):
            raise BadValue("ticker data must be an object")
        last = tickers.get(symbol)
        if frame["type"] == "snapshot":
            last = tickers[symbol] = dict(data)
        elif last is None:
            c.skipped_unsynced += 1  # a delta before any snapshot holds only changes
            return []
        else:
            last.update(data)
        out: list[MarketEvent] = []
        if any(name in data for name in _MARK_FIELDS):
            next_ms = _optional(last.get("nextFundingTime"), int)
            out.append(
                MarkEvent(
                    ts,
                    VENUE,
                    symbol,
                    _optional(last.get("markPrice"), self.dec.price),
                    _optional(last.get("indexPrice"), self.dec.price),
                    _optional(last.get("fundingRate"), signed_decimal),
                    None if next_ms is None else next_ms * NS_PER_MS,
                    _optional(last.get("openInterest"), self.dec.amount),
                )
            )
            c.marks += 1
        if any(name in data for name in _BBO_FIELDS):
            values: list[Any] = [last.get(name) for name in _BBO_FIELDS]
            if any(v is None or v == "" for v in values):
                c.ignore("bybit ticker without both sides")
            else:
                bid, bid_size, ask, ask_size = values
                out.append(
                    TopOfBook(
                        ts,
                        VENUE,
                        symbol,
                        self.dec.price(bid),
                        self.dec.amount(bid_size),
                        self.dec.price(ask),
                        self.dec.amount(ask_size),
                    )
                )
                c.top_of_book += 1
        if not out:
            c.ignore("bybit ticker delta without a mark or bid/ask change")
        return out

    def _on_kline(
        self, symbol: str, ts: int, candles: list[Any], interval_s: int
    ) -> list[MarketEvent]:
        c = self.ctx.counters
        out: list[MarketEvent] = []
        p = self.dec.price
        for candle in candles:
            if candle["confirm"] is not True:
                c.ignore("bybit kline not yet confirmed (bar still open)")
                continue
            o, h, lo, cl = (
                p(candle["open"]),
                p(candle["high"]),
                p(candle["low"]),
                p(candle["close"]),
            )
            if not lo <= min(o, cl) <= max(o, cl) <= h:
                raise BadValue(f"inconsistent kline: O={o} H={h} L={lo} C={cl}")
            volume: Decimal = self.dec.amount(candle["volume"])
            out.append(Bar(ts, VENUE, symbol, o, h, lo, cl, volume, interval_s))
        c.bars += len(out)
        return out

    def _on_liquidations(self, symbol: str, ts: int, items: list[Any]) -> list[MarketEvent]:
        c = self.ctx.counters
        out: list[MarketEvent] = []
        for item in items:
            side = _LIQUIDATION_ORDER_SIDE.get(item["S"])
            if side is None:
                raise BadValue(f"liquidation side must be Buy or Sell, got {item['S']!r}")
            amount = self.dec.amount(item["v"])
            if not amount:
                raise BadValue("liquidation size is 0")
            out.append(
                Liquidation(ts, VENUE, symbol, side, self.dec.price(item["p"]), amount, "recorded")
            )
        c.liquidations += len(out)
        return out
