"""A small hand-made replay with recorded liquidations, for the forwarding tests (not real data).

Bybit BTC/USDT:USDT quotes falling from 17,000 to 15,000 with three recorded forced
sells on the way; written as a normalized ``*.swarm.parquet`` file. The figures are
invented to exercise the plumbing, and say nothing about any market.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from core.events import Liquidation, MarketEvent, TopOfBook
from exchanges.feeds.normalized import write_events

VENUE = "bybit"
SYMBOL = "BTC/USDT:USDT"
S = 1_000_000_000
T0 = 1_700_000_000 * S


def recorded_liquidations() -> list[Liquidation]:
    return [
        Liquidation(
            T0 + (2 + i) * S,
            VENUE,
            SYMBOL,
            "sell",
            D(17_000 - 400 * (2 + i) - 50),
            D("1.5"),
            "recorded",
        )
        for i in range(3)
    ]


def events() -> list[MarketEvent]:
    quotes: list[MarketEvent] = [
        TopOfBook(T0 + i * S, VENUE, SYMBOL, D(17_000 - 400 * i), D(5), D(17_000.5 - 400 * i), D(5))
        for i in range(6)
    ]
    return sorted([*quotes, *recorded_liquidations()], key=lambda e: e.ts_ns)


def write_replay(directory: Path) -> Path:
    """Write the replay into ``directory``; return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    write_events(directory / "bybit_20231114T221320Z.swarm.parquet", events())
    return directory
