"""``python main.py download``: venues' public history through ccxt into replayable partitions.

No keys are used or needed. Everything that can be checked without the venue
(venue, kinds, timeframe, dates) is checked before the first request; the
symbols after the venue's market list is loaded and before any history request.
The partitions replay with ``python main.py --paper --data DIR``, ``main.py
backtest --data DIR`` and ``python -m agents.funding_arb.backtest --data DIR``.
A re-run fetches only what the files lack; Ctrl+C loses nothing already written.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.clock import Clock, RealClock
from core.errors import InvalidValue
from exchanges.ccxt.history import (
    TIMEFRAMED,
    Kind,
    Series,
    check_kinds,
    check_range,
    check_venue,
    parse_utc,
    plan_request,
)

if TYPE_CHECKING:
    from exchanges.ccxt.download import SeriesResult

ClientFactory = Callable[[str, dict[str, Any]], Any]
"""Build a ccxt async exchange from its id and config (tests answer its requests from recordings)."""

KIND_NAMES = ", ".join(k.value for k in Kind)

# Bybit's market list: spot and USDT/USDC-settled contracts, as the order adapter loads it
# (its option markets take one request per base coin)
CLIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "bybit": {"fetchMarkets": {"types": ["spot", "linear"]}}
}


def client_config(venue: str) -> dict[str, Any]:
    """Return the ccxt constructor config of a history client: rate limiter on, no keys."""
    return {"enableRateLimit": True, "options": dict(CLIENT_OPTIONS.get(venue, {}))}


def add_download_parser(sub: Any) -> None:
    """Add the ``download`` subcommand to ``main.py``'s subparsers."""
    download = sub.add_parser(
        "download",
        help="public history through ccxt (candles, funding, mark/index, open interest, trades)",
        description="Download public history through ccxt's unified methods (no keys) into "
        "parquet partitions by venue, market, series and UTC day that --data, backtest and "
        "the funding backtest replay directly. Resumable and idempotent: a re-run fetches only "
        "what the files lack. Gaps in the history are reported.",
    )
    download.add_argument("--venue", required=True, help="binance, bybit, okx or hyperliquid")
    download.add_argument(
        "--symbols", required=True, help="comma-separated ccxt symbols, e.g. BTC/USDT:USDT"
    )
    download.add_argument(
        "--kinds", default="ohlcv", help=f"comma-separated, of: {KIND_NAMES} (default ohlcv)"
    )
    download.add_argument(
        "--timeframe", default="1m", help="candle and open-interest timeframe (default 1m)"
    )
    download.add_argument("--since", required=True, help="UTC start: YYYY-MM-DD or ISO time")
    download.add_argument(
        "--until", required=True, help="UTC end, exclusive: YYYY-MM-DD or ISO time"
    )
    download.add_argument(
        "--out", default="data/history", metavar="DIR", help="output root (default data/history)"
    )
    download.add_argument("--no-progress", action="store_true", help="no progress bars")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _default_factory(ccxt_id: str, config: dict[str, Any]) -> Any:
    import ccxt.async_support as ccxt_async

    return getattr(ccxt_async, ccxt_id)(config)


class RichProgress:
    """One rich progress bar per series, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            MofNCompleteColumn(),
            TextColumn("rows {task.fields[rows]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._tasks: dict[Series, Any] = {}
        self._rows: dict[Series, int] = {}

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def start(self, series: Series, total_ms: int) -> None:
        self._rows[series] = 0
        # minutes of history as the unit: a bar per series, whatever its kind
        self._tasks[series] = self._bar.add_task(
            str(series), total=max(1, total_ms // 60_000), rows=0
        )
        if total_ms == 0:
            self._bar.update(self._tasks[series], completed=1, description=f"{series} (up to date)")

    def advance(self, series: Series, done_ms: int, rows: int) -> None:
        self._rows[series] += rows
        self._bar.update(self._tasks[series], completed=done_ms // 60_000, rows=self._rows[series])


async def download(
    venue: str,
    symbols: Sequence[str],
    kinds: Sequence[str],
    timeframe: str | None,
    since: str,
    until: str,
    out: Path | str,
    *,
    clock: Clock,
    client_factory: ClientFactory | None = None,
    progress: Any = None,
    page_limits: dict[Kind, int] | None = None,
) -> list[SeriesResult]:
    """Validate, then download every series; return what each did.

    Raise ``InvalidValue``/``UnknownSymbol``/``NotSupported`` naming the bad field before
    any history request (the venue's market list is the one thing loaded first).
    """
    # imported here: parsing main.py's arguments must not load duckdb and pyarrow
    from exchanges.ccxt.download import HistoryDownloader
    from exchanges.ccxt.store import PartitionStore

    history = check_venue(venue)
    check_kinds(history, kinds)
    now_ms = clock.now_ms()
    span = check_range(parse_utc(since, "since"), parse_utc(until, "until"), now_ms)
    client = (client_factory or _default_factory)(venue, client_config(venue))
    try:
        # the timeframe against the class's own list: no request needed
        needs_tf = any(Kind(k) in TIMEFRAMED for k in kinds)
        _check_timeframe(venue, kinds, timeframe, client)
        markets = await client.load_markets()
        listed = {symbol: bool(m.get("contract")) for symbol, m in markets.items()}
        request = plan_request(
            venue,
            symbols,
            kinds,
            timeframe if needs_tf else None,
            span.start_ms,
            span.end_ms,
            now_ms=now_ms,
            venue_timeframes=list(client.timeframes or {}),
            markets=listed,
        )
        downloader = HistoryDownloader(
            client, PartitionStore(out), clock, progress=progress, page_limits=page_limits
        )
        results = []
        for series in request.series:
            results.append(await downloader.download(series, request.span))
        return results
    finally:
        await client.close()


def _check_timeframe(venue: str, kinds: Sequence[str], timeframe: str | None, client: Any) -> None:
    if not any(Kind(k) in TIMEFRAMED for k in kinds):
        return
    offered = list(client.timeframes or {})
    if not timeframe or timeframe not in offered:
        raise InvalidValue("timeframe", timeframe, f"not offered by {venue} ({offered})")


def run_download(
    args: Any, *, clock: Clock | None = None, client_factory: ClientFactory | None = None
) -> int:
    """Download per the parsed arguments; print one JSON line; return the exit code."""
    symbols, kinds = _split(args.symbols), _split(args.kinds)
    use_bars = not args.no_progress and sys.stderr.isatty()
    bars = RichProgress() if use_bars else None

    async def go() -> list[SeriesResult]:
        return await download(
            args.venue,
            symbols,
            kinds,
            args.timeframe,
            args.since,
            args.until,
            args.out,
            clock=clock or RealClock(),
            client_factory=client_factory,
            progress=bars,
        )

    if bars is not None:
        with bars:
            results = asyncio.run(go())
    else:
        results = asyncio.run(go())
    for result in results:
        status = (
            "up to date"
            if not result.fetched
            else f"{result.rows} rows, {result.requests} requests"
        )
        gaps = "n/a" if not result.checked else str(len(result.gaps))
        print(f"{result.series}: {status}; gaps: {gaps}", file=sys.stderr)
        for gap in result.gaps:
            print(f"  gap: {gap}", file=sys.stderr)
    print(json.dumps({"out": str(args.out), "series": [r.summary() for r in results]}))
    return 0
