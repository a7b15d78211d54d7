"""The cascade detector's ingredients and the composite, and the fade's confirmation.

Issue 11: detection was notional thresholds only; a Binance snapshot stream's sum was
taken for the cascade's size; model and recorded prints could both count; and the one
detected cascade of the embedded data was followed by momentum, not the reversal the
hunter traded at once.
"""

from __future__ import annotations

import math
from decimal import Decimal as D
from typing import Any, Literal

from agents.actions import PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.detector import (
    Print,
    flow_of,
    move_bps,
    oi_drop_bps,
    read,
    sigma_per_minute,
)
from agents.liquidation_hunter.explain import idle_reason
from agents.liquidation_hunter.logic import (
    HunterSnapshot,
    HunterState,
    decide,
    initial_state,
)
from core.events import Bar, Liquidation

NS = 1_000_000_000
MS = 1_000_000
MIN = 60 * NS
T0 = 1_700_000_000 * NS
T1 = T0 + 31 * MIN  # the crash, after 30 minutes of quiet mids
Side = Literal["buy", "sell"]


def config(**overrides: Any) -> LiquidationHunterConfig:
    values: dict[str, Any] = {
        "agent_id": "hunter",
        "venue": "bybit",
        "symbol": "BTC/USDT:USDT",
        "price_tick": D("0.5"),
        "amount_step": D("0.001"),
        "order_size": D("0.1"),
        "max_position": D("1"),
        "min_cascade_notional": D(100_000),
        "min_volume_ratio": D(0),
        "min_depth_ratio": D(0),
        "max_feed_age_ns": 120 * NS,
    }
    values.update(overrides)
    return LiquidationHunterConfig(**values)


def liq(
    ts: int,
    notional: int,
    side: Side = "sell",
    price: int = 20_000,
    source: Literal["recorded", "model"] = "recorded",
    venue: str = "bybit",
) -> Liquidation:
    return Liquidation(ts, venue, "BTC/USDT:USDT", side, D(price), D(notional) / D(price), source)


def snap(ts: int, mid: D | int, oi: int | None = None, **more: Any) -> HunterSnapshot:
    m = D(mid)
    return HunterSnapshot(
        ts_ns=ts,
        best_bid=m - D("0.25"),
        bid_size=D(5),
        best_ask=m + D("0.25"),
        ask_size=D(5),
        feed_ts_ns=ts,
        open_interest=None if oi is None else D(oi),
        open_interest_ts_ns=None if oi is None else ts,
        **more,
    )


def quiet(oi: int | None = None) -> list[HunterSnapshot]:
    """Thirty minutes of mids 20000 / 20002 in turn: one-minute sigma about 1 bp."""
    return [snap(T0 + i * MIN, 20_000 + (2 if i % 2 else 0), oi) for i in range(31)]


def run(
    snapshots: list[HunterSnapshot], cfg: LiquidationHunterConfig
) -> tuple[HunterState, list[PlaceOrder]]:
    state, placed = initial_state(), []
    for s in snapshots:
        state, actions = decide(state, s, cfg)
        placed += [a for a in actions if isinstance(a, PlaceOrder)]
    return state, placed


def crash(oi_after: int | None = None, liquidations: int = 150_000) -> list[HunterSnapshot]:
    """The mid falls 20002 -> 19900 -> 19800 with long liquidations at T1 and T1 + 10 s."""
    return [
        snap(T1, 19_900, oi_after, liquidations=(liq(T1, liquidations),)),
        snap(T1 + 10 * NS, 19_800, oi_after, liquidations=(liq(T1 + 10 * NS, 50_000),)),
    ]


# -- INGREDIENTS ---------------------------------------------------------------


def _print(ts: int, notional: int, source: Literal["recorded", "model"] = "recorded") -> Print:
    return Print.of(liq(ts, notional, source=source))


def test_flow_when_stream_is_complete_then_prints_are_summed() -> None:
    prints = (_print(T0, 40_000), _print(T0 + 100 * MS, 40_000), _print(T0 + 200 * MS, 40_000))
    flow = flow_of(prints, "sell", slot_ms=0)
    assert (flow.notional, flow.lower_bound) == (D(120_000), False)


def test_flow_when_snapshot_stream_prints_three_times_in_one_second_then_one_counts() -> None:
    # Binance pushes the latest liquidation of each 1000 ms: three prints in one second
    # are one snapshot delivered again, and their sum is not the cascade's size.
    prints = (_print(T0, 40_000), _print(T0 + 300 * MS, 45_000), _print(T0 + 900 * MS, 50_000))
    flow = flow_of(prints, "sell", slot_ms=1000)
    assert (flow.notional, flow.slots, flow.lower_bound) == (D(50_000), 1, True)


def test_flow_when_snapshot_stream_spans_three_seconds_then_a_lower_bound_of_three() -> None:
    prints = (_print(T0, 40_000), _print(T0 + NS, 40_000), _print(T0 + 2 * NS, 40_000))
    flow = flow_of(prints, "sell", slot_ms=1000)
    assert (flow.notional, flow.slots, flow.lower_bound) == (D(120_000), 3, True)


