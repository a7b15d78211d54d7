"""Binance raw websocket captures (the hftbacktest collector): books rebuilt with sequence checks.

Each line is ``<local receive ns> <json>``: a combined-stream frame
(``{"stream": "btcusdt@depth@0ms", "data": {...}}``) or, once per sync, the REST
depth snapshot ``{"lastUpdateId", "bids", "asks"}``, which names no symbol and
belongs to the file's symbol (``btcusdt_20240808.gz``).

Book rules, as Binance documents them:

- futures (``@depth@0ms``, diffs carry ``pu``): a diff continues the book when its
  ``pu`` equals the previous diff's ``u``; after a snapshot, diffs with
  ``u < lastUpdateId`` are stale and the first applied one has
  ``U <= lastUpdateId <= u``;
- spot (``@depth@100ms``): ``U == previous u + 1``; stale when
  ``u < lastUpdateId + 1``; the first applied has ``U <= lastUpdateId + 1 <= u``.

The capture holds diffs received *before* the snapshot's response; the one
that straddles ``lastUpdateId`` is among them, so diffs are held until a
snapshot arrives and then folded into the snapshot event. A broken chain emits
a ``GapEvent``, discards the book and waits for the next snapshot; nothing is
guessed. Event time is the local receive time, which is monotonic in a file.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from core.errors import DataFormatError, ExchangeProtocolError
from core.events import BookDelta, GapEvent, Level, Liquidation, MarketEvent
from exchanges.feeds.liquidations import binance_force_order
from exchanges.feeds.replay_base import (
    BadValue,
    Decimals,
    LevelBook,
    ReadContext,
    convert_levels,
    load_levels,
    make_top_of_book,
    make_trade,
    unified_symbol,
)
from exchanges.feeds.replay_gzip import (
    gzip_line_chunks,
)
from exchanges.feeds.replay_stats import (
    FileCounters,
    ReplayFile,
)

FORMAT = "binance_capture"
VENUE = "binance"

_LINE = re.compile(rb"^\d+ \{")
_NAME = re.compile(r"^(?P<symbol>[a-z0-9_]+?)_(?P<date>\d{8})\.gz$", re.IGNORECASE)
_MARKET_DIRS = {"usdm": "linear", "spot": "spot", "cm": "inverse"}
_DIFF_STREAMS = frozenset({"depth", "depth@0ms", "depth@100ms", "depth@250ms", "depth@500ms"})
_BUFFER_LIMIT = 100_000  # diffs held while unsynced; older ones are counted and dropped

_DEPTH, _TICKER, _TRADE, _SKIP, _IGNORE, _LIQUIDATION = range(6)


def sniff(head: bytes) -> bool:
    """Tell whether decompressed bytes look like a ``<ns> <json>`` capture."""
    return _LINE.match(head) is not None


def describe(path: Path, head: bytes) -> ReplayFile:
    """Describe a capture from its path (``usdm/btcusdt_20240808.gz``) and first bytes."""
    market = next((_MARKET_DIRS[p] for p in reversed(path.parts) if p in _MARKET_DIRS), "")
    raw_symbol = ""
    match = _NAME.match(path.name)
    if match:
        raw_symbol = match["symbol"].upper()
    lines = head.split(b"\n")[:-1] or head.split(b"\n")
    for line in lines:
        try:
            msg = orjson.loads(line[line.index(b" ") + 1 :])
        except (ValueError, orjson.JSONDecodeError):
            continue
        data = msg.get("data") if isinstance(msg, dict) else None
        if not isinstance(data, dict) or data.get("e") != "depthUpdate":
            continue
        raw_symbol = raw_symbol or str(data.get("s", "")).upper()
        if not market:
            if "pu" not in data:
                market = "spot"
            elif raw_symbol.endswith("_PERP") or "USD_" in raw_symbol:
                market = "inverse"
            else:
                market = "linear"
        break
    if not raw_symbol or not market:
        raise DataFormatError(
            path,
            "cannot tell the symbol or market of this Binance capture: name it "
            "<symbol>_<YYYYMMDD>.gz under usdm/, spot/ or cm/",
        )
    try:
        symbol = unified_symbol(raw_symbol, market)
    except BadValue as e:
        raise DataFormatError(path, str(e)) from None
    first_ns = int(head[: head.index(b" ")])
    return ReplayFile(path, FORMAT, VENUE, (symbol,), market=market, first_ns=first_ns)


class _Diff:
    """A depth diff held until a snapshot can be applied under it."""

    __slots__ = ("U", "asks", "bids", "counters", "pu", "ts", "u")

    def __init__(
        self,
        ts: int,
        U: int,
        u: int,
        pu: int | None,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        counters: FileCounters,
    ) -> None:
        self.ts = ts
        self.U = U
        self.u = u
        self.pu = pu
        self.bids = bids
        self.asks = asks
        self.counters = counters


class _DepthState:
    """Sync state of one symbol's book: unsynced, snapshot loaded, or synced."""

    __slots__ = ("book", "buffer", "futures", "last_u", "lid", "symbol")

    def __init__(self, symbol: str, futures: bool) -> None:
        self.symbol = symbol
        self.futures = futures
        self.book: LevelBook | None = None
        self.lid: int | None = None  # lastUpdateId of the loaded snapshot
        self.last_u: int | None = None  # u of the last applied diff; None until synced
        self.buffer: deque[_Diff] = deque()


