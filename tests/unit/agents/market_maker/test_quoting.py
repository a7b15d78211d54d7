"""The quoting core: formulas against hand-computed values, ticks, post-only, limits."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pytest

from agents.market_maker.quoting import (
    ModelParams,
    Quote,
    QuotePair,
    QuoteSizing,
    apply_spread_floor,
    as_half_spreads,
    build_quotes,
    glft_half_spreads,
    make_post_only,
    microprice,
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


def _sizing(**overrides: object) -> QuoteSizing:
    values: dict[str, object] = {
        "order_notional": D("100"),  # one unit at a mid of 100
        "max_inventory_notional": D("500"),
        "inventory_unit_notional": D("100"),
        "tick": D("0.0001"),
        "lot": D("0.001"),
    }
    values.update(overrides)
    return QuoteSizing(**values)  # type: ignore[arg-type]


def _quotes(
    params: ModelParams | None = None,
    sizing: QuoteSizing | None = None,
    inventory: str = "0",
    floor_bps: float = 0.0,
    bid_size: str | None = None,
    ask_size: str | None = None,
    microprice_weight: float = 0.0,
) -> QuotePair:
    return build_quotes(
        params or _params(),
        sizing or _sizing(),
        best_bid=D("99.99"),
        best_ask=D("100.01"),
        bid_size=None if bid_size is None else D(bid_size),
        ask_size=None if ask_size is None else D(ask_size),
        inventory=D(inventory),
        floor_bps=floor_bps,
        microprice_weight=microprice_weight,
        ts_ns=0,
    )


def test_build_quotes_centres_on_the_reservation_price_in_bps_on_tick() -> None:
    pair = _quotes()
    # half spread 0.845385 bp of 100 = 0.00845385: bid 99.991546 -> 99.9915, ask -> 100.0085
    assert pair.bid == Quote(Side.BUY, D("99.9915"), D("1.000"), D("5"))
    assert pair.ask == Quote(Side.SELL, D("100.0085"), D("1.000"), D("5"))
    assert pair.model_spread_bps == pytest.approx(1.690771, abs=1e-6)


def test_build_quotes_at_the_long_limit_quotes_only_the_ask() -> None:
    pair = _quotes(inventory="5")
    assert pair.bid is None
    assert pair.ask is not None
    # r = 100 - 5 units * 0.1 * 2^2 * 1 bp = 98 bp below: the ask would cross, post-only.
    assert pair.ask.price == D("99.9901")


def test_build_quotes_widens_to_the_volatility_floor() -> None:
    pair = _quotes(_params(vol_floor_multiplier=2.0, vol_floor_window_s=1.0))
    assert pair.delta_bid + pair.delta_ask == pytest.approx(4.0)
    assert pair.bid is not None and pair.bid.price == D("99.9800")


def test_build_quotes_when_floor_above_model_then_total_spread_is_the_floor() -> None:
    pair = _quotes(floor_bps=7.0)
    assert pair.delta_bid + pair.delta_ask == pytest.approx(7.0)
    assert pair.bid is not None and pair.bid.price == D("99.9650")
    assert pair.ask is not None and pair.ask.price == D("100.0350")


def test_build_quotes_when_bid_heavy_then_centre_moves_up_to_the_microprice() -> None:
    # microprice (99.99 * 1 + 100.01 * 3) / 4 = 100.005: +0.5 bp
    pair = _quotes(bid_size="3", ask_size="1", microprice_weight=1.0, floor_bps=7.0)
    assert pair.centre_bps == pytest.approx(0.5)
    assert pair.bid is not None and pair.bid.price == D("99.9700")
    assert pair.ask is not None and pair.ask.price == D("100.0400")
    assert microprice(99.99, 100.01, None, None) == pytest.approx(100.0)


def test_build_quotes_when_a_side_is_below_the_venue_minimum_then_dropped() -> None:
    pair = _quotes(_params(), _sizing(min_notional=D("150")))
    assert pair.bid is None and pair.ask is None


def test_build_quotes_inventory_limit_in_notional() -> None:
    # 4.5 units held, limit 500 at a mid of 100 = 5: the bid may add only 0.5.
    pair = _quotes(inventory="4.5")
    assert pair.bid is not None and pair.bid.amount == D("0.500")
    assert pair.ask is not None and pair.ask.amount == D("1.000")


def test_needs_refresh_only_beyond_the_ticks_or_on_an_amount_off_by_a_quarter() -> None:
    tick = D("0.01")
    target = Quote(Side.BUY, D("100.04"), D("1"), D("5"))
    assert not needs_refresh(D("100.00"), D("1"), target, 5, tick)  # 4 ticks
    assert needs_refresh(D("99.98"), D("1"), target, 5, tick)  # 6 ticks
    assert not needs_refresh(D("100.00"), D("0.9"), target, 5, tick)  # 10 % off
    assert needs_refresh(D("100.00"), D("0.5"), target, 5, tick)  # half filled
    assert needs_refresh(
        D("100.04"), D("1"), Quote(Side.BUY, D("100.04"), D("1"), D("0.8")), 5, tick
    )
    assert needs_refresh(D("100.00"), D("1"), target, 0, tick)
