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

Numbers. Every price and amount the model holds, compares or emits is a ``Decimal``:
entry, liquidation and bankruptcy prices are on the population's price grid (the
market's tick when ``add_symbol`` is given one, else nine significant digits of the
first price observed), and a forced order's amount is rounded down to the market's lot
(``amount_step``, else ``1e-8``). The leverage levels and the mmr enter as exact
Decimals (a float from config goes through its shortest repr, ``2.0`` -> ``2.0``), so
the price multipliers ``1 -/+ (1/leverage - mmr)`` are computed once per population in
Decimal. ``random.Random`` floats shape the distributions only: the leverage choice,
the exit time (nanoseconds, an int) and the initial entry's log-normal factor
``exp(entry_daily_vol * sqrt(age) * gauss)``, which is converted to Decimal once, when
the position is created, quantized to ``1e-12`` (half-even), and then multiplied with
the Decimal price and quantized to the grid. No float ever holds a price or an amount.

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
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from itertools import accumulate
from typing import Literal

from core.money import ONE, quantize_to_step, to_decimal
from exchanges.paper.config import LiquidationModelConfig

_NS_PER_HOUR = 3_600 * 1_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR

_FACTOR_QUANTUM = Decimal("1e-12")
"""Grid of the initial entry's random factor when it leaves float for Decimal."""
_GRID_DIGITS = 9
"""Significant digits of the first price that make the price grid when no tick is given."""
_DEFAULT_AMOUNT_STEP = Decimal("1e-8")
"""Lot of the emitted amounts when no ``amount_step`` is given (the venue rounds again)."""


def _exact(value: Decimal | float, field: str) -> Decimal:
    """Return ``value`` as a Decimal; a float (a rate or size from config) via its shortest repr."""
    if isinstance(value, float):
        return to_decimal(repr(value), field)
    return to_decimal(value, field)


def _rounder(tick: Decimal) -> Callable[[Decimal], Decimal]:
    """Return a function rounding a price half-even to a multiple of ``tick``.

    A power of ten (the usual tick) needs one ``quantize``; any other step goes through
    ``quantize_to_step``. Both give the same value.
    """
    normal = tick.normalize()
    if normal.as_tuple().digits == (1,):
        return partial(_quantize_half_even, quantum=normal)
    return partial(_to_step, step=tick)  # partials, not lambdas: a paper venue is saved by pickle


def _quantize_half_even(price: Decimal, quantum: Decimal) -> Decimal:
    return price.quantize(quantum, ROUND_HALF_EVEN)


def _to_step(price: Decimal, step: Decimal) -> Decimal:
    return quantize_to_step(price, step)


def _unset_grid(price: Decimal) -> Decimal:
    raise AssertionError("the price grid is set before the first position opens")


@dataclass(frozen=True, slots=True)
class SyntheticLiquidation:
    """One synthetic position crossed: ``side`` is the forced order's side."""

    side: Literal["buy", "sell"]  # "sell" liquidates a long, "buy" a short
    trigger_price: Decimal
    bankruptcy_price: Decimal
    amount: Decimal  # contracts, on the lot
    leverage: Decimal


@dataclass(slots=True)
class _Position:
    ident: int
    is_long: bool
    level: int  # index into the leverage levels
    entry: Decimal
    liquidation: Decimal
    exit_ns: int


