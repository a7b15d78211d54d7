"""``python main.py record``: capture live public market data into ``*.swarm.parquet`` files.

No keys are used or needed. The files replay with ``python main.py --paper --data DIR``.
Ctrl+C stops cleanly: what was captured so far is written.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from core.clock import RealClock
from core.errors import InvalidValue
from exchanges.feeds.live import LiveFeed
from exchanges.feeds.recorder import record


def run_record(args: Any) -> int:
    """Record per the parsed arguments; print the result as one JSON line; return the exit code."""
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise InvalidValue("symbols", args.symbols, "name at least one symbol")
    return asyncio.run(_record(args.venue, symbols, args))


async def _record(venue: str, symbols: list[str], args: Any) -> int:
    clock = RealClock()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with LiveFeed([(venue, s) for s in symbols], clock=clock) as feed:
        result = await record(
            feed,
            args.out,
            duration_s=args.duration,
            max_events=args.max_events,
            clock=clock,
            metadata={"venue": venue, "symbols": ",".join(symbols)},
            stop=stop,
        )
    print(
        json.dumps(
            {
                "files": [str(p) for p in result.files],
                "events": result.events,
                "events_by_venue": dict(result.events_by_venue),
                "stopped_by": result.stopped_by,
                "feed": feed.stats.__dict__ if hasattr(feed.stats, "__dict__") else str(feed.stats),
            },
            default=str,
        )
    )
    return 0
