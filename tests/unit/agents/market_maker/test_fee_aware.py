"""Issue 11 part 1: the market maker in the asset's own units, fee-aware, measuring its fills.

Regression tests for the defects measured on main: gamma in 1/price (the same config
quoted 183 USDT wide on BTC), no fee floor, no adverse selection, a 5 bp refresh
tolerance (~300 ticks on BTC), inventory limits in base units.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.market_maker.adverse import adverse_bps, new_adverse_state, record_fill, resolve
from agents.market_maker.logic import (
    MarketMakerConfig,
    MarketMakerSnapshot,
    MarketMakerState,
    OpenQuote,
    decide,
    initial_state,
)
from agents.market_maker.strategy import MarketMakerStrategy
from core.models import Side

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _config(**overrides: Any) -> MarketMakerConfig:
    values: dict[str, Any] = {
        "agent_id": "mm",
        "venue": "binance",
        "symbol": "BTC/USDT:USDT",
        "gamma": 0.05,
        "sigma": 0.0001,  # 1 bp per sqrt(s), relative: the same for any price level
        "k": 0.5,  # 1/bp
        "horizon_s": 60.0,
        "order_notional": "200",
        "max_inventory_notional": "1000",
        "price_tick": "0.1",
        "amount_step": "0.001",
        "maker_fee": "venue",
        "min_edge_bps": 0.5,
        "adverse_prior_bps": 1.0,
        "adverse_horizon_s": 5.0,
        "microprice_weight": 0.0,
    }
    values.update(overrides)
    return MarketMakerConfig(**values)


def _snapshot(mid: str, half: str, ts: int = T0, **overrides: Any) -> MarketMakerSnapshot:
    values: dict[str, Any] = {
        "ts_ns": ts,
        "best_bid": D(mid) - D(half),
        "best_ask": D(mid) + D(half),
        "feed_ts_ns": ts,
    }
    values.update(overrides)
    return MarketMakerSnapshot(**values)


def _places(actions: tuple[Action, ...]) -> dict[Side, PlaceOrder]:
    return {a.intent.side: a for a in actions if isinstance(a, PlaceOrder)}


def _spread_bps(actions: tuple[Action, ...], mid: D) -> float:
    places = _places(actions)
    bid, ask = places[Side.BUY].intent.price, places[Side.SELL].intent.price
    assert bid is not None and ask is not None
    return float((ask - bid) / mid * 10_000)


# -- SCALE ------------------------------------------------------------------------


def test_same_config_when_btc_at_60k_and_coin_at_half_then_same_spread_in_bps() -> None:
    btc = _config(maker_fee="0", min_edge_bps=0.0, adverse_prior_bps=0.0)
    coin = _config(
        symbol="COIN/USDT:USDT",
        maker_fee="0",
        min_edge_bps=0.0,
        adverse_prior_bps=0.0,
        price_tick="0.00001",
        amount_step="1",
        min_order_notional="0",
    )
    _, at_60k = decide(initial_state(btc), _snapshot("60000", "0.05"), btc)
    _, at_half = decide(initial_state(coin), _snapshot("0.5", "0.00001"), coin)
    spread_60k = _spread_bps(at_60k, D(60000))
    spread_half = _spread_bps(at_half, D("0.5"))
    # The model's spread is (2/0.05) ln(1 + 0.05/0.5) + 0.05 * 1 * 60 = 6.81 bp at both.
    assert spread_60k == pytest.approx(6.81, abs=0.05)
    assert spread_half == pytest.approx(spread_60k, abs=0.5)  # the coin's tick is 0.2 bp
    # Both quote about 200 USDT: 0.003 BTC and 400 coins.
    assert _places(at_60k)[Side.BUY].intent.amount == D("0.003")
    assert _places(at_half)[Side.BUY].intent.amount == D(400)


# -- FEE AND ADVERSE-SELECTION FLOOR --------------------------------------------------


@pytest.mark.parametrize("adverse_prior", [0.0, 1.0, 4.0])
def test_spread_when_model_is_narrow_then_never_below_fee_plus_adverse_plus_edge(
    adverse_prior: float,
) -> None:
    config = _config(
        gamma=1.0, k=50.0, horizon_s=0.1, adverse_prior_bps=adverse_prior
    )  # model ~0.1 bp
    state, actions = decide(initial_state(config), _snapshot("61760", "0.05"), config)
    floor = 2 * (2.0 + adverse_prior + 0.5)  # Binance USD-M maker fee: 2 bp
    assert _spread_bps(actions, D(61760)) >= floor - 0.05  # within a tick of rounding
    assert state.figures is not None
    assert state.figures.fee_bps == pytest.approx(2.0)
    assert state.figures.spread_bps == pytest.approx(floor)


def test_maker_rebate_when_configured_then_floor_lowered_by_it() -> None:
    config = _config(gamma=1.0, k=50.0, horizon_s=0.1, maker_fee="-0.0001", adverse_prior_bps=1.0)
    state, _ = decide(initial_state(config), _snapshot("61760", "0.05"), config)
    assert state.figures is not None
    assert state.figures.spread_bps == pytest.approx(2 * (-1.0 + 1.0 + 0.5))


def test_adverse_selection_when_mid_falls_after_own_buy_then_floor_widens() -> None:
    config = _config(
        gamma=1.0, k=50.0, horizon_s=0.1, adverse_prior_bps=0.0, adverse_prior_weight=1.0
    )
    state = initial_state(config)
    state, _ = decide(state, _snapshot("60000", "0.05"), config)
    # We bought (the position moved) against a mid of 60,000 ...
    state, _ = decide(state, _snapshot("60000", "0.05", T0 + NS, position=D("0.003")), config)
    assert len(state.adverse.pending) == 1
    # ... and 5 s later the mid is 6 bp lower: one sample of +6 bp.
    state, _ = decide(state, _snapshot("59964", "0.05", T0 + 6 * NS, position=D("0.003")), config)
    assert state.adverse.samples == 1
    assert state.adverse.last_sample_bps == pytest.approx(6.0)
    expected = (0.0 * 1.0 * 0.5 ** (1 / 50) + 6.0) / (0.5 ** (1 / 50) + 1.0)
    assert adverse_bps(state.adverse) == pytest.approx(expected)
    assert state.figures is not None
    assert state.figures.spread_bps == pytest.approx(2 * (2.0 + expected + 0.5))


def test_adverse_estimator_when_mid_comes_back_then_not_below_zero() -> None:
    state = new_adverse_state(1.0, 1.0)
    state = record_fill(state, -1, T0, 100.0)  # sold at a mid of 100
    state = resolve(state, T0 + NS, 99.0, 5.0, 50.0)
    assert state.samples == 0  # the horizon has not passed
    state = resolve(state, T0 + 5 * NS, 99.0, 5.0, 50.0)  # the mid fell: good for a sell
    assert state.last_sample_bps == pytest.approx(-100.0)
    assert adverse_bps(state) == 0.0


# -- REFRESH IN TICKS, INVENTORY IN NOTIONAL -------------------------------------------


def _resting(actions: tuple[Action, ...], shift: D = D(0)) -> tuple[OpenQuote, ...]:
    return tuple(
        OpenQuote(
            intent_id=p.intent.intent_id,
            side=p.intent.side,
            price=(p.intent.price or D(0)) + shift,
            remaining=p.intent.amount,
        )
        for p in _places(actions).values()
    )


@pytest.mark.parametrize(("drift_ticks", "replaced"), [(5, False), (6, True), (300, True)])
def test_quote_when_drifted_n_ticks_then_replaced_only_beyond_refresh_ticks(
    drift_ticks: int, replaced: bool
) -> None:
    config = _config(refresh_ticks=5)
    _, first = decide(initial_state(config), _snapshot("61760", "0.05"), config)
    drifted = _resting(first, D("0.1") * drift_ticks)
    later = _snapshot("61760", "0.05", T0 + NS, open_orders=drifted)
    _, actions = decide(initial_state(config), later, config)
    cancelled = {a.intent_id for a in actions if isinstance(a, CancelOrder)}
    assert (cancelled == {q.intent_id for q in drifted}) is replaced
    assert bool(_places(actions)) is replaced


def test_inventory_limit_when_long_near_the_notional_limit_then_bid_only_fills_the_room() -> None:
    config = _config(max_inventory_notional="1000", min_order_notional="0")
    # 0.015 BTC at 60,000 = 900 USDT held: room for 100 USDT = 0.001 BTC more.
    snapshot = _snapshot("60000", "0.05", position=D("0.015"))
    _, actions = decide(initial_state(config), snapshot, config)
    assert _places(actions)[Side.BUY].intent.amount == D("0.001")
    assert _places(actions)[Side.SELL].intent.amount == D("0.003")
    at_limit = _snapshot("60000", "0.05", position=D("0.0167"))
    _, actions = decide(initial_state(config), at_limit, config)
    assert Side.BUY not in _places(actions)


def test_order_budget_when_spent_then_no_more_places_and_safe_quotes_kept() -> None:
    config = _config(max_orders_per_minute=2, refresh_ticks=0)
    state, first = decide(initial_state(config), _snapshot("61760", "0.05"), config)
    assert len(_places(first)) == 2
    resting = _resting(first)
    # The mid rises one tick: both targets move, but the minute's two orders are spent.
    later = _snapshot("61760.1", "0.05", T0 + NS, open_orders=resting)
    state, actions = decide(state, later, config)
    assert not _places(actions)
    # The bid now sits below its target (safe): kept; the ask below its target: cancelled.
    assert [a.intent_id for a in actions if isinstance(a, CancelOrder)] == [f"mm-{T0}-ask"]
    assert state.throttled == 1
    after_a_minute = _snapshot("61760.1", "0.05", T0 + 61 * NS, open_orders=resting[:1])
    _, actions = decide(state, after_a_minute, config)
    assert Side.SELL in _places(actions)


# -- MICROPRICE --------------------------------------------------------------------


def test_microprice_when_bid_is_heavy_then_both_quotes_move_up() -> None:
    config = _config(microprice_weight=1.0, price_tick="0.01", amount_step="0.0001")
    wide = dict(best_bid=D("59990"), best_ask=D("60010"))  # a 20 USDT spread: visible shift
    _, even = decide(
        initial_state(config),
        _snapshot("60000", "10", bid_size=D(1), ask_size=D(1), **wide),
        config,
    )
    _, heavy = decide(
        initial_state(config),
        _snapshot("60000", "10", bid_size=D(9), ask_size=D(1), **wide),
        config,
    )
    for side in (Side.BUY, Side.SELL):
        low, high = _places(even)[side].intent.price, _places(heavy)[side].intent.price
        assert low is not None and high is not None and high > low


# -- IDLE REASON -------------------------------------------------------------------


def test_idle_reason_when_feed_stale_on_most_decisions_then_says_so_with_counts() -> None:
    config = _config(max_feed_age_ns=180 * NS)
    strategy = MarketMakerStrategy(config)
    state: MarketMakerState = strategy.initial_state()
    assert strategy.idle_reason(state) == "no market event of binance BTC/USDT:USDT reached it"
    for i in range(5):
        ts = T0 + i * 200 * NS
        state, _ = decide(state, _snapshot("60000", "0.05", ts, feed_ts_ns=T0 - 181 * NS), config)
    state, _ = decide(state, _snapshot("60000", "0.05", ts + NS, best_bid=None), config)
    assert strategy.idle_reason(state) == (
        "quotes pulled: stale_feed on 5 of 6 decisions (feed older than 180 s)"
    )
    state, _ = decide(state, _snapshot("60000", "0.05", ts + 2 * NS), config)
    assert strategy.idle_reason(state) is None  # it quoted


def test_idle_reason_when_order_smaller_than_a_lot_then_names_the_sizes() -> None:
    config = _config(order_notional="20", min_order_notional="0")  # 20 USDT < 0.001 BTC
    strategy = MarketMakerStrategy(config)
    state, actions = decide(strategy.initial_state(), _snapshot("60000", "0.05"), config)
    assert not _places(actions)
    reason = strategy.idle_reason(state)
    assert reason is not None and reason.startswith("quotes priced on 1 of 1 decisions")
    assert "0.001" in reason


# -- TRADE FLOW ----------------------------------------------------------------------


def test_trade_flow_when_sellers_dominate_then_both_quotes_move_down() -> None:
    from core.events import TradeTick

    config = _config(flow_weight_bps=3.0)
    sells = tuple(
        TradeTick(T0 - i, "binance", "BTC/USDT:USDT", D("60000"), D("0.5"), "sell")
        for i in range(3, 0, -1)
    )
    buy = (TradeTick(T0, "binance", "BTC/USDT:USDT", D("60000"), D("0.5"), "buy"),)
    _, calm = decide(initial_state(config), _snapshot("60000", "0.05"), config)
    state, selling = decide(
        initial_state(config), _snapshot("60000", "0.05", trades=sells + buy), config
    )
    assert state.flow.sell > state.flow.buy
    for side in (Side.BUY, Side.SELL):
        before, after = _places(calm)[side].intent.price, _places(selling)[side].intent.price
        assert before is not None and after is not None
        # imbalance (1 - 3) / 4 = -0.5: the centre moves 1.5 bp (9 USDT) down
        assert float(before - after) == pytest.approx(9.0, abs=0.2)
