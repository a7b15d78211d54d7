"""Benchmark: the replay feed on a raw Binance capture beside a plain Python loop over the same file.

Run from the project root::

    .venv/bin/python -m tests.bench.replay_feed

Prints one JSON line. The feed's work: gzip, JSON, the sequence checks, the
rebuilt book (read back as an ``OrderBook`` at the end) and every normalized
event with Decimal prices. The plain loop's work: gzip + ``json.loads`` + a dict
book per side keyed by the price strings. Both are timed in the same run, best
of three, interleaved, because the machines are shared and noisy; the goal
(BENCHMARKS.md) is ``ratio_feed_vs_plain_loop <= 1.0``.
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exchanges.feeds.replay import ReplayFeed  # noqa: E402

FILE = ROOT / "data" / "binance-2024-08-08" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"
SYMBOL = "BTC/USDT:USDT"
ROUNDS = 3


def plain_loop(path: Path) -> tuple[int, int]:
    """Rebuild the book the plain way; return (messages, level updates)."""
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    messages = 0
    levels = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            _, payload = line.split(" ", 1)
            msg = json.loads(payload)
            messages += 1
            data = msg.get("data")
            if data is None:
                bids = {p: q for p, q in msg["bids"]}
                asks = {p: q for p, q in msg["asks"]}
                levels += len(bids) + len(asks)
                continue
            if data.get("e") == "depthUpdate":
                levels += len(data["b"]) + len(data["a"])
                for p, q in data["b"]:
                    if float(q) == 0:
                        bids.pop(p, None)
                    else:
                        bids[p] = q
                for p, q in data["a"]:
                    if float(q) == 0:
                        asks.pop(p, None)
                    else:
                        asks[p] = q
    return messages, levels


def json_loads_only(path: Path) -> None:
    with gzip.open(path, "rt") as f:
        for line in f:
            json.loads(line.split(" ", 1)[1])


def run_feed(path: Path) -> tuple[int, int]:
    """Replay the file through the feed; return (events, levels in the final book)."""
    feed = ReplayFeed(path)
    events = 0
    for _ in feed:
        events += 1
    book = feed.book("binance", SYMBOL)
    if book is None or book.is_crossed():
        raise RuntimeError("the replay did not end with a synced, uncrossed book")
    return events, len(book.bids) + len(book.asks)


def _best(fn: Callable[[], Any], times: list[float]) -> Any:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
    return result


def measure(path: Path = FILE, rounds: int = ROUNDS) -> dict[str, Any]:
    """Time the feed and both baselines on ``path`` (best of ``rounds``, interleaved)."""
    feed_s: list[float] = []
    plain_s: list[float] = []
    loads_s: list[float] = []
    events = messages = level_updates = 0
    for _ in range(rounds):
        events, _ = _best(lambda: run_feed(path), feed_s)
        messages, level_updates = _best(lambda: plain_loop(path), plain_s)
        _best(lambda: json_loads_only(path), loads_s)
    feed, plain, loads = min(feed_s), min(plain_s), min(loads_s)
    return {
        "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "messages": messages,
        "level_updates": level_updates,
        "feed_events": events,
        "feed_s": round(feed, 4),
        "feed_events_per_s": round(events / feed),
        "feed_messages_per_s": round(messages / feed),
        "baseline_plain_loop_s": round(plain, 4),
        "baseline_json_loads_s": round(loads, 4),
        "ratio_feed_vs_plain_loop": round(feed / plain, 3),
    }


def main() -> None:
    print(json.dumps(measure()))


if __name__ == "__main__":
    main()
