"""The recorder: stops on duration, count, stop, end or cancellation, and always writes what it has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from core.clock import NS_PER_S, SimulatedClock
from core.errors import ExchangeUnavailable, InvalidValue
from core.events import BookDelta, MarketEvent, TradeTick
from exchanges.feeds.live import LiveFeed, LiveFeedConfig
from exchanges.feeds.normalized import read_events, read_metadata
from exchanges.feeds.recorder import record

T0 = 1_800_000_000 * NS_PER_S  # 2027-01-15T08:00:00Z
STAMP = "20270115T080000Z"


def tick(i: int, venue: str = "binance") -> TradeTick:
    return TradeTick(T0 + i, venue, "BTC/USDT", D("100") + i, D("0.5"), "buy", f"{venue}-{i}")


class FakeSource:
    """An event source: yields scripted events (moving the clock), then ends, fails or goes quiet."""

    def __init__(
        self,
        events: Sequence[MarketEvent],
        clock: SimulatedClock,
        *,
        then: str = "end",
        step_ns: int = 0,
        error: Exception | None = None,
    ) -> None:
        self.script = events
        self.clock = clock
        self.then = then
        self.step_ns = step_ns
        self.error = error
        self.quiet = asyncio.Event()
        self.closed = False

    async def events(self) -> AsyncIterator[MarketEvent]:
        try:
            for event in self.script:
                self.clock.advance(self.step_ns)
                await asyncio.sleep(0)
                yield event
            if self.then == "fail" and self.error is not None:
                raise self.error
            if self.then == "quiet":
                self.quiet.set()
                await asyncio.Event().wait()
        finally:
            self.closed = True


def all_events(files: tuple[Path, ...]) -> list[MarketEvent]:
    return [event for path in files for event in read_events(path)]


@pytest.mark.asyncio
async def test_record_when_max_events_reached_then_stops_with_exactly_that_many_per_venue_files(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    script = [tick(i, "binance" if i % 2 else "bybit") for i in range(10)]
    source = FakeSource(script, clock)

    result = await record(source, tmp_path, duration_s=None, max_events=5, clock=clock)

    assert result.stopped_by == "max_events"
    assert result.events == 5
    assert dict(result.events_by_venue) == {"bybit": 3, "binance": 2}
    assert sorted(p.name for p in result.files) == [
        f"binance_{STAMP}.swarm.parquet",
        f"bybit_{STAMP}.swarm.parquet",
    ]
    assert sorted(all_events(result.files), key=lambda e: e.ts_ns) == script[:5]
    assert source.closed


@pytest.mark.asyncio
async def test_record_when_duration_passes_on_the_clock_then_later_events_are_not_recorded(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    source = FakeSource([tick(i) for i in range(10)], clock, step_ns=NS_PER_S)

    result = await record(source, tmp_path, duration_s=3.5, max_events=None, clock=clock)

    assert result.stopped_by == "duration"
    assert all_events(result.files) == [tick(0), tick(1), tick(2)]  # arrived at +1 s, +2 s, +3 s
    assert source.closed


@pytest.mark.asyncio
async def test_record_when_source_goes_quiet_then_the_timer_ends_it_at_the_duration(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    source = FakeSource([tick(0), tick(1)], clock, then="quiet")
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        await source.quiet.wait()

    result = await record(
        source, tmp_path, duration_s=60, max_events=None, clock=clock, sleep=sleep
    )

    assert result.stopped_by == "duration"
    assert waited == [60]
    assert all_events(result.files) == [tick(0), tick(1)]
    assert source.closed


@pytest.mark.asyncio
async def test_record_when_file_reaches_max_events_then_rolls_into_distinct_files(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    script = [tick(i) for i in range(7)]

    result = await record(
        FakeSource(script, clock),
        tmp_path,
        duration_s=None,
        max_events=None,
        clock=clock,
        max_events_per_file=3,
    )

    assert result.stopped_by == "source_ended"
    assert [p.name for p in result.files] == [
        f"binance_{STAMP}.swarm.parquet",
        f"binance_{STAMP}-1.swarm.parquet",
        f"binance_{STAMP}-2.swarm.parquet",
    ]
    assert [len(list(read_events(p))) for p in result.files] == [3, 3, 1]
    assert all_events(result.files) == script


@pytest.mark.asyncio
async def test_record_when_buffer_reaches_max_bytes_then_rolls(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    levels = tuple((D(1000 + i), D("1")) for i in range(50))
    books = [BookDelta(T0 + i, "okx", "BTC/USDT", levels, levels, snapshot=True) for i in range(4)]

    result = await record(
        FakeSource(books, clock, step_ns=NS_PER_S),
        tmp_path,
        duration_s=None,
        max_events=None,
        clock=clock,
        max_bytes_per_file=5_000,
    )

    assert [len(list(read_events(p))) for p in result.files] == [2, 2]
    assert all_events(result.files) == books


@pytest.mark.asyncio
async def test_record_when_a_file_of_that_name_exists_then_it_is_not_overwritten(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    earlier = tmp_path / f"binance_{STAMP}.swarm.parquet"
    earlier.write_bytes(b"an earlier recording")

    result = await record(
        FakeSource([tick(0)], clock), tmp_path, duration_s=None, max_events=None, clock=clock
    )

    assert [p.name for p in result.files] == [f"binance_{STAMP}-1.swarm.parquet"]
    assert earlier.read_bytes() == b"an earlier recording"


@pytest.mark.asyncio
async def test_record_when_cancelled_then_buffered_events_are_written_and_cancellation_propagates(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    source = FakeSource([tick(i) for i in range(4)], clock, then="quiet")
    task = asyncio.create_task(
        record(source, tmp_path / "out", duration_s=None, max_events=None, clock=clock)
    )
    await source.quiet.wait()
    await asyncio.sleep(0)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    files = tuple(sorted((tmp_path / "out").glob("*.swarm.parquet")))
    assert all_events(files) == [tick(i) for i in range(4)]
    assert source.closed


@pytest.mark.asyncio
async def test_record_when_source_fails_then_buffered_events_are_written_and_the_error_raised(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    source = FakeSource(
        [tick(0), tick(1), tick(2)], clock, then="fail", error=ExchangeUnavailable("gave up")
    )

    with pytest.raises(ExchangeUnavailable, match="gave up"):
        await record(source, tmp_path, duration_s=None, max_events=None, clock=clock)

    assert all_events(tuple(tmp_path.glob("*.swarm.parquet"))) == [tick(0), tick(1), tick(2)]


@pytest.mark.asyncio
async def test_record_when_stop_is_set_then_stopped_with_what_it_has(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    source = FakeSource([tick(0)], clock, then="quiet")
    stop = asyncio.Event()

    async def press_stop() -> None:
        await source.quiet.wait()
        stop.set()

    presser = asyncio.create_task(press_stop())
    result = await record(
        source, tmp_path, duration_s=None, max_events=None, clock=clock, stop=stop
    )
    await presser

    assert result.stopped_by == "stopped"
    assert all_events(result.files) == [tick(0)]


@pytest.mark.asyncio
async def test_record_when_source_ends_without_events_then_no_file(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)

    result = await record(
        FakeSource([], clock), tmp_path, duration_s=None, max_events=None, clock=clock
    )

    assert (result.files, result.events, result.stopped_by) == ((), 0, "source_ended")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.asyncio
async def test_record_when_files_are_written_then_metadata_says_venue_and_caller_provenance(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)

    result = await record(
        FakeSource([tick(0)], clock),
        tmp_path,
        duration_s=None,
        max_events=None,
        clock=clock,
        metadata={"source": "ccxt public websocket"},
    )

    metadata = read_metadata(result.files[0])
    assert metadata["venue"] == "binance"
    assert metadata["source"] == "ccxt public websocket"
    assert metadata["file_started_utc"] == "2027-01-15T08:00:00Z"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"max_events": 0}, "max_events"),
        ({"max_events_per_file": 0}, "max_events_per_file"),
        ({"max_bytes_per_file": 0}, "max_bytes_per_file"),
        ({"metadata": {"swarm.format_version": "2"}}, "metadata"),
    ],
)
@pytest.mark.asyncio
async def test_record_when_a_limit_is_not_positive_then_invalid_value(
    tmp_path: Path, kwargs: dict[str, Any], field: str
) -> None:
    clock = SimulatedClock(T0)
    arguments: dict[str, Any] = {"duration_s": None, "max_events": None, **kwargs}

    with pytest.raises(InvalidValue, match=field):
        await record(FakeSource([], clock), tmp_path, clock=clock, **arguments)


class WatchingExchange:
    """A fake ccxt.pro exchange pushing one trade per watch_trades call (no network)."""

    def __init__(self) -> None:
        self.has = {"watchTrades": True}
        self.markets = {"BTC/USDT": {"symbol": "BTC/USDT", "contract": False}}
        self.pushed = 0
        self.closed = False

    async def load_markets(self, reload: bool = False) -> Any:
        return self.markets

    async def watch_trades(self, symbol: str) -> list[dict[str, Any]]:
        self.pushed += 1
        await asyncio.sleep(0)
        return [
            {
                "id": str(self.pushed),
                "timestamp": 1_000 + self.pushed,
                "price": 64000.1,
                "amount": 0.002,
                "side": "buy",
            }
        ]

    async def close(self) -> None:
        self.closed = True


@pytest.mark.asyncio
async def test_record_when_source_is_a_live_feed_then_its_events_land_in_a_readable_file(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    exchange = WatchingExchange()
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=clock,
        config=LiveFeedConfig(channels=("trades",)),
        exchange_factory=lambda venue: exchange,
    )

    result = await record(feed, tmp_path, duration_s=None, max_events=3, clock=clock)

    assert [
        (e.trade_id, e.price) for e in all_events(result.files) if isinstance(e, TradeTick)
    ] == [("1", D("64000.1")), ("2", D("64000.1")), ("3", D("64000.1"))]
    assert exchange.closed