def test_flow_when_model_prints_on_a_snapshot_venue_then_summed_as_complete() -> None:
    prints = tuple(_print(T0 + i * 100 * MS, 40_000, "model") for i in range(3))
    flow = flow_of(prints, "sell", slot_ms=1000)
    assert (flow.notional, flow.lower_bound) == (D(120_000), False)


def test_sigma_when_returns_alternate_one_bp_then_about_one_bp() -> None:
    mids = tuple((i, 20_000.0 * (1.0001 if i % 2 else 1.0)) for i in range(31))
    sigma, n = sigma_per_minute(mids)
    assert n == 30 and sigma is not None and math.isclose(sigma, 1e-4, rel_tol=0.05)


def test_sigma_when_minutes_have_gaps_then_only_consecutive_pairs_count() -> None:
    _, n = sigma_per_minute(((0, 1.0), (1, 1.1), (5, 1.2), (6, 1.3)))
    assert n == 2


def test_move_when_longs_liquidated_then_measured_down_from_the_window_high() -> None:
    mids = ((T0, D(20_000)), (T0 + NS, D(20_100)), (T0 + 2 * NS, D(19_900)))
    assert move_bps(mids, "sell", D(19_899)) == float((D(20_100) - D(19_899)) / D(20_100)) * 10_000
    assert move_bps(mids, "buy", D(20_000)) == float(D(100) / D(19_900)) * 10_000


def test_oi_drop_when_open_interest_falls_from_its_high_then_in_bps() -> None:
    oi = ((T0, D(10_000)), (T0 + NS, D(10_010)), (T0 + 2 * NS, D("9999.99")))
    drop = oi_drop_bps(oi)
    assert drop is not None and math.isclose(drop, float(D("10.01") / D(10_010)) * 10_000)
    assert oi_drop_bps(((T0, D(1)),)) is None


def test_read_when_the_move_is_small_against_volatility_then_not_a_cascade() -> None:
    cfg = config()
    minute_mids = tuple((i, 20_000.0 * (1.0001 if i % 2 else 1.0)) for i in range(31))
    window = ((T1 - NS, D(20_002)),)
    prints = (_print(T1, 150_000),)
    small = read("sell", prints, D(0), None, window, minute_mids, (), D(19_998), cfg)
    big = read("sell", prints, D(0), None, window, minute_mids, (), D(19_900), cfg)
    assert small.failed == ("move",) and small.move_sigma is not None and small.move_sigma < 2
    assert big.is_cascade and big.move_sigma is not None and big.move_sigma > 20


def test_read_when_no_volatility_history_then_says_so_rather_than_guessing() -> None:
    reading = read("sell", (_print(T1, 150_000),), D(0), None, (), (), (), D(19_900), config())
    assert "volatility unknown" in reading.failed


# -- THE COMPOSITE, THROUGH decide() ---------------------------------------------


def test_decide_when_flow_move_and_oi_drop_all_hold_then_one_cascade() -> None:
    state, _ = run([*quiet(oi=10_000), *crash(oi_after=9_990)], config())
    (cascade,) = state.cascades
    assert cascade.side == "sell" and cascade.notional == D(150_000)
    assert cascade.oi_drop_bps is not None and math.isclose(cascade.oi_drop_bps, 10.0)
    assert cascade.move_sigma is not None and cascade.move_sigma > 20


def test_decide_when_open_interest_does_not_fall_then_no_cascade() -> None:
    state, _ = run([*quiet(oi=10_000), *crash(oi_after=10_000)], config())
    assert state.cascades == ()
    assert state.closest is not None and "open interest" in state.closest.line


def test_decide_when_flow_is_only_a_binance_snapshot_sum_then_no_cascade() -> None:
    # Regression (issue 11): 3 x 40k pushed within one second summed to 120k >= 100k.
    cfg = config(venue="binance")
    stream = tuple(liq(T1 + i * 300 * MS, 40_000, venue="binance") for i in range(3))
    snaps = [s.model_copy(update={"liquidations": ()}) for s in quiet()]
    state, _ = run([*snaps, snap(T1 + NS, 19_900, liquidations=stream)], cfg)
    assert state.cascades == ()
    assert state.closest is not None and ">= 40k" in state.closest.line


def test_decide_when_the_same_liquidation_arrives_twice_then_counted_once() -> None:
    state, _ = run(
        [*quiet(), snap(T1, 19_900, liquidations=(liq(T1, 60_000),)),
         snap(T1 + NS, 19_890, liquidations=(liq(T1, 60_000),))],
        config(),
    )  # fmt: skip
    assert state.tally.liquidations_counted == 1 and state.tally.repeats_dropped == 1
    assert state.cascades == ()  # 60k once, not 120k


