"""The simulation's market: real Bybit BTCUSDT quote bars of 2022-12-13, jittered per seed.

Each step moves one bar along the recorded spot mids (about 17,200 USDT on the
US CPI morning), adds a seeded jitter, and returns the events the paper venue
needs: a top of book for the spot and the perpetual market, and a few public
trades around the mid so that resting limits fill. All prices are whole ticks
(Decimal, no float).
"""

from __future__ import annotations

import csv
import functools
import random
from decimal import Decimal
from pathlib import Path

from core.events import FundingEvent, MarketEvent, TopOfBook, TradeTick

QUOTE_BARS = (
    Path(__file__).resolve().parents[2]
    / "data/bybit-btcusdt-2022-12-13/lean/crypto/bybit/minute/btcusdt"
    / "20221213_btcusdt_minute_quote.csv"
)
"""Lean quote bars: ms, bid open/high/low/close, bid size, ask open/high/low/close, ask size."""

D = Decimal


@functools.cache
def recorded_mids() -> tuple[Decimal, ...]:
    """Return the mid of each recorded bar's closing quote, in file order."""
    mids: list[Decimal] = []
    with QUOTE_BARS.open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) != 11:
                raise ValueError(f"{QUOTE_BARS}: a quote bar has 11 fields, not {len(row)}")
            mids.append((D(row[4]) + D(row[9])) / 2)
    if len(mids) < 100:
        raise ValueError(f"{QUOTE_BARS}: only {len(mids)} bars")
    return tuple(mids)


class SimMarket:
    """A spot and a perpetual book of one venue, moved one recorded bar per step."""

    def __init__(
        self,
        rng: random.Random,
        venue: str,
        spot: str,
        perp: str,
        spot_tick: Decimal,
        perp_tick: Decimal,
    ) -> None:
        self._rng = rng
        self.venue = venue
        self.spot = spot
        self.perp = perp
        self._spot_tick = spot_tick
        self._perp_tick = perp_tick
        self._bar = rng.randrange(len(recorded_mids()))
        self._basis_ticks = rng.randint(-100, 0)  # perp below spot by up to 10 USDT
        self.mids: dict[tuple[str, str], Decimal] = {}
        self._move()

    def _move(self) -> None:
        bars = recorded_mids()
        self._bar = (self._bar + 1) % len(bars)
        jitter = D(self._rng.randint(-500, 500)) * D("0.01")
        spot_mid = _on_tick(bars[self._bar] + jitter, self._spot_tick)
        self._basis_ticks = max(-200, min(50, self._basis_ticks + self._rng.randint(-5, 5)))
        perp_mid = _on_tick(spot_mid + self._basis_ticks * self._perp_tick, self._perp_tick)
        self.mids = {(self.venue, self.spot): spot_mid, (self.venue, self.perp): perp_mid}

    def step(self, now_ns: int) -> list[MarketEvent]:
        """Move one bar and return the quotes and trades of this moment."""
        self._move()
        rng = self._rng
        events: list[MarketEvent] = []
        for symbol, tick in ((self.spot, self._spot_tick), (self.perp, self._perp_tick)):
            mid = self.mids[(self.venue, symbol)]
            half = rng.randint(1, 3) * tick
            bid_size = D(rng.randint(5, 300)) / 100
            ask_size = D(rng.randint(5, 300)) / 100
            events.append(
                TopOfBook(now_ns, self.venue, symbol, mid - half, bid_size, mid + half, ask_size)
            )
            for _ in range(rng.randint(0, 3)):
                offset = D(rng.randint(-6000, 6000)) * D("0.01")
                price = _on_tick(mid + offset, tick)
                amount = D(rng.randint(1, 200)) / 1000
                events.append(
                    TradeTick(
                        now_ns, self.venue, symbol, price, amount, "buy" if offset > 0 else "sell"
                    )
                )
        return events

    def funding(self, now_ns: int) -> FundingEvent:
        """Return a funding print for the perpetual at its current mid."""
        rate = D(self._rng.randint(-30, 30)) / 100_000
        mark = self.mids[(self.venue, self.perp)]
        return FundingEvent(now_ns, self.venue, self.perp, rate, D(8), mark)


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value() * tick