class SymbolPopulation:
    """The synthetic positions of one perpetual."""

    def __init__(
        self,
        config: LiquidationModelConfig,
        mmr: Decimal,
        contract_size: Decimal,
        rng: random.Random,
        *,
        price_tick: Decimal | None = None,
        amount_step: Decimal | None = None,
    ) -> None:
        self._config = config
        self._mmr = mmr
        self._contract_size = contract_size
        self._rng = rng
        self._price_tick: Decimal | None = None  # set by the first price when not given
        self._to_grid: Callable[[Decimal], Decimal] = _unset_grid
        if price_tick is not None:
            self._set_price_tick(price_tick)
        self._amount_step = amount_step or _DEFAULT_AMOUNT_STEP
        levels = [_exact(level, "leverage") for level in config.leverage_levels]
        self._leverages = levels
        # What ``random.choices(levels, weights)`` does, unrolled: the same draws.
        self._long_cum = list(accumulate(config.long_weights))
        self._short_cum = list(accumulate(config.short_weights))
        self._long_total = self._long_cum[-1] + 0.0
        self._short_total = self._short_cum[-1] + 0.0
        # Price multipliers per leverage level, computed once in Decimal.
        self._long_liq = [ONE - (ONE / lev - mmr) for lev in levels]
        self._short_liq = [ONE + (ONE / lev - mmr) for lev in levels]
        self._long_bankrupt = [ONE - ONE / lev for lev in levels]
        self._short_bankrupt = [ONE + ONE / lev for lev in levels]
        self._alive: dict[int, _Position] = {}
        self._longs: list[tuple[Decimal, int]] = []  # (-liquidation price, id): max first
        self._shorts: list[tuple[Decimal, int]] = []  # (liquidation price, id): min first
        self._exits: list[tuple[int, int]] = []  # (exit time, id)
        self._next_id = 0
        self._open_interest: Decimal | None = None  # contracts
        self._mean_holding_ns = config.mean_holding_hours * _NS_PER_HOUR
        self.liquidated = {"long": 0, "short": 0}
        self.started_ns: int | None = None
        self.last_ns = 0

    @property
    def initialized(self) -> bool:
        return self.started_ns is not None

    @property
    def price_tick(self) -> Decimal | None:
        """The grid of every price the population holds (None before the first price)."""
        return self._price_tick

    def set_open_interest(self, contracts: Decimal) -> None:
        """Size every position as an equal share of ``contracts`` from now on."""
        if contracts > 0:
            self._open_interest = contracts

    def position_amount(self, price: Decimal) -> Decimal:
        """Contracts of one synthetic position at ``price``, rounded down to the lot."""
        oi = self._open_interest
        if oi is None:
            oi = self._config.default_open_interest_notional / (price * self._contract_size)
        return quantize_to_step(oi / self._config.positions_per_side, self._amount_step, "down")

    def __len__(self) -> int:
        return len(self._alive)

    # -- POPULATION -----------------------------------------------------------

    def _set_price_tick(self, tick: Decimal) -> None:
        self._price_tick = tick
        self._to_grid = _rounder(tick)

    def _open(self, is_long: bool, entry: Decimal, now_ns: int) -> _Position:
        rng = self._rng
        if is_long:
            cum, total = self._long_cum, self._long_total
        else:
            cum, total = self._short_cum, self._short_total
        level = bisect(cum, rng.random() * total, 0, len(cum) - 1)
        factor = self._long_liq[level] if is_long else self._short_liq[level]
        liquidation = self._to_grid(entry * factor)
        exit_ns = now_ns + int(rng.expovariate(1.0) * self._mean_holding_ns) + 1
        self._next_id += 1
        return _Position(self._next_id, is_long, level, entry, liquidation, exit_ns)

    def _add(self, position: _Position) -> None:
        self._alive[position.ident] = position
        if position.is_long:
            heapq.heappush(self._longs, (-position.liquidation, position.ident))
        else:
            heapq.heappush(self._shorts, (position.liquidation, position.ident))
        heapq.heappush(self._exits, (position.exit_ns, position.ident))

    def _initialize(self, price: Decimal, now_ns: int) -> None:
        config, rng = self._config, self._rng
        if self._price_tick is None:
            self._set_price_tick(ONE.scaleb(price.adjusted() - _GRID_DIGITS + 1))
        price = self._to_grid(price)
        lookback_days = config.lookback_hours / 24.0
        for is_long in (True, False):
            for _ in range(config.positions_per_side):
                position: _Position | None = None
                for _attempt in range(20):
                    age = rng.random() * lookback_days
                    shape = math.exp(config.entry_daily_vol * math.sqrt(age) * rng.gauss())
                    factor = Decimal(shape).quantize(_FACTOR_QUANTUM, ROUND_HALF_EVEN)
                    candidate = self._open(is_long, self._to_grid(price * factor), now_ns)
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

    def observe(self, price: Decimal, now_ns: int) -> list[SyntheticLiquidation]:
        """Move the population to ``price`` at ``now_ns``; return the positions liquidated."""
        if not price.is_finite() or price <= 0:
            return []
        if self.started_ns is None:
            self._initialize(price, now_ns)
        if now_ns > self.last_ns:
            self.last_ns = now_ns
        alive = self._alive
        exits = self._exits
        entry: Decimal | None = None  # ``price`` on the grid, for the positions opened now
        while exits and exits[0][0] <= now_ns:
            _, ident = heapq.heappop(exits)
            leaving = alive.pop(ident, None)
            if leaving is not None:
                if entry is None:
                    entry = self._to_grid(price)
                self._add(self._open(leaving.is_long, entry, now_ns))
        out: list[SyntheticLiquidation] = []
        longs = self._longs
        while longs and -longs[0][0] >= price:
            _, ident = heapq.heappop(longs)
            crossed = alive.pop(ident, None)
            if crossed is not None:
                if entry is None:
                    entry = self._to_grid(price)
                out.append(self._liquidate(crossed, price))
                self._add(self._open(True, entry, now_ns))
        shorts = self._shorts
        while shorts and shorts[0][0] <= price:
            _, ident = heapq.heappop(shorts)
            crossed = alive.pop(ident, None)
            if crossed is not None:
                if entry is None:
                    entry = self._to_grid(price)
                out.append(self._liquidate(crossed, price))
                self._add(self._open(False, entry, now_ns))
        limit = 4 * len(alive) + 64
        if len(longs) + len(shorts) + len(exits) > limit:
            self._compact()
        return out

    def _liquidate(self, position: _Position, price: Decimal) -> SyntheticLiquidation:
        self.liquidated["long" if position.is_long else "short"] += 1
        level = position.level
        amount = self.position_amount(price)
        leverage = self._leverages[level]
        if position.is_long:
            bankruptcy = self._to_grid(position.entry * self._long_bankrupt[level])
            return SyntheticLiquidation("sell", position.liquidation, bankruptcy, amount, leverage)
        bankruptcy = self._to_grid(position.entry * self._short_bankrupt[level])
        return SyntheticLiquidation("buy", position.liquidation, bankruptcy, amount, leverage)

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

    def add_symbol(
        self,
        symbol: str,
        mmr: Decimal | float,
        contract_size: Decimal | float,
        *,
        price_tick: Decimal | None = None,
        amount_step: Decimal | None = None,
    ) -> None:
        """Give ``symbol`` its own population (and its own random stream).

        ``mmr`` and ``contract_size`` are taken as exact Decimals (a float through its
        shortest repr); ``price_tick`` and ``amount_step`` are the market's grid.
        """
        rng = random.Random(f"{self._seed}:{symbol}")
        self._populations[symbol] = SymbolPopulation(
            self.config,
            _exact(mmr, "mmr"),
            _exact(contract_size, "contract_size"),
            rng,
            price_tick=price_tick,
            amount_step=amount_step,
        )

    def population(self, symbol: str) -> SymbolPopulation | None:
        return self._populations.get(symbol)

    def set_open_interest(self, symbol: str, contracts: Decimal) -> None:
        population = self._populations.get(symbol)
        if population is not None:
            population.set_open_interest(contracts)

    def observe(self, symbol: str, price: Decimal, now_ns: int) -> list[SyntheticLiquidation]:
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
    mmr: Decimal = Decimal("0.005"),
    price_tick: Decimal = Decimal("0.01"),
    step_s: int = 60,
    mirror: bool = False,
) -> tuple[float, float]:
    """Drive one population with a seeded driftless GBM; return the daily liquidated fractions.

    ``mirror`` negates every shock: averaging a path with its mirror cancels the drift a
    single finite path has, which otherwise decides whether longs or shorts suffer. The
    path's shape is a float random walk; each step's price leaves it once, as a Decimal
    on ``price_tick``. The helper the calibration was done with, kept so it can be re-run
    when the defaults change.
    """
    rng = random.Random(seed)
    population = SymbolPopulation(config, mmr, ONE, random.Random(seed + 1), price_tick=price_tick)
    to_grid = _rounder(price_tick)
    shape, now_ns = 20_000.0, 0  # the path's level as a float: a random draw, not a price
    step_vol = daily_vol * math.sqrt(step_s / 86_400)
    sign = -1.0 if mirror else 1.0
    for _ in range(int(days * 86_400 / step_s)):
        population.observe(to_grid(Decimal(shape)), now_ns)
        shape *= math.exp(sign * step_vol * rng.gauss() - 0.5 * step_vol * step_vol)
        now_ns += step_s * 1_000_000_000
    population.observe(to_grid(Decimal(shape)), now_ns)
    return population.daily_fractions()
