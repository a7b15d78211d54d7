"""decide(): pulling quotes on bad snapshots, reconciling, deterministic intent ids."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from agents.market_maker.logic import (
    Action,
    CancelOrder,
    MarketMakerConfig,
    MarketMakerSnapshot,
    MarketMakerState,
    OpenQuote,
    PlaceOrder,
    PullReason,
    decide,
    initial_state,
    intent_id_for,
)
from core.events import TradeTick
from core.models import Side
from gateway.breaker import BreakerState

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _config(**overrides: Any) -> MarketMakerConfig:
    values: dict[str, Any] = {
        "agent_id": "mm-btc",
        "venue": "paper",
        "symbol": "BTC/USDT",
        "gamma": 0.1,  # 1/bp per unit of inventory (one unit = order_notional)
        "sigma": 0.0001,  # relative, per sqrt(s): 1 bp
        "k": 1.5,  # 1/bp
        "horizon_s": 60.0,
        "order_notional": "100",  # one unit at a mid of 100
        "max_inventory_notional": "300",
        "price_tick": "0.01",
        "amount_step": "0.001",
        "maker_fee": "0.0002",
        "min_order_notional": "0",
        "min_edge_bps": 0.5,
        "adverse_prior_bps": 1.0,
    }
    values.update(overrides)
    return MarketMakerConfig(**values)


RESTING = (
    OpenQuote(intent_id="mm-1-bid", side=Side.BUY, price=D("99.10"), remaining=D("1")),
    OpenQuote(intent_id="mm-1-ask", side=Side.SELL, price=D("100.90"), remaining=D("1")),
)


def _snapshot(**overrides: Any) -> MarketMakerSnapshot:
    values: dict[str, Any] = {
        "ts_ns": T0,
        "best_bid": D("99.99"),
        "best_ask": D("100.01"),
        "feed_ts_ns": T0,
        "position": D("0"),
        "open_orders": (),
        "breaker": BreakerState.CLOSED,
    }
    values.update(overrides)
    return MarketMakerSnapshot(**values)


def _places(actions: tuple[Action, ...]) -> list[PlaceOrder]:
    return [a for a in actions if isinstance(a, PlaceOrder)]


def _cancels(actions: tuple[Action, ...]) -> list[str]:
    return [a.intent_id for a in actions if isinstance(a, CancelOrder)]


def test_decide_on_a_clean_book_places_post_only_quotes_on_both_sides() -> None:
    config = _config()
    state, actions = decide(initial_state(config), _snapshot(), config)
    places = _places(actions)
    assert [p.intent.side for p in places] == [Side.BUY, Side.SELL]
    assert [p.intent.intent_id for p in places] == [f"mm-{T0}-bid", f"mm-{T0}-ask"]
    for place in places:
        assert place.intent.post_only
        assert place.intent.amount == D("1")
        assert place.intent.price is not None
        assert place.intent.price % D("0.01") == 0
    bid, ask = (p.intent.price for p in places)
    assert bid is not None and ask is not None and bid < D("100") < ask
    assert state.pulled is None
    assert len(state.resting) == 2


BAD_SNAPSHOTS: dict[str, tuple[dict[str, Any], PullReason]] = {
    "crossed book": ({"best_bid": D("100.02"), "best_ask": D("100.01")}, PullReason.CROSSED_BOOK),
    "locked book": ({"best_bid": D("100"), "best_ask": D("100")}, PullReason.CROSSED_BOOK),
    "NaN bid": ({"best_bid": D("NaN")}, PullReason.BAD_PRICE),
    "zero ask": ({"best_ask": D("0")}, PullReason.BAD_PRICE),
    "empty book": ({"best_bid": None, "best_ask": None}, PullReason.NO_BOOK),
    "stale feed": ({"feed_ts_ns": T0 - 3 * NS}, PullReason.STALE_FEED),
    "no feed yet": ({"feed_ts_ns": None}, PullReason.STALE_FEED),
    "breaker open": ({"breaker": BreakerState.OPEN}, PullReason.BREAKER),
    "breaker draining": ({"breaker": BreakerState.DRAINING}, PullReason.BREAKER),
    "breaker half open": ({"breaker": BreakerState.HALF_OPEN}, PullReason.BREAKER),
}


@pytest.mark.parametrize("case", list(BAD_SNAPSHOTS), ids=list(BAD_SNAPSHOTS))
def test_decide_on_a_bad_snapshot_cancels_every_open_order_and_places_nothing(case: str) -> None:
    overrides, reason = BAD_SNAPSHOTS[case]
    config = _config()
    snapshot = _snapshot(open_orders=RESTING, **overrides)
    state, actions = decide(initial_state(config), snapshot, config)
    assert _places(actions) == []
    assert _cancels(actions) == ["mm-1-bid", "mm-1-ask"]
    assert state.pulled is reason
    assert state.resting == ()


def test_decide_while_estimators_warm_up_pulls_quotes() -> None:
    config = _config(sigma="estimate", k="estimate")
    state, actions = decide(initial_state(config), _snapshot(open_orders=RESTING), config)
    assert _places(actions) == []
    assert _cancels(actions) == ["mm-1-bid", "mm-1-ask"]
    assert state.pulled is PullReason.WARMING_UP


def test_decide_starts_quoting_once_the_estimators_have_data() -> None:
    config = _config(sigma="estimate", k="estimate", vol_min_returns=5, intensity_min_count=2)
    state = initial_state(config)
    placed_at = None
    for i in range(40):
        ts = T0 + i * NS
        mid_offset = D("0.01") * (1 if i % 2 else -1)
        trades = tuple(
            TradeTick(ts - NS // 2, "paper", "BTC/USDT", D("100") + depth, D("1"), "buy")
            for depth in (D("0.01"), D("0.03"), D("0.06"), D("0.11"), D("0.2"))
        )
        snapshot = _snapshot(
            ts_ns=ts,
            feed_ts_ns=ts,
            best_bid=D("99.99") + mid_offset,
            best_ask=D("100.01") + mid_offset,
            trades=trades,
        )
        state, actions = decide(state, snapshot, config)
        if _places(actions):
            placed_at = i
            break
    assert placed_at is not None and placed_at >= 5
    assert state.pulled is None


def test_decide_when_no_new_print_then_intensity_fit_reused_and_refit_after_one() -> None:
    config = _config(k="estimate", intensity_min_count=2)
    trades = tuple(
        TradeTick(T0 - NS // 2, "paper", "BTC/USDT", D("100") + depth, D("1"), "buy")
        for depth in (D("0.01"), D("0.03"), D("0.06"), D("0.11"), D("0.2"))
        for _ in range(3)
    )
    state, _ = decide(initial_state(config), _snapshot(trades=trades), config)
    assert state.fit is not None and state.fit_trades == state.intensity.trades == 15
    quiet, _ = decide(state, _snapshot(ts_ns=T0 + NS, feed_ts_ns=T0 + NS), config)
    assert quiet.fit is state.fit  # no print since: the same fit, not a new one
    more = (TradeTick(T0 + NS, "paper", "BTC/USDT", D("100.02"), D("1"), "sell"),)
    busy, _ = decide(
        quiet, _snapshot(ts_ns=T0 + 2 * NS, feed_ts_ns=T0 + 2 * NS, trades=more), config
    )
    assert busy.fit is not state.fit and busy.fit_trades == 16


def test_decide_keeps_resting_quotes_within_the_tolerance() -> None:
    config = _config()
    _, first = decide(initial_state(config), _snapshot(), config)
    resting = tuple(
        OpenQuote(
            intent_id=p.intent.intent_id,
            side=p.intent.side,
            price=p.intent.price or D("0"),
            remaining=p.intent.amount,
        )
        for p in _places(first)
    )
    later = _snapshot(ts_ns=T0 + NS, feed_ts_ns=T0 + NS, open_orders=resting)
    state, actions = decide(initial_state(config), later, config)
    assert actions == ()
    assert state.resting == resting


def test_decide_replaces_a_quote_that_moved_beyond_the_tolerance() -> None:
    config = _config()
    far = (OpenQuote(intent_id="mm-1-bid", side=Side.BUY, price=D("95"), remaining=D("1")),)
    _, actions = decide(initial_state(config), _snapshot(open_orders=far), config)
    assert _cancels(actions) == ["mm-1-bid"]
    assert isinstance(actions[0], CancelOrder)  # cancels go first
    assert [p.intent.intent_id for p in _places(actions)] == [f"mm-{T0}-bid", f"mm-{T0}-ask"]


def test_decide_at_the_long_limit_cancels_the_bid_and_quotes_only_the_ask() -> None:
    config = _config()
    snapshot = _snapshot(position=D("3"), open_orders=RESTING[:1])
    state, actions = decide(initial_state(config), snapshot, config)
    assert _cancels(actions) == ["mm-1-bid"]
    assert [p.intent.side for p in _places(actions)] == [Side.SELL]
    assert state.inventory == D("3")


def test_decide_with_a_long_inventory_skews_both_quotes_down() -> None:
    config = _config(sigma=0.001)  # 10 bp per sqrt(s): a skew beyond the floor
    _, flat = decide(initial_state(config), _snapshot(), config)
    _, long = decide(initial_state(config), _snapshot(position=D("2")), config)
    flat_prices = [p.intent.price for p in _places(flat)]
    long_prices = [p.intent.price for p in _places(long)]
    assert flat_prices[0] is not None and long_prices[0] is not None
    assert long_prices[0] < flat_prices[0]


def test_decide_twice_on_the_same_event_gives_the_same_actions_and_ids() -> None:
    config = _config()
    snapshot = _snapshot(open_orders=RESTING[1:])
    first = decide(initial_state(config), snapshot, config)
    again = decide(initial_state(config), snapshot, config)
    assert first == again
    assert intent_id_for(T0, Side.BUY) == f"mm-{T0}-bid"
    assert intent_id_for(T0, Side.SELL) == f"mm-{T0}-ask"
    ids = [p.intent.client_order_id for p in _places(first[1])]
    assert ids == [p.intent.client_order_id for p in _places(again[1])]
    assert len(set(ids)) == 2


def test_decide_ignores_an_event_older_than_the_last_one() -> None:
    config = _config()
    state, _ = decide(initial_state(config), _snapshot(ts_ns=T0 + NS, feed_ts_ns=T0 + NS), config)
    again, actions = decide(state, _snapshot(), config)
    assert actions == ()
    assert again == state


def test_config_refuses_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="gama"):
        _config(gama=0.1)
    with pytest.raises(ValidationError):
        _config(gamma=0)
    with pytest.raises(ValidationError):
        _config(k=float("nan"))
    with pytest.raises(ValidationError, match="order_notional"):
        _config(order_notional="500")  # above max_inventory_notional
    with pytest.raises(ValidationError, match="maker_fee"):
        _config(maker_fee="0.5")
    with pytest.raises(ValidationError, match="refresh_ticks"):
        _config(refresh_ticks=-1)


def test_state_is_frozen() -> None:
    state = initial_state(_config())
    assert isinstance(state, MarketMakerState)
    with pytest.raises(ValidationError):
        state.decisions = 3  # type: ignore[misc]
