"""A synthetic population of other traders' leveraged positions whose liquidations we simulate.

No public recording of forced liquidations comes with the embedded data, so the paper
venue makes its own: per perpetual, ``positions_per_side`` long and as many short
positions, each an equal share of the open interest (from ``MarkEvent.open_interest``
when the feed has it, else ``default_open_interest_notional``). Each position has

- a leverage drawn from ``leverage_levels`` with the side's weights (longs lean higher);
- an entry price: at start, drawn around the first price seen as if opened uniformly
  over the last ``lookback_hours`` under ``entry_daily_vol`` (positions that would
  already be past their liquidation price are drawn again); later, the price at which
  it replaced a closed one;
- a liquidation price ``entry * (1 - 1/leverage + mmr)`` for a long and
  ``entry * (1 + 1/leverage - mmr)`` for a short (mmr from the market's rules), and a
  bankruptcy price ``entry * (1 -/+ 1/leverage)`` that limits its forced order;
- a voluntary exit time, exponential with mean ``mean_holding_hours``.

When the observed price path crosses a liquidation price the position is liquidated:
``observe`` returns it, and the venue turns it into a ``Liquidation(source="model")``
and executes it as a market order against its book. Every position that leaves (forced
or voluntary) is replaced at once by a new one at the current price, so the open
interest stays where the feed says it is.

Calibration. Cheng, Deng, Li and Xu (2021) report that on average about 3.5% of open
interest is liquidated per day on the long side and 1.9% on the short side. With a
driftless path, both sides see the same moves, so the asymmetry has to come from the
leverage mix: longs carry more high leverage. The defaults were tuned on a seeded
geometric Brownian motion with 3% daily volatility sampled every minute (24 seeds,
each path with its mirror, 30 days each) and give 3.5% (longs) and 1.9% (shorts) per
day (``measure_daily_fractions`` re-runs it). Driven by the real Bybit BTCUSDT perpetual
minute bars of 2022-12-13 00:00-12:00 UTC (realized volatility 1.8% a day), the
default population (seed 0) liquidates 2.0% of open interest a day on longs and 1.8%
on shorts; tests/unit/exchanges/paper/test_liquidation_model.py checks both.

Limits, stated plainly: the liquidated fraction scales roughly with volatility over
leverage, so a calm day gives far less and a crash far more, which is the point, but
the leverage mix, the holding time and the equal position sizes are assumptions tuned
to one published average, not estimated from positions; liquidations trigger on the
price path the venue observes (trades, bar extremes, marks, book mids), not on a true
mark price; a forced order is one order of a whole synthetic position (coarse when
``positions_per_side`` is small next to the open interest); cascades come only through
the prices the venue observes next, never within one event.

Deterministic: each symbol draws from its own ``random.Random`` seeded by (seed, symbol).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Literal

from exchanges.paper.config import LiquidationModelConfig

_NS_PER_HOUR = 3_600 * 1_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR


@dataclass(frozen=True, slots=True)
class SyntheticLiquidation:
    """One synthetic position crossed: ``side`` is the forced order's side."""

    side: Literal["buy", "sell"]  # "sell" liquidates a long, "buy" a short
    trigger_price: float
    bankruptcy_price: float
    amount: float  # contracts
    leverage: float


@dataclass(slots=True)
class _Position:
    ident: int
    is_long: bool
    leverage: float
    entry: float
    liquidation: float
    exit_ns: int


