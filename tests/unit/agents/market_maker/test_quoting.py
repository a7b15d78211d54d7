"""The quoting core: formulas against hand-computed values, ticks, post-only, limits."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pytest

from agents.market_maker.quoting import (
    ModelParams,
    Quote,
    apply_spread_floor,
    as_half_spreads,
    build_quotes,
    glft_half_spreads,
    make_post_only,
    needs_refresh,
    optimal_spread,
    quote_sizes,
    reservation_price,
    time_left_s,
    to_ask_tick,
    to_bid_tick,
)
from core.models import Side


def test_reservation_price_moves_against_inventory_by_q_gamma_sigma2_tau() -> None:
    # 100 - 3 * 0.1 * 2^2 * 0.5 = 100 - 0.6
    assert reservation_price(100.0, 3.0, 0.1, 2.0, 0.5) == pytest.approx(99.4)
    assert reservation_price(100.0, -3.0, 0.1, 2.0, 0.5) == pytest.approx(100.6)
    assert reservation_price(100.0, 0.0, 0.1, 2.0, 0.5) == 100.0


def test_reservation_price_works_on_arrays_elementwise() -> None:
    r = reservation_price(np.array([100.0, 50.0]), np.array([1.0, -2.0]), 0.1, 2.0, 1.0)
    assert r == pytest.approx([99.6, 50.8])


def test_optimal_spread_matches_the_papers_formula_by_hand() -> None:
    # gamma=0.1, sigma=2, k=1.5, T-t=1: 0.4 + 20 * ln(1 + 1/15) = 0.4 + 1.290771...
    assert optimal_spread(0.1, 2.0, 1.5, 1.0) == pytest.approx(0.4 + 20 * math.log(16 / 15))
    assert optimal_spread(0.1, 2.0, 1.5, 1.0) == pytest.approx(1.690771, abs=1e-6)
    # At T - t = 0 only the intensity term is left.
    assert optimal_spread(0.5, 2.0, 1.5, 0.0) == pytest.approx(4 * math.log(4 / 3))


def test_as_half_spreads_sum_to_the_spread_and_skew_with_inventory() -> None:
    delta_b, delta_a = as_half_spreads(2.0, 0.1, 2.0, 1.5, 1.0)
    assert delta_b + delta_a == pytest.approx(optimal_spread(0.1, 2.0, 1.5, 1.0))
    # A long inventory lowers both quotes: the bid sits further, the ask closer.
    assert delta_b - delta_a == pytest.approx(2 * 2.0 * 0.1 * 4.0 * 1.0)


def test_glft_half_spreads_match_hand_computation() -> None:
    gamma, sigma, k, a = 0.1, 2.0, 1.5, 140.0
    c = math.sqrt(sigma**2 * gamma / (2 * k * a) * (1 + gamma / k) ** (1 + k / gamma))
    base = math.log(1 + gamma / k) / gamma
    delta_b, delta_a = glft_half_spreads(0.0, gamma, sigma, k, a)
    assert delta_b == pytest.approx(base + c / 2)
    assert delta_a == pytest.approx(base + c / 2)
    long_b, long_a = glft_half_spreads(2.0, gamma, sigma, k, a)
    assert long_b - delta_b == pytest.approx(2 * c)
    assert delta_a - long_a == pytest.approx(2 * c)


def test_time_left_counts_down_within_a_session_and_is_constant_when_rolling() -> None:
    second = 1_000_000_000
    assert time_left_s("session", 60.0, 15 * second) == pytest.approx(45.0)
    assert time_left_s("session", 60.0, 60 * second) == pytest.approx(60.0)
    assert time_left_s("rolling", 60.0, 15 * second) == 60.0
    assert time_left_s("infinite", 60.0, 15 * second) == 0.0


def test_spread_floor_widens_both_sides_equally_and_keeps_the_skew() -> None:
    assert apply_spread_floor(0.3, 0.1, 1.0) == pytest.approx((0.6, 0.4))
    assert apply_spread_floor(0.6, 0.6, 1.0) == (0.6, 0.6)


def test_prices_round_bid_down_and_ask_up_to_the_tick() -> None:
    assert to_bid_tick(100.0349, D("0.01")) == D("100.03")
    assert to_ask_tick(100.0301, D("0.01")) == D("100.04")
    assert to_bid_tick(100.25, D("0.5")) == D("100.0")
    assert to_ask_tick(100.25, D("0.5")) == D("100.5")
    assert to_ask_tick(100.5, D("0.5")) == D("100.5")


def test_post_only_moves_a_crossing_bid_below_the_best_ask() -> None:
    bid, ask = make_post_only(D("101"), D("102"), D("100"), D("100.5"), D("0.1"))
    assert (bid, ask) == (D("100.4"), D("102"))


def test_post_only_moves_a_crossing_ask_above_the_best_bid() -> None:
    bid, ask = make_post_only(D("98"), D("99.9"), D("100"), D("100.5"), D("0.1"))
    assert (bid, ask) == (D("98"), D("100.1"))


def test_quote_sizes_cut_to_the_room_and_drop_the_side_at_the_limit() -> None:
    lot = D("0.001")
    assert quote_sizes(D("0"), D("1"), D("5"), lot) == (D("1"), D("1"))
    assert quote_sizes(D("4.5"), D("1"), D("5"), lot) == (D("0.5"), D("1"))
    assert quote_sizes(D("5"), D("1"), D("5"), lot) == (None, D("1"))
    assert quote_sizes(D("-5"), D("1"), D("5"), lot) == (D("1"), None)
    assert quote_sizes(D("-7"), D("1"), D("5"), lot) == (D("1"), None)


def _params(**overrides: object) -> ModelParams:
    values: dict[str, object] = {
        "gamma": 0.1,
        "sigma": 2.0,
        "k": 1.5,
        "a": 140.0,
        "mode": "rolling",
        "horizon_s": 1.0,
    }
    values.update(overrides)
    return ModelParams(**values)  # type: ignore[arg-type]


def test_build_quotes_centres_on_the_reservation_price_on_tick() -> None:
    pair = build_quotes(
        _params(),
        mid=D("100"),
        best_bid=D("99.99"),
        best_ask=D("100.01"),
        inventory=D("0"),
        order_size=D("1"),
        max_inventory=D("5"),
        tick=D("0.01"),
        lot=D("0.001"),
        ts_ns=0,
    )
    # half spread 0.845385...: bid 99.1546 -> 99.15, ask 100.8454 -> 100.85
    assert pair.bid == Quote(Side.BUY, D("99.15"), D("1"))
    assert pair.ask == Quote(Side.SELL, D("100.85"), D("1"))


def test_build_quotes_at_the_long_limit_quotes_only_the_ask() -> None:
    pair = build_quotes(
        _params(),
        mid=D("100"),
        best_bid=D("99.99"),
        best_ask=D("100.01"),
        inventory=D("5"),
        order_size=D("1"),
        max_inventory=D("5"),
        tick=D("0.01"),
        lot=D("0.001"),
        ts_ns=0,
    )
    assert pair.bid is None
    assert pair.ask is not None
    # r = 100 - 5 * 0.4 = 98; ask = 98 + 0.845 = 98.845, below the best bid: post-only.
    assert pair.ask.price == D("100.00")


def test_build_quotes_widens_to_the_volatility_floor() -> None:
    pair = build_quotes(
        _params(vol_floor_multiplier=2.0, vol_floor_window_s=1.0),
        mid=D("100"),
        best_bid=D("99.99"),
        best_ask=D("100.01"),
        inventory=D("0"),
        order_size=D("1"),
        max_inventory=D("5"),
        tick=D("0.01"),
        lot=D("0.001"),
        ts_ns=0,
    )
    assert pair.delta_bid + pair.delta_ask == pytest.approx(4.0)
    assert pair.bid is not None and pair.bid.price == D("98.00")


def test_needs_refresh_only_beyond_the_tolerance_or_on_a_new_amount() -> None:
    target = Quote(Side.BUY, D("100.04"), D("1"))
    assert not needs_refresh(D("100.00"), D("1"), target, D("0.0005"))  # 4 bp
    assert needs_refresh(D("99.90"), D("1"), target, D("0.0005"))  # 14 bp
    assert needs_refresh(D("100.00"), D("0.5"), target, D("0.0005"))
    assert needs_refresh(D("100.00"), D("1"), target, D("0"))
