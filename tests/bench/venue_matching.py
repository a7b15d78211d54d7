"""Benchmark: market orders through the paper venue's matching, beside a bare VWAP loop.

The book is the first full snapshot (REST depth, about a thousand levels a side) of
Binance USDT-M BTCUSDT in data/binance-2024-08-08/hftbacktest/usdm/btcusdt_20240808.gz.
Both sides of the comparison walk the same Decimal levels for the same orders:

- the venue: ``PaperVenue.submit`` of a market order (validation, client-id rule, funds
  check, book walk, one fill record and ledger entries per level taken, position and
  fee booking, the returned ``Order``), book consumption off so every order sees the
  same book, alternating buy and sell so the position stays flat;
- the baseline: a plain loop over a sorted list of (price, amount) tuples computing the
  VWAP of the same amounts, no objects.

Prints one JSON line; ``measure()`` returns the same figures as a dict. Run from the
project root: ``python tests/bench/venue_matching.py``.
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from core.clock import SimulatedClock  # noqa: E402
from core.events import BookDelta, Level  # noqa: E402
from core.models import OrderRequest  # noqa: E402
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig  # noqa: E402
from exchanges.paper.venue import PaperVenue  # noqa: E402

DATA_FILE = ROOT / "data/binance-2024-08-08/hftbacktest/usdm/btcusdt_20240808.gz"
SYMBOL = "BTC/USDT:USDT"
ORDER_AMOUNT = Decimal("2.5")  # BTC: walks a handful of levels of this book


def first_snapshot(path: Path = DATA_FILE) -> tuple[int, tuple[Level, ...], tuple[Level, ...]]:
    """Return (ts_ns, bids, asks) of the first REST depth snapshot in the capture."""
    with gzip.open(path, "rb") as handle:
        for line in handle:
            if b'"lastUpdateId"' not in line[:64]:
                continue
            stamp, _, payload = line.partition(b" ")
            message = orjson.loads(payload)
            bids = tuple((Decimal(p), Decimal(a)) for p, a in message["bids"])
            asks = tuple((Decimal(p), Decimal(a)) for p, a in message["asks"])
            return int(stamp), bids, asks
    raise RuntimeError(f"{path}: no depth snapshot found")


def _venue(ts_ns: int, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> PaperVenue:
    config = PaperVenueConfig(
        consume_book_liquidity=False,
        liquidation_model=LiquidationModelConfig(enabled=False),
    )
    venue = PaperVenue(
        "binance",
        SimulatedClock(ts_ns),
        config=config,
        initial_balances={"USDT": Decimal(10) ** 12},
    )
    venue.on_market_event(BookDelta(ts_ns, "binance", SYMBOL, bids, asks, snapshot=True))
    return venue


def run_venue(venue: PaperVenue, orders: int) -> float:
    """Submit ``orders`` market orders; return the seconds taken."""
    # One request per side, reused: Binance accepts a client order id again once the
    # order holding it is closed, and a market order closes at once.
    buy = OrderRequest(
        client_order_id="benchbuy", symbol=SYMBOL, side="buy", type="market", amount=ORDER_AMOUNT
    )
    sell = OrderRequest(
        client_order_id="benchsell", symbol=SYMBOL, side="sell", type="market", amount=ORDER_AMOUNT
    )
    submit = venue.submit
    start = time.perf_counter()
    for _ in range(orders // 2):
        submit(buy)
        submit(sell)
    return time.perf_counter() - start


def run_baseline(bids: tuple[Level, ...], asks: tuple[Level, ...], orders: int) -> float:
    """Walk the same levels for the same amounts computing each VWAP; return the seconds."""
    ask_levels = sorted(asks)
    bid_levels = sorted(bids, reverse=True)
    amount = ORDER_AMOUNT
    start = time.perf_counter()
    for _ in range(orders // 2):
        for levels in (ask_levels, bid_levels):
            left = amount
            value = Decimal(0)
            for price, size in levels:
                take = size if size < left else left
                value += price * take
                left -= take
                if not left:
                    break
            _vwap = value / (amount - left)
    return time.perf_counter() - start


def measure(orders: int = 20_000) -> dict[str, Any]:
    """Time both loops on the same book and orders; return the figures."""
    ts_ns, bids, asks = first_snapshot()
    venue = _venue(ts_ns, bids, asks)
    run_venue(venue, 200)  # warm up
    fills_before = venue.stats()["fills"]
    gc.collect()
    venue_s = run_venue(venue, orders)
    fills = venue.stats()["fills"] - fills_before
    run_baseline(bids, asks, 200)
    gc.collect()
    baseline_s = run_baseline(bids, asks, orders)
    problems = venue.check_conservation()
    return {
        "bench": "venue_matching",
        "book": f"{DATA_FILE.name} first snapshot: {len(bids)} bids, {len(asks)} asks",
        "order": f"market {ORDER_AMOUNT} BTC, alternating buy/sell",
        "orders": orders,
        "levels_per_order": round(fills / orders, 2),
        "venue_orders_per_s": round(orders / venue_s),
        "baseline_orders_per_s": round(orders / baseline_s),
        "venue_us_per_order": round(venue_s / orders * 1e6, 2),
        "baseline_us_per_order": round(baseline_s / orders * 1e6, 2),
        "ratio_venue_to_baseline_time": round(venue_s / baseline_s, 2),
        "conservation_ok": not problems,
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
