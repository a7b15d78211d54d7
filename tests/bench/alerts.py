"""Benchmark: does a dead alert endpoint slow an order? Submit latency with and without one.

The order path runs in process (``agents.sandbox.Sandbox``: the gateway service,
its WAL on a simulated disk, a paper venue), and so do the alerts, as in the
driver of a paper run: an ``AlertSender`` whose endpoint is a local socket that
accepts and never answers (``hang``) or a closed port (``refused``), flooded with
one alert per order (each a new subject: no dedup; the rate limit is lifted).
Three rounds of the same orders: no alerts, a hanging endpoint, a refusing one.

Prints ONE JSON line (milliseconds). Run from the project root:

    .venv/bin/python -m tests.bench.alerts [--orders 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.sandbox import Sandbox  # noqa: E402
from cli.alerts import AlertPolicy, AlertSender  # noqa: E402
from cli.cockpit.events import Event  # noqa: E402
from core.config import AlertsConfig, PaperConfig  # noqa: E402
from core.events import TopOfBook  # noqa: E402
from core.models import OrderType, Side  # noqa: E402
from gateway.intents import OrderIntent  # noqa: E402
from risk.limits import RiskLimits  # noqa: E402

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_000_000_000_000_000


def hanging_endpoint() -> tuple[socket.socket, int, threading.Event]:
    """A listener that accepts connections and never answers; returns (socket, port, stop)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # never read, never answered
            except OSError:
                continue
        for conn in held:
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1], stop


def refused_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connections are refused
    return port


async def submit_round(tag: str, orders: int, sender: AlertSender | None) -> list[float]:
    box = Sandbox(
        "bench",
        Decimal(10**9),
        PaperConfig(starting_balances={"USDT": Decimal(10**8)}),
        RiskLimits(
            max_order_notional=Decimal(10**9),
            max_position_notional=Decimal(10**12),
            max_orders_per_window=10**9,
        ),
    )
    await box.on_instant(
        [
            TopOfBook(
                T0,
                "binance",
                SYMBOL,
                Decimal("60000.0"),
                Decimal(50),
                Decimal("60000.1"),
                Decimal(50),
            )
        ]
    )
    latencies = []
    for n in range(orders):
        if sender is not None:  # the driver's collector would do this on its own thread
            sender.send_events([Event(T0, "agent_error", f"{tag}{n}", "bench", "warning")])
        intent = OrderIntent(
            agent_id="bench",
            intent_id=f"{tag}-{n}",
            venue="binance",
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            amount=Decimal("0.002"),
            price=Decimal("58000.0"),
            post_only=True,
        )
        started = time.perf_counter()
        result = await box.asubmit(intent)
        latencies.append((time.perf_counter() - started) * 1000)
        assert result.order is not None, result.denial
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def measure(orders: int = 400) -> dict[str, Any]:
    """Run the three rounds; return the figures (see the module doc)."""
    config = AlertsConfig(timeout_s=2.0, queue=10_000)
    out: dict[str, Any] = {"orders": orders}
    alert_log = logging.getLogger("cli.alerts")
    level = alert_log.level
    alert_log.setLevel(logging.ERROR)  # every flooded alert fails, by design
    asyncio.run(submit_round("warm", 50, None))  # imports and first-call costs out of the way
    out["none"] = summary(asyncio.run(submit_round("none", orders, None)))
    server, port, stop = hanging_endpoint()
    for name, url in (
        ("hanging", f"json://127.0.0.1:{port}/hook"),
        ("refused", f"json://127.0.0.1:{refused_port()}/hook"),
    ):
        sender = AlertSender([url], config, policy=AlertPolicy(dedup_s=0, max_per_minute=10**9))
        out[name] = summary(asyncio.run(submit_round(name, orders, sender)))
        out[name]["alerts_sent"] = sender.sent
        out[name]["alerts_failed"] = sender.failed
        sender.close(timeout_s=0.1, drop_queued=True)
    stop.set()
    server.close()
    alert_log.setLevel(level)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=400)
    print(json.dumps(measure(parser.parse_args().orders), sort_keys=True))


if __name__ == "__main__":
    main()
