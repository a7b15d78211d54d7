"""Benchmark: the backtest with the market maker deciding on every book update, beside a plain loop.

Run from the project root::

    .venv/bin/python -m tests.bench.backtest            # best of 2 rounds, interleaved
    .venv/bin/python -m tests.bench.backtest --rounds 1

Prints one JSON line. Both sides read the same Binance USDT-M BTCUSDT capture in the
same run. The plain loop: gzip + ``json.loads`` + a dict book per side (the loop of
``tests.bench.replay_feed``). The backtest: ``backtest.runner.run_backtest`` with
``configs/backtest.toml``'s market maker — the replay feed, the paper venue's book,
queue model and matching, the agent's estimators and decision on every book update,
every order through the real gateway service (engine, risk checks, WAL on a simulated
disk). ``ratio`` is the backtest's events/s over the plain loop's messages/s (the goal
of issue 12 is >= 1.0). ``decisions_digest`` fingerprints every order the agent placed
(id, price, amount, fill, state): an optimization must leave it unchanged. Peak RSS is
the process's high-water mark after the backtest (``ru_maxrss``). Times are CPU
seconds of this process (``time.process_time``): the machines are shared, and wall time
under another's load says more about the load than about the code.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backtest.runner import run_backtest  # noqa: E402
from core.config import SwarmConfig, load_config  # noqa: E402
from exchanges.feeds.replay import ReplayFeed  # noqa: E402
from exchanges.feeds.subscriptions import bind_agents  # noqa: E402
from gateway.engine import GatewayEngine  # noqa: E402
from risk.limits import limits_of  # noqa: E402
from tests.bench.replay_feed import FILE, plain_loop  # noqa: E402

CONFIG = ROOT / "configs" / "backtest.toml"


def run_once(data: Path, symbols: list[str]) -> tuple[dict[str, Any], str]:
    """Run the market maker's backtest once; return its report and the orders' digest."""
    config = load_config(CONFIG, SwarmConfig)
    agents = {k: v for k, v in config.agents.items() if v.enabled}
    files = ReplayFeed(data, symbols=symbols).files()
    agents, _, _ = bind_agents(agents, files, config.paper.venues)
    seen: list[Any] = []
    original = GatewayEngine.snapshot

    def keep(engine: GatewayEngine) -> Any:
        snapshot = original(engine)
        seen.append(snapshot)
        return snapshot

    GatewayEngine.snapshot = keep  # type: ignore[method-assign]
    try:
        report = asyncio.run(
            run_backtest(data, agents, config.paper, limits_of(config), symbols=symbols)
        )
    finally:
        GatewayEngine.snapshot = original  # type: ignore[method-assign]
    rows = sorted(
        (o.intent_id, str(o.price), str(o.amount), str(o.filled), str(o.state))
        for o in seen[-1].orders
    )
    return report, hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def measure(rounds: int = 2) -> dict[str, Any]:
    """Time both sides ``rounds`` times, interleaved; report the best of each."""
    backtest_s: list[float] = []
    plain_s: list[float] = []
    report: dict[str, Any] = {}
    digest = ""
    messages = 0
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        messages, _levels = plain_loop(FILE)
        plain_s.append(time.process_time() - start)
        gc.collect()
        start = time.process_time()
        report, digest = run_once(FILE.parent, ["BTC"])
        backtest_s.append(time.process_time() - start)
    best, plain = min(backtest_s), min(plain_s)
    events = int(report["events"])
    mm = report["agents"]["mm"]
    return {
        "benchmark": "backtest",
        "file": str(FILE.relative_to(ROOT)),
        "events": events,
        "decisions": mm["decisions"],
        "orders": mm["orders"],
        "fills": report["gateway_counters"].get("fills", 0),
        "decisions_digest": digest,
        "backtest_s": round(best, 3),
        "events_per_s": round(events / best),
        "plain_loop_s": round(plain, 3),
        "plain_loop_msgs_per_s": round(messages / plain),
        "ratio": round((events / best) / (messages / plain), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.rounds), sort_keys=True))


if __name__ == "__main__":
    main()
