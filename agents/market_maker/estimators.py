"""Online estimators of the model's inputs: the mid's volatility and the fill intensity.

Both are pure and incremental: ``update_*(state, observation) -> state`` on frozen
slotted dataclasses, with exponential forgetting in *time* (a half-life in
seconds), so irregularly spaced events weigh by how long ago they happened,
not by how many came since. Same inputs, same outputs: no clock, no randomness.

Volatility. Each new mid gives a log return ``r`` over ``dt`` seconds; the
estimator keeps decayed sums ``S_r2 = sum w r^2`` and ``S_dt = sum w dt`` and
reports ``sigma^2 = S_r2 / S_dt`` per second (the realized variance over the
elapsed time, so a burst of quick updates does not inflate it). ``sigma`` is a
relative (return) volatility; the quoting core wants it in price units, which
is ``sigma * mid``.

Intensity. Avellaneda-Stoikov's fill rate at depth ``delta`` is
``lambda(delta) = A exp(-k delta)``: the rate of market orders that reach
``delta`` away from the mid. Each public trade is a print at depth
``|price - mid|`` (a buy lifts asks above the mid, a sell hits bids below it).
The estimator counts prints per depth bucket (decayed) and the observed time
(decayed); the tail counts ``N(>= delta_i) / (2 * time)`` estimate the per-side
``lambda(delta_i)``, and a least-squares line through ``ln lambda`` against
``delta_i`` gives ``ln A`` (intercept) and ``-k`` (slope). The fit is refused
(``None``) with fewer than ``min_buckets`` buckets holding ``min_count`` prints
each in the tail, or if the slope does not decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

NS_PER_S = 1_000_000_000


def _decay(dt_s: float, half_life_s: float) -> float:
    return math.exp(-math.log(2.0) * dt_s / half_life_s)


# -- VOLATILITY ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolatilityState:
    """Decayed realized variance of the mid's log returns, per second."""

    half_life_s: float
    last_mid: float | None = None
    last_ts_ns: int | None = None
    sum_r2: float = 0.0
    sum_dt_s: float = 0.0
    returns: int = 0


def update_volatility(state: VolatilityState, mid: float, ts_ns: int) -> VolatilityState:
    """Fold in a mid observed at ``ts_ns``; ignore non-positive, non-finite or old mids."""
    if not math.isfinite(mid) or mid <= 0:
        return state
    if state.last_mid is None or state.last_ts_ns is None:
        return replace(state, last_mid=mid, last_ts_ns=ts_ns)
    if ts_ns <= state.last_ts_ns:
        return state
    dt_s = (ts_ns - state.last_ts_ns) / NS_PER_S
    r = math.log(mid / state.last_mid)
    w = _decay(dt_s, state.half_life_s)
    return replace(
        state,
        last_mid=mid,
        last_ts_ns=ts_ns,
        sum_r2=state.sum_r2 * w + r * r,
        sum_dt_s=state.sum_dt_s * w + dt_s,
        returns=state.returns + 1,
    )


def volatility_per_sqrt_s(state: VolatilityState, min_returns: int = 10) -> float | None:
    """Return the relative volatility per sqrt(second), or ``None`` before ``min_returns``."""
    if state.returns < min_returns or state.sum_dt_s <= 0:
        return None
    return math.sqrt(state.sum_r2 / state.sum_dt_s)


# -- FILL INTENSITY -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntensityState:
    """Decayed counts of trade prints per depth bucket, and the decayed time observed.

    Bucket ``i`` holds prints with depth in ``[i * width, (i + 1) * width)``; the
    last bucket also takes everything deeper.
    """

    bucket_width: float  # price units
    half_life_s: float
    counts: tuple[float, ...]
    observed_s: float = 0.0
    last_ts_ns: int | None = None
    trades: int = 0  # prints recorded so far (a fit stays valid until the next one, or its expiry)


def new_intensity_state(bucket_width: float, buckets: int, half_life_s: float) -> IntensityState:
    """Return an empty intensity estimator with ``buckets`` depth buckets of ``bucket_width``."""
    if bucket_width <= 0 or buckets < 2 or half_life_s <= 0:
        raise ValueError("need bucket_width > 0, buckets >= 2, half_life_s > 0")
    return IntensityState(
        bucket_width=bucket_width, half_life_s=half_life_s, counts=(0.0,) * buckets
    )