def test_decide_when_recorded_prints_arrive_then_model_prints_are_dropped() -> None:
    # Regression (issue 11): the hunter counted model and recorded prints alike.
    model = liq(T1, 80_000, source="model")
    recorded = liq(T1 + NS, 60_000)
    later_model = liq(T1 + 2 * NS, 80_000, source="model")
    state, _ = run(
        [*quiet(), snap(T1, 19_950, liquidations=(model,)),
         snap(T1 + NS, 19_940, liquidations=(recorded,)),
         snap(T1 + 2 * NS, 19_930, liquidations=(later_model,))],
        config(),
    )  # fmt: skip
    assert [p.source for p in state.prints] == ["recorded"]
    assert state.tally.model_dropped == 1 and state.cascades == ()


def test_fade_when_the_cascade_is_followed_by_momentum_then_not_traded() -> None:
    falling = [snap(T1 + (20 + 30 * i) * NS, 19_790 - 10 * i) for i in range(40)]
    state, placed = run([*quiet(), *crash(), *falling], config())
    assert placed == []
    (cascade,) = state.cascades
    assert cascade.outcome is not None and cascade.outcome.startswith(
        "not traded: not exhausted within 15 min"
    )


def test_fade_when_quiet_and_retraced_then_a_post_only_buy() -> None:
    after = [snap(T1 + 80 * NS, 19_800), snap(T1 + 90 * NS, 19_860)]
    state, placed = run([*quiet(), *crash(), *after], config())
    (order,) = placed
    assert order.intent.side.value == "buy" and order.intent.post_only
    (cascade,) = state.cascades
    assert cascade.outcome is not None and cascade.outcome.startswith("entered: buy 0.1")


def test_fade_when_retraced_but_liquidations_continue_then_waits() -> None:
    after = [snap(T1 + 40 * NS, 19_860, liquidations=(liq(T1 + 40 * NS, 10_000),))]
    state, placed = run([*quiet(), *crash(), *after], config())
    assert placed == [] and state.armed is not None


# -- IDLE REASON ---------------------------------------------------------------------


def test_idle_reason_when_flow_stays_small_then_says_largest_vs_threshold() -> None:
    cfg = config(min_cascade_notional=D(250_000))
    state, _ = run([*quiet(), snap(T1, 19_900, liquidations=(liq(T1, 100_000),))], cfg)
    reason = idle_reason(state, cfg)
    assert reason is not None
    assert "long-liquidation flow 100k vs 250k needed in 5 min" in reason


def test_idle_reason_when_no_liquidation_then_says_none_seen() -> None:
    cfg = config()
    state, _ = run(quiet(), cfg)
    assert idle_reason(state, cfg) == (
        "no liquidation of BTC/USDT:USDT on bybit seen in any 5-min window"
    )


def test_idle_reason_when_cascade_ran_on_then_says_not_exhausted() -> None:
    cfg = config()
    falling = [snap(T1 + (20 + 30 * i) * NS, 19_790 - 10 * i) for i in range(40)]
    state, _ = run([*quiet(), *crash(), *falling], cfg)
    assert idle_reason(state, cfg) == (
        "1 cascade(s) on BTC/USDT:USDT on bybit, no entry: 1 not traded: "
        "not exhausted within 15 min"
    )


def test_idle_reason_when_an_entry_was_placed_then_none() -> None:
    cfg = config()
    after = [snap(T1 + 80 * NS, 19_800), snap(T1 + 90 * NS, 19_860)]
    state, _ = run([*quiet(), *crash(), *after], cfg)
    assert idle_reason(state, cfg) is None


def test_observe_when_the_same_bar_comes_with_every_decision_then_its_volume_counts_once() -> None:
    # The strategy hands the latest bar to each decision of its minute.
    bar = Bar(T0, "bybit", "BTC/USDT:USDT", D(20_000), D(20_000), D(20_000), D(20_000), D(5), 60)
    state, _ = run([snap(T0 + i * NS, 20_000, bars=(bar,)) for i in range(3)], config())
    assert state.traded == ((T0, D(100_000)),)


def test_decide_when_a_binance_stream_prints_every_second_then_saturation_is_a_cascade() -> None:
    # 10 one-second slots of 5k each: a lower bound of 50k < 100k, but a stream that
    # printed every second hides more orders than it shows.
    cfg = config(venue="binance")
    snaps = [*quiet(), *(snap(T1 + i * NS, 19_990 - 10 * i,
                              liquidations=(liq(T1 + i * NS, 5_000, venue="binance"),))
                         for i in range(10))]  # fmt: skip
    state, _ = run(snaps, cfg)
    (cascade,) = state.cascades
    assert cascade.lower_bound and cascade.slots == 10 and cascade.notional == D(50_000)


def test_decide_when_two_model_prints_are_alike_but_numbered_then_both_count() -> None:
    # Two synthetic positions liquidated at one instant, price and amount: two prints.
    first, second = (
        Liquidation(T1, "bybit", "BTC/USDT:USDT", "sell", D(20_000), D(3), "model", n)
        for n in (1, 2)
    )
    state, _ = run([*quiet(), snap(T1, 19_900, liquidations=(first, second))], config())
    assert state.tally.liquidations_counted == 2 and state.tally.repeats_dropped == 0