def _force_order(ts: int, symbol: str, data: dict[str, Any]) -> Liquidation | None:
    """Return a ``forceOrder`` snapshot as a recorded liquidation at the receive time.

    Binance pushes only the latest liquidation order of each 1000 ms per symbol: a
    replayed stream is a sample of the flow (the hunter's detector treats it so).
    """
    order = data.get("o")
    if not isinstance(order, dict):
        raise BadValue(f"forceOrder without an order object: {data!r:.80}")
    try:
        event = binance_force_order(VENUE, symbol, order, now_ns=ts)
    except ExchangeProtocolError as e:
        raise BadValue(str(e)) from None
    if event is None:
        return None
    return Liquidation(ts, VENUE, symbol, event.side, event.price, event.amount, "recorded")


def _int_field(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if type(value) is not int:
        raise BadValue(f"field {name!r} must be an integer, got {value!r}")
    return value


class CaptureReader:
    """Read one or more captures of the same books in time order, keeping the sync state."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.dec = Decimals()
        self.states: dict[str, _DepthState] = {}
        self.last_ts = 0

    def read_all(
        self, files: Sequence[ReplayFile], counters: Sequence[FileCounters]
    ) -> Iterator[MarketEvent]:
        """Yield the events of ``files`` in order; diffs still held at the end are counted."""
        for file, file_counters in zip(files, counters, strict=True):
            self.ctx.counters = file_counters
            yield from self.read(file)
        for state in self.states.values():
            for diff in state.buffer:
                diff.counters.skipped_unsynced += 1
            state.buffer.clear()

    # -- HOT LOOP -------------------------------------------------------------

    def read(self, file: ReplayFile) -> Iterator[MarketEvent]:
        """Yield the events of one capture file."""
        path = file.path
        c = self.ctx.counters
        dec = self.dec
        prices = dec.prices
        amounts = dec.amounts
        loads = orjson.loads
        routes: dict[str, tuple[int, str, _DepthState | None]] = {}
        venue = VENUE
        ticker, trade, depth, ignore = _TICKER, _TRADE, _DEPTH, _IGNORE  # locals: hot loop
        last_ts = self.last_ts
        lineno = 0
        messages_before = c.messages
        try:
            for chunk in gzip_line_chunks(path):
                for line in chunk:
                    lineno += 1
                    try:
                        sep = line.index(b" ")
                        ts = int(line[:sep])
                        msg = loads(line[sep + 1 :])
                        if ts < last_ts:
                            raise BadValue(f"receive time goes backwards: {ts} after {last_ts}")
                        last_ts = ts
                        data = msg.get("data")
                        if data is None:
                            if "lastUpdateId" not in msg and "result" in msg:
                                c.ignore("binance subscription reply")
                                continue
                            yield from self._on_snapshot(file, ts, msg)
                            continue
                        stream = msg["stream"]
                        route = routes.get(stream)
                        if route is None:
                            route = routes[stream] = self._route(file, stream)
                        kind, symbol, state = route
                        if kind == ticker:
                            c.top_of_book += 1
                            yield make_top_of_book(
                                ts,
                                venue,
                                symbol,
                                prices[data["b"]],
                                amounts[data["B"]],
                                prices[data["a"]],
                                amounts[data["A"]],
                            )
                        elif kind == trade:
                            kind_x = data.get("X")
                            if kind_x is not None and kind_x != "MARKET":
                                c.ignore(f"binance trade X={kind_x} (not a market trade)")
                                continue
                            price = prices[data["p"]]
                            amount = amounts[data["q"]]
                            if not amount:
                                raise BadValue("trade amount is 0")
                            maker = data["m"]
                            side: Literal["buy", "sell"]
                            if maker is True:
                                side = "sell"  # the buyer was the maker: a seller hit the bid
                            elif maker is False:
                                side = "buy"
                            else:
                                raise BadValue(f"field 'm' must be a bool, got {maker!r}")
                            c.trades += 1
                            yield make_trade(ts, venue, symbol, price, amount, side, str(data["t"]))
                        elif kind == depth:
                            assert state is not None
                            last_u = state.last_u
                            book = state.book
                            if (
                                last_u is not None
                                and book is not None
                                and (
                                    data["pu"] == last_u
                                    if state.futures
                                    else data["U"] == last_u + 1
                                )
                            ):
                                u = data["u"]
                                if type(u) is not int:
                                    raise BadValue(f"field 'u' must be an integer, got {u!r}")
                                bids = convert_levels(data["b"], dec)
                                asks = convert_levels(data["a"], dec)
                                book.apply(bids, asks)
                                state.last_u = book.sequence = u
                                book.ts_ns = ts
                                c.book_deltas += 1
                                yield BookDelta(ts, venue, symbol, bids, asks, False, u)
                            else:
                                yield from self._on_depth(state, ts, data)
                        elif kind == _LIQUIDATION:
                            forced = _force_order(ts, symbol, data)
                            if forced is not None:
                                c.liquidations += 1
                                yield forced
                        elif kind == ignore:
                            c.ignore(f"binance stream {stream.partition('@')[2]}")
                        else:
                            c.ignore("filtered out by symbol")
                    except DataFormatError:
                        raise
                    except (BadValue, KeyError, TypeError, ValueError, AttributeError) as e:
                        raise DataFormatError(path, _explain(e), line=lineno) from None
                self.last_ts = last_ts
                c.messages = messages_before + lineno  # readable while the replay runs
        finally:
            # Lines read so far, also when the consumer stops early.
            c.messages = messages_before + lineno

    # -- ROUTING --------------------------------------------------------------

    def _route(self, file: ReplayFile, stream: str) -> tuple[int, str, _DepthState | None]:
        if type(stream) is not str or "@" not in stream:
            raise BadValue(f"not a stream name: {stream!r}")
        name, _, suffix = stream.partition("@")
        symbol = unified_symbol(name, file.market)
        accept = self.ctx.accept
        if accept is not None and not accept(symbol):
            return _SKIP, symbol, None
        if suffix in _DIFF_STREAMS:
            return _DEPTH, symbol, self._state(symbol, file)
        if suffix == "bookTicker":
            return _TICKER, symbol, None
        if suffix == "trade":
            return _TRADE, symbol, None
        if suffix == "forceOrder":
            return _LIQUIDATION, symbol, None
        return _IGNORE, symbol, None

    def _state(self, symbol: str, file: ReplayFile) -> _DepthState:
        state = self.states.get(symbol)
        if state is None:
            state = self.states[symbol] = _DepthState(symbol, file.market != "spot")
        return state

    # -- SYNC -----------------------------------------------------------------

    def _first_target(self, state: _DepthState) -> int:
        assert state.lid is not None
        return state.lid if state.futures else state.lid + 1

    def _continues(self, state: _DepthState, diff: _Diff) -> bool:
        if state.futures:
            return diff.pu == state.last_u
        return state.last_u is not None and diff.U == state.last_u + 1

    def _unsync(self, state: _DepthState) -> None:
        state.book = None
        state.lid = None
        state.last_u = None
        self.ctx.books.pop((VENUE, state.symbol), None)

    def _hold(self, state: _DepthState, diff: _Diff) -> None:
        if len(state.buffer) >= _BUFFER_LIMIT:
            state.buffer.popleft().counters.skipped_unsynced += 1
        state.buffer.append(diff)

    def _gap(self, state: _DepthState, ts: int, diff: _Diff) -> GapEvent:
        """Discard the book after a break at ``diff``; hold ``diff`` for the next snapshot."""
        if state.last_u is not None:
            if state.futures:
                reason = "futures diff: pu is not the previous diff's u"
                expected, got = state.last_u, diff.pu
            else:
                reason = "spot diff: U is not the previous diff's u + 1"
                expected, got = state.last_u + 1, diff.U
        else:
            target = self._first_target(state)
            reason = "first diff after the snapshot starts past its lastUpdateId"
            expected, got = target, diff.U
        self._unsync(state)
        self._hold(state, diff)
        self.ctx.counters.gaps += 1
        return GapEvent(ts, VENUE, state.symbol, reason, expected, got)

    def _on_depth(self, state: _DepthState, ts: int, data: dict[str, Any]) -> list[MarketEvent]:
        """Handle a diff off the fast path: unsynced, first after a snapshot, or a gap."""
        c = self.ctx.counters
        diff = _Diff(
            ts,
            _int_field(data, "U"),
            _int_field(data, "u"),
            _int_field(data, "pu") if state.futures else None,
            convert_levels(data["b"], self.dec),
            convert_levels(data["a"], self.dec),
            c,
        )
        if state.book is None:
            self._hold(state, diff)
            return []
        if state.last_u is not None:
            return [self._gap(state, ts, diff)]
        target = self._first_target(state)
        if diff.u < target:
            c.skipped_stale += 1
            return []
        if diff.U > target:
            return [self._gap(state, ts, diff)]
        book = state.book
        book.apply(diff.bids, diff.asks)
        state.last_u = book.sequence = diff.u
        book.ts_ns = ts
        c.book_deltas += 1
        return [BookDelta(ts, VENUE, state.symbol, diff.bids, diff.asks, False, diff.u)]

    def _on_snapshot(self, file: ReplayFile, ts: int, msg: dict[str, Any]) -> list[MarketEvent]:
        """Load a REST snapshot, fold the held diffs into it, emit one snapshot event."""
        c = self.ctx.counters
        lid = _int_field(msg, "lastUpdateId")
        symbol = file.symbols[0]
        accept = self.ctx.accept
        book = LevelBook(VENUE, symbol)
        load_levels(book.bids, msg["bids"], self.dec)
        load_levels(book.asks, msg["asks"], self.dec)
        if accept is not None and not accept(symbol):
            return []
        state = self._state(symbol, file)
        if state.last_u is not None and lid <= state.last_u:
            c.ignore("binance snapshot not newer than the synced book")
            return []
        state.book = book
        state.lid = lid
        state.last_u = None
        book.sequence = lid
        events: list[MarketEvent] = []
        held = list(state.buffer)
        state.buffer.clear()
        for i, diff in enumerate(held):
            if state.last_u is None:
                target = self._first_target(state)
                if diff.u < target:
                    diff.counters.skipped_stale += 1
                    continue
                if diff.U > target:
                    events.append(self._gap(state, ts, diff))
                    state.buffer.extend(held[i + 1 :])
                    break
            elif not self._continues(state, diff):
                events.append(self._gap(state, ts, diff))
                state.buffer.extend(held[i + 1 :])
                break
            book.apply(diff.bids, diff.asks)
            state.last_u = book.sequence = diff.u
            diff.counters.folded_into_snapshot += 1
        if state.book is book:
            book.ts_ns = ts
            self.ctx.books[(VENUE, symbol)] = book
            c.book_deltas += 1
            c.books += 1
            events.append(book.snapshot_event(ts))
        return events


def _explain(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    if isinstance(error, orjson.JSONDecodeError):
        return f"not valid JSON: {error}"
    if isinstance(error, BadValue):
        return str(error)
    return f"malformed record: {type(error).__name__}: {error}"