class SymbolPopulation:
    """The synthetic positions of one perpetual."""

    def __init__(
        self,
        config: LiquidationModelConfig,
        mmr: float,
        contract_size: float,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._mmr = mmr
        self._contract_size = contract_size
        self._rng = rng
        self._alive: dict[int, _Position] = {}
        self._longs: list[tuple[float, int]] = []  # (-liquidation price, id): max first
        self._shorts: list[tuple[float, int]] = []  # (liquidation price, id): min first
        self._exits: list[tuple[int, int]] = []  # (exit time, id)
        self._next_id = 0
        self._open_interest: float | None = None  # contracts
        self._mean_holding_ns = config.mean_holding_hours * _NS_PER_HOUR
        self.liquidated = {"long": 0, "short": 0}
        self.started_ns: int | None = None
        self.last_ns = 0

    @property
    def initialized(self) -> bool:
        return self.started_ns is not None

    def set_open_interest(self, contracts: float) -> None:
        """Size every position as an equal share of ``contracts`` from now on."""
        if contracts > 0:
            self._open_interest = contracts

    def position_amount(self, price: float) -> float:
        """Contracts of one synthetic position at ``price``."""
        oi = self._open_interest
        if oi is None:
            oi = float(self._config.default_open_interest_notional) / (price * self._contract_size)
        return oi / self._config.positions_per_side

    def __len__(self) -> int:
        return len(self._alive)

    # -- POPULATION -----------------------------------------------------------

    def _open(self, is_long: bool, entry: float, now_ns: int) -> _Position:
        config = self._config
        weights = config.long_weights if is_long else config.short_weights
        leverage = self._rng.choices(config.leverage_levels, weights)[0]
        move = 1.0 / leverage - self._mmr
        liquidation = entry * (1.0 - move) if is_long else entry * (1.0 + move)
        exit_ns = now_ns + int(self._rng.expovariate(1.0) * self._mean_holding_ns) + 1
        self._next_id += 1
        return _Position(self._next_id, is_long, leverage, entry, liquidation, exit_ns)

    def _add(self, position: _Position) -> None:
        self._alive[position.ident] = position
        if position.is_long:
            heapq.heappush(self._longs, (-position.liquidation, position.ident))
        else:
            heapq.heappush(self._shorts, (position.liquidation, position.ident))
        heapq.heappush(self._exits, (position.exit_ns, position.ident))

    def _initialize(self, price: float, now_ns: int) -> None:
        config, rng = self._config, self._rng
        lookback_days = config.lookback_hours / 24.0
        for is_long in (True, False):
            for _ in range(config.positions_per_side):
                position: _Position | None = None
                for _attempt in range(20):
                    age = rng.random() * lookback_days
                    entry = price * math.exp(config.entry_daily_vol * math.sqrt(age) * rng.gauss())
                    candidate = self._open(is_long, entry, now_ns)
                    alive = (
                        candidate.liquidation < price if is_long else candidate.liquidation > price
                    )
                    if alive:
                        position = candidate
                        break
                if position is None:  # every draw was already past liquidation
                    position = self._open(is_long, price, now_ns)
                self._add(position)
        self.started_ns = now_ns

    def _compact(self) -> None:
        """Drop heap entries of positions that have left (kept lazily until now)."""
        alive = self._alive
        self._longs = [e for e in self._longs if e[1] in alive]
        self._shorts = [e for e in self._shorts if e[1] in alive]
        self._exits = [e for e in self._exits if e[1] in alive]
        heapq.heapify(self._longs)
        heapq.heapify(self._shorts)
        heapq.heapify(self._exits)

    # -- OBSERVE --------------------------------------------------------------

    def observe(self, price: float, now_ns: int) -> list[SyntheticLiquidation]:
        """Move the population to ``price`` at ``now_ns``; return the positions liquidated."""
        if price <= 0 or not math.isfinite(price):
            return []
        if self.started_ns is None:
            self._initialize(price, now_ns)
        if now_ns > self.last_ns:
            self.last_ns = now_ns
        alive = self._alive
        exits = self._exits
        while exits and exits[0][0] <= now_ns:
            _, ident = heapq.heappop(exits)
            leaving = alive.pop(ident, None)
            if leaving is not None:
                self._add(self._open(leaving.is_long, price, now_ns))
        out: list[SyntheticLiquidation] = []
        longs = self._longs
        while longs and -longs[0][0] >= price:
            _, ident = heapq.heappop(longs)
            crossed = alive.pop(ident, None)
            if crossed is not None:
                out.append(self._liquidate(crossed, price))
                self._add(self._open(True, price, now_ns))
        shorts = self._shorts
        while shorts and shorts[0][0] <= price:
            _, ident = heapq.heappop(shorts)
            crossed = alive.pop(ident, None)
            if crossed is not None:
                out.append(self._liquidate(crossed, price))
                self._add(self._open(False, price, now_ns))
        limit = 4 * len(alive) + 64
        if len(longs) + len(shorts) + len(exits) > limit:
            self._compact()
        return out

    def _liquidate(self, position: _Position, price: float) -> SyntheticLiquidation:
        self.liquidated["long" if position.is_long else "short"] += 1
        lev = position.leverage
        amount = self.position_amount(price)
        if position.is_long:
            bankruptcy = position.entry * (1.0 - 1.0 / lev)
            return SyntheticLiquidation("sell", position.liquidation, bankruptcy, amount, lev)
        bankruptcy = position.entry * (1.0 + 1.0 / lev)
        return SyntheticLiquidation("buy", position.liquidation, bankruptcy, amount, lev)

    def daily_fractions(self) -> tuple[float, float]:
        """Return the share of open interest liquidated per day so far: (longs, shorts)."""
        if self.started_ns is None or self.last_ns <= self.started_ns:
            return 0.0, 0.0
        days = (self.last_ns - self.started_ns) / _NS_PER_DAY
        n = self._config.positions_per_side
        return self.liquidated["long"] / n / days, self.liquidated["short"] / n / days


class LiquidationModel:
    """The synthetic populations of every perpetual of one venue."""

    def __init__(self, config: LiquidationModelConfig, seed: int) -> None:
        self.config = config
        self._seed = seed
        self._populations: dict[str, SymbolPopulation] = {}

    def add_symbol(self, symbol: str, mmr: float, contract_size: float) -> None:
        """Give ``symbol`` its own population (and its own random stream)."""
        rng = random.Random(f"{self._seed}:{symbol}")
        self._populations[symbol] = SymbolPopulation(self.config, mmr, contract_size, rng)

    def population(self, symbol: str) -> SymbolPopulation | None:
        return self._populations.get(symbol)

    def set_open_interest(self, symbol: str, contracts: float) -> None:
        population = self._populations.get(symbol)
        if population is not None:
            population.set_open_interest(contracts)

    def observe(self, symbol: str, price: float, now_ns: int) -> list[SyntheticLiquidation]:
        """Feed one price of ``symbol``; return the synthetic positions it liquidates."""
        population = self._populations.get(symbol)
        if population is None:
            return []
        return population.observe(price, now_ns)


def measure_daily_fractions(
    config: LiquidationModelConfig,
    *,
    days: float,
    daily_vol: float,
    seed: int,
    mmr: float = 0.005,
    step_s: int = 60,
    mirror: bool = False,
) -> tuple[float, float]:
    """Drive one population with a seeded driftless GBM; return the daily liquidated fractions.

    ``mirror`` negates every shock: averaging a path with its mirror cancels the drift a
    single finite path has, which otherwise decides whether longs or shorts suffer. The
    helper the calibration was done with, kept so it can be re-run when the defaults change.
    """
    rng = random.Random(seed)
    population = SymbolPopulation(config, mmr, 1.0, random.Random(seed + 1))
    price, now_ns = 20_000.0, 0
    step_vol = daily_vol * math.sqrt(step_s / 86_400)
    sign = -1.0 if mirror else 1.0
    for _ in range(int(days * 86_400 / step_s)):
        population.observe(price, now_ns)
        price *= math.exp(sign * step_vol * rng.gauss() - 0.5 * step_vol * step_vol)
        now_ns += step_s * 1_000_000_000
    population.observe(price, now_ns)
    return population.daily_fractions()
