"""decide(): cascade detection, entries, exits, cooldown and cap, bad snapshots, intent ids."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.logic import (
    ExitReason,
    HoldReason,
    HunterSnapshot,
    HunterState,
    OpenOrderView,
    decide,
    initial_state,
    intent_id_for,
)
from core.events import Bar, Liquidation
from core.models import OrderType, Side, TimeInForce
from gateway.breaker import BreakerState

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
VENUE, SYMBOL = "bybit", "BTC/USDT:USDT"


def make_config(**overrides: Any) -> LiquidationHunterConfig:
    values: dict[str, Any] = {
        "agent_id": "hunter-1",
        "venue": VENUE,
        "symbol": SYMBOL,
        "price_tick": D("0.5"),
        "amount_step": D("0.001"),
        "order_size": D("0.1"),
        "max_position": D("1"),
        "cascade_window_ns": 60 * NS,
        "volume_window_ns": 600 * NS,
        "min_cascade_notional": D(100_000),
        "min_volume_ratio": D("0.1"),
        "min_depth_ratio": D("0.5"),
        "entry_offset_bps": D(10),
        "min_top_depth": D(1),
        "take_profit_bps": D(20),
        "stop_loss_bps": D(50),
        "max_hold_ns": 600 * NS,
        "entry_ttl_ns": 300 * NS,
        "cooldown_ns": 900 * NS,
        "max_feed_age_ns": 30 * NS,
        # The mechanics tests: flow-only detection and an entry at once (the move,
        # open-interest and exhaustion ingredients are tested in test_detector.py).
        "min_move_sigma": D(0),
        "min_oi_drop_bps": D(0),
        "exhaustion_ns": 0,
        "confirm_retrace": D(0),
    }
    values.update(overrides)
    return LiquidationHunterConfig(**values)


def liq(
    ts_ns: int, side: Literal["buy", "sell"], notional: int, price: int = 20_000
) -> Liquidation:
    return Liquidation(ts_ns, VENUE, SYMBOL, side, D(price), D(notional) / D(price), "model")


def bar(ts_ns: int, notional: int, price: int = 20_000) -> Bar:
    p = D(price)
    return Bar(ts_ns, VENUE, SYMBOL, p, p, p, p, D(notional) / p, 60)


def snap(ts_ns: int, **overrides: Any) -> HunterSnapshot:
    values: dict[str, Any] = {
        "ts_ns": ts_ns,
        "best_bid": D("20000"),
        "bid_size": D(10),
        "best_ask": D("20000.5"),
        "ask_size": D(10),
        "feed_ts_ns": ts_ns,
    }
    values.update(overrides)
    return HunterSnapshot(**values)


def places(actions: tuple[Action, ...]) -> list[PlaceOrder]:
    return [a for a in actions if isinstance(a, PlaceOrder)]


def cancels(actions: tuple[Action, ...]) -> list[str]:
    return [a.intent_id for a in actions if isinstance(a, CancelOrder)]


def run(
    snapshots: list[HunterSnapshot],
    config: LiquidationHunterConfig | None = None,
    state: HunterState | None = None,
) -> tuple[HunterState, tuple[Action, ...]]:
    state = state if state is not None else initial_state()
    config = config or make_config()
    actions: tuple[Action, ...] = ()
    for snapshot in snapshots:
        state, actions = decide(state, snapshot, config)
    return state, actions


def cascade_state(side: Literal["buy", "sell"] = "sell") -> tuple[HunterState, tuple[Action, ...]]:
    """Warm up with 500k traded, then 120k liquidated on ``side`` at T0 + 60 s."""
    return run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + 60 * NS, liquidations=(liq(T0 + 60 * NS, side, 120_000),)),
        ]
    )


# -- DETECTION ----------------------------------------------------------------


def test_cascade_is_detected_when_window_notional_crosses_every_threshold() -> None:
    state, _ = run([snap(T0, bars=(bar(T0, 500_000),))])
    state, actions = decide(
        state, snap(T0 + NS, liquidations=(liq(T0 + NS, "sell", 60_000),)), make_config()
    )
    assert state.cascades == () and actions == ()  # 60k < 100k
    state, actions = decide(
        state, snap(T0 + 2 * NS, liquidations=(liq(T0 + 2 * NS, "sell", 60_000),)), make_config()
    )
    assert [c.side for c in state.cascades] == ["sell"]
    assert state.cascades[0].detected_ns == T0 + 2 * NS
    assert state.cascades[0].notional == D(120_000)
    assert len(places(actions)) == 1


def test_liquidations_that_left_the_window_do_not_add_up_to_a_cascade() -> None:
    state, _ = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, liquidations=(liq(T0 + NS, "sell", 60_000),)),
            # 61 s later the first 60k is out of the 60 s window.
            snap(T0 + 62 * NS, liquidations=(liq(T0 + 62 * NS, "sell", 60_000),)),
        ]
    )
    assert state.cascades == ()


def test_sides_are_counted_apart() -> None:
    state, _ = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, liquidations=(liq(T0 + NS, "sell", 60_000), liq(T0 + NS, "buy", 60_000))),
        ]
    )
    assert state.cascades == ()


def test_short_squeeze_is_detected_on_the_buy_side() -> None:
    state, actions = cascade_state("buy")
    assert [c.side for c in state.cascades] == ["buy"]
    assert state.tally.cascades_short_liquidations == 1
    assert places(actions)[0].intent.side is Side.SELL


def test_no_cascade_when_liquidations_are_small_against_traded_volume() -> None:
    state, _ = run(
        [
            snap(T0, bars=(bar(T0, 5_000_000),)),  # 10% of 5M = 500k > 120k
            snap(T0 + NS, liquidations=(liq(T0 + NS, "sell", 120_000),)),
        ]
    )
    assert state.cascades == ()


def test_no_cascade_when_liquidations_are_small_against_the_depth_they_hit() -> None:
    # Bid depth 20 * 20000 = 400k; half is 200k > 120k. The asks are irrelevant.
    state, _ = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, bid_size=D(20), liquidations=(liq(T0 + NS, "sell", 120_000),)),
        ]
    )
    assert state.cascades == ()


def test_a_latched_side_is_counted_once_and_rearms_after_the_window_empties() -> None:
    state, _ = cascade_state()
    state, _ = decide(
        state, snap(T0 + 70 * NS, liquidations=(liq(T0 + 70 * NS, "sell", 50_000),)), make_config()
    )
    assert len(state.cascades) == 1  # still the same cascade
    state, _ = decide(state, snap(T0 + 200 * NS), make_config())
    assert state.latched == ()
    state, _ = decide(
        state,
        snap(T0 + 210 * NS, liquidations=(liq(T0 + 210 * NS, "sell", 150_000),)),
        make_config(),
    )
    assert len(state.cascades) == 2


def test_liquidations_of_other_symbols_are_ignored() -> None:
    other = Liquidation(T0 + NS, VENUE, "ETH/USDT:USDT", "sell", D(1000), D(1000), "model")
    state, _ = run([snap(T0, bars=(bar(T0, 500_000),)), snap(T0 + NS, liquidations=(other,))])
    assert state.prints == () and state.cascades == ()


# -- ENTRY --------------------------------------------------------------------


def test_entry_after_long_liquidations_is_a_post_only_buy_below_the_bid_on_the_tick() -> None:
    _, actions = cascade_state("sell")
    (order,) = places(actions)
    intent = order.intent
    # 20000 * (1 - 0.001) = 19980 exactly; the tick is 0.5.
    assert intent.side is Side.BUY and intent.type is OrderType.LIMIT
    assert intent.price == D("19980.0")
    assert intent.post_only and not intent.reduce_only
    assert intent.amount == D("0.1")


def test_entry_price_rounds_away_from_the_market() -> None:
    config = make_config(entry_offset_bps=D(7))
    _, actions = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, liquidations=(liq(T0 + NS, "buy", 120_000),)),
        ],
        config,
    )
    # 20000.5 * 1.0007 = 20014.50035 -> up to 20015.0 on a 0.5 tick.
    assert places(actions)[0].intent.price == D("20015.0")


def test_entry_amount_is_cut_to_the_position_cap_on_the_lot() -> None:
    config = make_config(order_size=D("0.5"), max_position=D("0.3005"))
    _, actions = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, liquidations=(liq(T0 + NS, "sell", 120_000),)),
        ],
        config,
    )
    assert places(actions)[0].intent.amount == D("0.300")


def test_no_entry_when_the_book_is_thin() -> None:
    state, actions = run(
        [
            snap(T0, bars=(bar(T0, 500_000),)),
            snap(T0 + NS, ask_size=D("0.5"), liquidations=(liq(T0 + NS, "sell", 120_000),)),
        ]
    )
    assert len(state.cascades) == 1  # detected, but not traded
    assert places(actions) == []


def test_unfilled_entry_is_cancelled_after_its_ttl() -> None:
    state, actions = cascade_state()
    entry_id = places(actions)[0].intent.intent_id
    open_entry = OpenOrderView(
        intent_id=entry_id, side=Side.BUY, price=D(19980), remaining=D("0.1")
    )
    state, actions = decide(state, snap(T0 + 200 * NS, open_orders=(open_entry,)), make_config())
    assert actions == ()
    state, actions = decide(state, snap(T0 + 361 * NS, open_orders=(open_entry,)), make_config())
    assert cancels(actions) == [entry_id]
    assert state.pending is None


# -- EXITS --------------------------------------------------------------------


def filled_long(entry: str = "19980") -> tuple[HunterState, tuple[Action, ...]]:
    state, _ = cascade_state("sell")
    return decide(
        state, snap(T0 + 120 * NS, position=D("0.1"), entry_price=D(entry)), make_config()
    )


def test_filled_entry_rests_a_reduce_only_post_only_take_profit_for_the_whole_position() -> None:
    state, actions = filled_long()
    (order,) = places(actions)
    intent = order.intent
    # 19980 * 1.002 = 20019.96 -> up to 20020.0; above the ask, so it rests at it.
    assert intent.side is Side.SELL and intent.price == D("20020.0")
    assert intent.reduce_only and intent.post_only and intent.amount == D("0.1")
    assert state.trade is not None and state.tally.trades_opened == 1


def test_take_profit_fill_closes_the_trade_counts_it_and_starts_the_cooldown() -> None:
    state, _ = filled_long()
    state, _ = decide(state, snap(T0 + 180 * NS), make_config())
    assert state.trade is None
    assert dict(state.tally.exits)[ExitReason.TAKE_PROFIT] == 1
    assert state.cooldown_until_ns == T0 + 180 * NS + 900 * NS


def test_stop_sends_a_reduce_only_market_exit_of_the_position_and_cancels_the_take_profit() -> None:
    state, actions = filled_long()
    tp = places(actions)[0].intent
    tp_view = OpenOrderView(
        intent_id=tp.intent_id, side=Side.SELL, price=tp.price, remaining=D("0.1"), reduce_only=True
    )
    # Stop = 19980 * 0.995 = 19880.1 -> 19880.5; the mid is below it.
    ts = T0 + 130 * NS
    state, actions = decide(
        state,
        snap(
            ts,
            best_bid=D(19870),
            best_ask=D("19870.5"),
            position=D("0.1"),
            entry_price=D(19980),
            open_orders=(tp_view,),
        ),
        make_config(),
    )
    assert cancels(actions) == [tp.intent_id]
    (exit_order,) = places(actions)
    intent = exit_order.intent
    assert intent.type is OrderType.MARKET and intent.time_in_force is TimeInForce.IOC
    assert intent.side is Side.SELL and intent.reduce_only and intent.amount == D("0.1")
    assert intent.intent_id == intent_id_for(T0 + 60 * NS, Side.BUY, "stop", ts)
    state, _ = decide(state, snap(ts + NS, best_bid=D(19870), best_ask=D("19870.5")), make_config())
    assert dict(state.tally.exits)[ExitReason.STOP] == 1


def test_time_stop_exits_after_max_hold() -> None:
    state, _ = filled_long()
    ts = T0 + 120 * NS + 600 * NS
    _, actions = decide(state, snap(ts, position=D("0.1"), entry_price=D(19980)), make_config())
    (exit_order,) = places(actions)
    assert exit_order.intent.type is OrderType.MARKET and exit_order.intent.reduce_only
    assert exit_order.intent.intent_id.endswith(f"-time-{ts}")


def test_exit_is_not_resent_before_the_retry_delay() -> None:
    state, _ = filled_long()
    low = {
        "best_bid": D(19870),
        "best_ask": D("19870.5"),
        "position": D("0.1"),
        "entry_price": D(19980),
    }
    state, first = decide(state, snap(T0 + 130 * NS, **low), make_config())
    state, second = decide(state, snap(T0 + 140 * NS, **low), make_config())
    state, third = decide(state, snap(T0 + 191 * NS, **low), make_config())
    assert len(places(first)) == 1 and places(second) == [] and len(places(third)) == 1


def test_short_exits_buy_and_never_exceed_the_position() -> None:
    state, _ = cascade_state("buy")
    state, actions = decide(
        state, snap(T0 + 120 * NS, position=D("-0.1"), entry_price=D(20020)), make_config()
    )
    tp = places(actions)[0].intent
    # 20020 * 0.998 = 19979.96 -> down to 19979.5; below the bid, so it rests there.
    assert tp.side is Side.BUY and tp.price == D("19979.5") and tp.reduce_only
    state, actions = decide(
        state,
        snap(
            T0 + 130 * NS,
            best_bid=D(20200),
            best_ask=D("20200.5"),
            position=D("-0.1"),
            entry_price=D(20020),
        ),
        make_config(),
    )
    for order in places(actions):
        assert order.intent.side is Side.BUY and order.intent.reduce_only
        assert order.intent.amount <= D("0.1")


def test_no_new_entry_while_a_position_is_open() -> None:
    state, _ = filled_long()
    state, actions = decide(
        state,
        snap(
            T0 + 200 * NS,
            position=D("0.1"),
            entry_price=D(19980),
            liquidations=(liq(T0 + 200 * NS, "buy", 500_000),),
        ),
        make_config(),
    )
    assert all(order.intent.reduce_only for order in places(actions))


def test_no_entry_during_the_cooldown_after_a_trade() -> None:
    state, _ = filled_long()
    state, _ = decide(state, snap(T0 + 180 * NS), make_config())  # flat: cooldown to T0 + 1080 s
    state, actions = decide(
        state,
        snap(T0 + 400 * NS, liquidations=(liq(T0 + 400 * NS, "sell", 150_000),)),
        make_config(),
    )
    assert len(state.cascades) == 2 and places(actions) == []
    state, _ = decide(state, snap(T0 + 600 * NS), make_config())  # the window empties
    state, actions = decide(
        state,
        snap(T0 + 1100 * NS, liquidations=(liq(T0 + 1100 * NS, "sell", 150_000),)),
        make_config(),
    )
    assert len(places(actions)) == 1


# -- BAD SNAPSHOTS ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"best_bid": D("20001"), "best_ask": D("20000")}, HoldReason.CROSSED_BOOK),
        ({"best_bid": D("NaN")}, HoldReason.BAD_PRICE),
        ({"ask_size": D("NaN")}, HoldReason.BAD_PRICE),
        ({"best_ask": None}, HoldReason.NO_BOOK),
        ({"feed_ts_ns": T0 + NS - 31 * NS}, HoldReason.STALE_FEED),
    ],
)
def test_bad_snapshot_cancels_entries_keeps_the_take_profit_and_places_nothing(
    overrides: dict[str, Any], reason: HoldReason
) -> None:
    entry = OpenOrderView(
        intent_id="lh-1-long-entry", side=Side.BUY, price=D(19000), remaining=D("0.1")
    )
    tp = OpenOrderView(
        intent_id="lh-1-long-tp-2",
        side=Side.SELL,
        price=D(21000),
        remaining=D("0.1"),
        reduce_only=True,
    )
    state, _ = run([snap(T0, bars=(bar(T0, 500_000),))])
    bad = snap(
        T0 + NS, open_orders=(entry, tp), liquidations=(liq(T0 + NS, "sell", 500_000),), **overrides
    )
    state, actions = decide(state, bad, make_config())
    assert state.hold is reason
    assert places(actions) == [] and cancels(actions) == ["lh-1-long-entry"]


def test_breaker_not_closed_cancels_every_order_and_places_nothing() -> None:
    state, _ = filled_long()
    tp = OpenOrderView(
        intent_id="lh-1-long-tp-2",
        side=Side.SELL,
        price=D(21000),
        remaining=D("0.1"),
        reduce_only=True,
    )
    # Even with the price far through the stop, an open breaker allows cancels only.
    state, actions = decide(
        state,
        snap(
            T0 + 130 * NS,
            best_bid=D(19000),
            best_ask=D("19000.5"),
            position=D("0.1"),
            open_orders=(tp,),
            breaker=BreakerState.OPEN,
        ),
        make_config(),
    )
    assert state.hold is HoldReason.BREAKER
    assert places(actions) == [] and cancels(actions) == ["lh-1-long-tp-2"]


def test_older_event_is_ignored() -> None:
    state, _ = cascade_state()
    again, actions = decide(state, snap(T0), make_config())
    assert again == state and actions == ()


# -- IDS AND CONFIG -----------------------------------------------------------


def test_same_events_give_the_same_intent_ids() -> None:
    _, first = cascade_state()
    _, second = cascade_state()
    assert (
        places(first)[0].intent.intent_id
        == places(second)[0].intent.intent_id
        == "lh-" + str(T0 + 60 * NS) + "-long-entry"
    )
    assert places(first)[0].intent.client_order_id == places(second)[0].intent.client_order_id


def test_config_refuses_unknown_keys_and_off_lot_sizes() -> None:
    with pytest.raises(ValidationError, match="order_sise"):
        make_config(order_sise=D(1))
    with pytest.raises(ValidationError):
        make_config(order_size=D("0.0005"))
