"""The online estimators: convergence on seeded synthetic data, guards, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.market_maker.estimators import (
    VolatilityState,
    advance_intensity,
    fit_intensity,
    new_intensity_state,
    record_trade,
    update_volatility,
    volatility_per_sqrt_s,
)

NS = 1_000_000_000


def _feed_gbm(sigma: float, samples: int, seed: int, half_life_s: float) -> VolatilityState:
    rng = np.random.default_rng(seed)
    state = VolatilityState(half_life_s=half_life_s)
    mid, ts_ns = 100.0, 0
    state = update_volatility(state, mid, ts_ns)
    for dt_s, z in zip(rng.exponential(0.5, samples), rng.standard_normal(samples), strict=True):
        ts_ns += max(1, round(dt_s * NS))
        mid *= math.exp(sigma * math.sqrt(dt_s) * z - 0.5 * sigma**2 * dt_s)
        state = update_volatility(state, mid, ts_ns)
    return state


def test_volatility_converges_to_the_known_sigma_on_irregular_samples() -> None:
    state = _feed_gbm(sigma=0.001, samples=20_000, seed=7, half_life_s=1e9)
    estimate = volatility_per_sqrt_s(state)
    assert estimate is not None
    assert estimate == pytest.approx(0.001, rel=0.03)


def test_volatility_is_none_before_enough_returns() -> None:
    state = _feed_gbm(sigma=0.001, samples=5, seed=1, half_life_s=60.0)
    assert volatility_per_sqrt_s(state, min_returns=10) is None


def test_volatility_ignores_nan_and_out_of_order_mids() -> None:
    state = _feed_gbm(sigma=0.001, samples=50, seed=2, half_life_s=60.0)
    assert update_volatility(state, float("nan"), (state.last_ts_ns or 0) + NS) == state
    assert update_volatility(state, 0.0, (state.last_ts_ns or 0) + NS) == state
    assert update_volatility(state, 101.0, 0) == state


def test_volatility_forgets_an_old_regime_after_many_half_lives() -> None:
    calm_then_wild = _feed_gbm(sigma=0.0005, samples=5_000, seed=3, half_life_s=50.0)
    rng = np.random.default_rng(4)
    state, mid, ts_ns = calm_then_wild, calm_then_wild.last_mid or 100.0, calm_then_wild.last_ts_ns
    assert ts_ns is not None
    for z in rng.standard_normal(5_000):
        ts_ns += NS // 2
        mid *= math.exp(0.002 * math.sqrt(0.5) * z)
        state = update_volatility(state, mid, ts_ns)
    estimate = volatility_per_sqrt_s(state)
    assert estimate is not None
    assert estimate == pytest.approx(0.002, rel=0.15)


def _synthetic_trades(a: float, k: float, seconds: float, seed: int) -> list[tuple[int, float]]:
    """Return (ts_ns, price) prints: Poisson at 2A per second, depths Exp(k), either side."""
    rng = np.random.default_rng(seed)
    count = rng.poisson(2 * a * seconds)
    times = np.sort(rng.uniform(0, seconds, count))
    depths = rng.exponential(1 / k, count)
    signs = np.where(rng.random(count) < 0.5, 1.0, -1.0)
    return [(round(t * NS), 100.0 + s * d) for t, d, s in zip(times, depths, signs, strict=True)]


def test_intensity_fit_recovers_known_a_and_k() -> None:
    a, k, seconds = 2.0, 5.0, 2_000.0
    state = new_intensity_state(bucket_width=0.05, buckets=20, half_life_s=1e9)
    state = advance_intensity(state, 0)
    for ts_ns, price in _synthetic_trades(a, k, seconds, seed=11):
        state = record_trade(state, price, 100.0, ts_ns)
    state = advance_intensity(state, round(seconds * NS))
    assert state.observed_s == pytest.approx(seconds, rel=1e-6)
    fit = fit_intensity(state, min_count=20)
    assert fit is not None
    assert fit.k == pytest.approx(k, rel=0.1)
    assert fit.a == pytest.approx(a, rel=0.1)


def test_intensity_fit_refuses_too_little_data() -> None:
    state = new_intensity_state(bucket_width=0.05, buckets=20, half_life_s=600.0)
    assert fit_intensity(state) is None
    state = advance_intensity(state, 0)
    for ts_ns, price in _synthetic_trades(0.01, 5.0, 100.0, seed=12):
        state = record_trade(state, price, 100.0, ts_ns)
    state = advance_intensity(state, 100 * NS)
    assert fit_intensity(state, min_count=5, min_buckets=3) is None


def test_intensity_fit_refuses_a_depth_profile_that_does_not_decay() -> None:
    state = advance_intensity(new_intensity_state(0.1, 5, 1e9), 0)
    # Every print at the deepest bucket: the tail is flat, there is no decay to fit.
    for i in range(100):
        state = record_trade(state, 100.45, 100.0, i * NS)
    assert fit_intensity(state, min_count=5) is None


def test_intensity_estimator_is_deterministic() -> None:
    def run() -> object:
        state = advance_intensity(new_intensity_state(0.05, 20, 300.0), 0)
        for ts_ns, price in _synthetic_trades(2.0, 5.0, 200.0, seed=13):
            state = record_trade(state, price, 100.0, ts_ns)
        return fit_intensity(state)

    assert run() == run()
    assert run() is not None


def test_flow_when_trades_of_both_sides_then_imbalance_of_decayed_volumes() -> None:
    from agents.market_maker.estimators import FlowState, flow_imbalance, update_flow

    state = FlowState(half_life_s=1.0)
    assert flow_imbalance(state) == 0.0
    state = update_flow(state, True, 100.0, 0)
    state = update_flow(state, False, 100.0, 1_000_000_000)  # the buy has halved by then
    assert flow_imbalance(state) == pytest.approx((50.0 - 100.0) / 150.0)
    assert update_flow(state, True, float("nan"), 2_000_000_000) == state


def test_intensity_fit_when_only_time_passes_then_k_holds_until_its_expiry() -> None:
    """Decay scales every count alike: k stays until the last fitted tail drops below min_count."""
    state = advance_intensity(new_intensity_state(0.05, 20, 30.0), 0)
    for ts_ns, price in _synthetic_trades(2.0, 5.0, 200.0, seed=14):
        state = record_trade(state, price, 100.0, ts_ns)
    fit = fit_intensity(state, min_count=5)
    assert fit is not None and fit.k_valid_until_ns is not None
    assert state.last_ts_ns is not None and fit.k_valid_until_ns > state.last_ts_ns
    before = fit_intensity(advance_intensity(state, fit.k_valid_until_ns), min_count=5)
    assert before is not None
    assert before.k == pytest.approx(fit.k, rel=1e-9)
    assert before.buckets_used == fit.buckets_used
    assert before.a < fit.a  # A does move with the time observed
    after = fit_intensity(advance_intensity(state, fit.k_valid_until_ns + NS), min_count=5)
    assert after is None or after.buckets_used < fit.buckets_used


def test_record_trade_when_print_then_counted_for_the_fit_cache() -> None:
    state = advance_intensity(new_intensity_state(0.05, 20, 30.0), 0)
    assert state.trades == 0
    state = record_trade(state, 100.1, 100.0, NS)
    assert state.trades == 1
    assert record_trade(state, math.nan, 100.0, 2 * NS).trades == 1  # refused: not counted