def advance_intensity(state: IntensityState, ts_ns: int) -> IntensityState:
    """Move the estimator's time to ``ts_ns``: decay the counts, add the time observed."""
    if state.last_ts_ns is None:
        return replace(state, last_ts_ns=ts_ns)
    if ts_ns <= state.last_ts_ns:
        return state
    dt_s = (ts_ns - state.last_ts_ns) / NS_PER_S
    w = _decay(dt_s, state.half_life_s)
    # The decayed integral of dt, the time a decayed count is divided by; expm1
    # keeps it exact when the half-life is long against dt.
    rate = math.log(2.0) / state.half_life_s
    return replace(
        state,
        counts=tuple(c * w for c in state.counts),
        observed_s=state.observed_s * w - math.expm1(-rate * dt_s) / rate,
        last_ts_ns=ts_ns,
    )


def record_trade(
    state: IntensityState, price: float, mid: float, ts_ns: int, amount: float = 1.0
) -> IntensityState:
    """Count one public trade at depth ``|price - mid|``; ``amount`` weighs it (1: count prints)."""
    if not (math.isfinite(price) and math.isfinite(mid)) or mid <= 0:
        return state
    state = advance_intensity(state, ts_ns)
    depth = abs(price - mid)
    index = min(int(depth / state.bucket_width), len(state.counts) - 1)
    counts = list(state.counts)
    counts[index] += amount
    return replace(state, counts=tuple(counts), trades=state.trades + 1)


@dataclass(frozen=True, slots=True)
class IntensityFit:
    """``lambda(delta) = a * exp(-k * delta)`` per side, ``a`` in 1/s and ``k`` in 1/price."""

    a: float
    k: float
    buckets_used: int
    k_valid_until_ns: int | None = None
    """Until this feed time, with no new print, ``k`` stays what it is (None: unknown).

    Decay scales every count alike, which leaves the tails' ratios — and so ``k`` — as
    they are; only the shallowest tail that qualified falling below ``min_count`` (the
    prefix of buckets fitted shrinks) changes it. ``a`` does move with the time observed.
    """


def fit_intensity(
    state: IntensityState, min_count: float = 5.0, min_buckets: int = 3
) -> IntensityFit | None:
    """Fit ``(A, k)`` by least squares on ``ln`` of the per-side tail rates, or return ``None``.

    Only buckets whose tail holds at least ``min_count`` prints enter the fit (thin
    tails are noise). The tail of the overflow bucket is still exact: it counts
    every print at or beyond its lower edge.
    """
    if state.observed_s <= 0:
        return None
    xs: list[float] = []
    ys: list[float] = []
    tail = 0.0
    tails: list[float] = []
    for count in reversed(state.counts):
        tail += count
        tails.append(tail)
    tails.reverse()
    for i, tail_count in enumerate(tails):
        if tail_count < min_count:
            break
        xs.append(i * state.bucket_width)
        ys.append(math.log(tail_count / (2.0 * state.observed_s)))
    if len(xs) < min_buckets:
        return None
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    if not slope < 0:
        return None
    valid_until = None
    if state.last_ts_ns is not None:  # when the last fitted tail decays below min_count
        drop_s = state.half_life_s * math.log2(tails[n - 1] / min_count)
        valid_until = state.last_ts_ns + max(0, math.floor(drop_s * NS_PER_S) - 1)
    return IntensityFit(
        a=math.exp(mean_y - slope * mean_x), k=-slope, buckets_used=n, k_valid_until_ns=valid_until
    )


# -- TRADE FLOW ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowState:
    """Decayed volumes (quote currency) of the public trades' aggressors, buy and sell."""

    half_life_s: float
    buy: float = 0.0
    sell: float = 0.0
    last_ts_ns: int | None = None


def update_flow(state: FlowState, is_buy: bool, notional: float, ts_ns: int) -> FlowState:
    """Fold in one public trade: decay both sides to ``ts_ns``, add ``notional`` to its side."""
    if not (math.isfinite(notional) and notional > 0):
        return state
    w = 1.0
    if state.last_ts_ns is not None and ts_ns > state.last_ts_ns:
        w = _decay((ts_ns - state.last_ts_ns) / NS_PER_S, state.half_life_s)
    last = ts_ns if state.last_ts_ns is None else max(ts_ns, state.last_ts_ns)
    buy, sell = state.buy * w, state.sell * w
    if is_buy:
        buy += notional
    else:
        sell += notional
    return replace(state, buy=buy, sell=sell, last_ts_ns=last)


def flow_imbalance(state: FlowState) -> float:
    """Return ``(buy - sell) / (buy + sell)`` of the recent aggressors, in [-1, 1] (0: none).

    Aggressive buying tends to go on for a while (order splitting, cascades): a maker
    whose centre leans the same way is swept less often on the side the flow hits.
    """
    total = state.buy + state.sell
    return (state.buy - state.sell) / total if total > 0 else 0.0
