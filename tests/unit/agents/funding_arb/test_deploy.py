"""Deployment, rotation, margin and failed legs: the regressions of issue 11 part 3."""

from __future__ import annotations

from decimal import Decimal

from agents.actions import PlaceOrder
from agents.funding_arb.config import FundingArbConfig, VenueMarkets
from agents.funding_arb.logic import decide
from agents.funding_arb.model import FundingArbState, PositionView, Quote, Snapshot
from agents.funding_arb.strategy import idle_reason
from core.events import FundingEvent
from core.models import Side
from tests.unit.agents.funding_arb.helpers import HOUR, PERP, SPOT, T0, spot_perp_config

DAY = 24 * HOUR
D0 = (T0 // DAY + 1) * DAY  # a UTC midnight
BY_SPOT = ("bybit", "BTC/USDT")
BY_PERP = ("bybit", "BTC/USDT:USDT")
HL_PERP = ("hyperliquid", "BTC/USDC:USDC")
Market = tuple[str, str]


def two_venue_config(**changes: object) -> FundingArbConfig:
    """Binance and Bybit BTC spot-perp; perps at full notional (see helpers)."""
    venues = {
        "binance": VenueMarkets(perps={"BTC": PERP[1]}, spots={"BTC": SPOT[1]}),
        "bybit": VenueMarkets(perps={"BTC": BY_PERP[1]}, spots={"BTC": BY_SPOT[1]}),
    }
    return spot_perp_config(venues=venues, **changes)


def snap(
    ts_ns: int,
    prints: dict[Market, str],
    held: dict[Market, Decimal] | None = None,
    prices: dict[Market, str] | None = None,
    markets: tuple[Market, ...] = (SPOT, PERP, BY_SPOT, BY_PERP),
) -> Snapshot:
    hours = {HL_PERP: "1"}
    return Snapshot(
        ts_ns,
        Decimal(100000),
        tuple(Quote(v, s, Decimal((prices or {}).get((v, s), "50000")), ts_ns) for v, s in markets),
        tuple(
            FundingEvent(ts_ns, v, s, Decimal(r), Decimal(hours.get((v, s), "8")))
            for (v, s), r in prints.items()
        ),
        tuple(PositionView(v, s, a) for (v, s), a in (held or {}).items() if a),
    )


def fill(
    held: dict[Market, Decimal], actions: list[object], refuse: frozenset[Market] = frozenset()
) -> None:
    """Fill every order at once, except on the markets in ``refuse`` (the venue says no)."""
    for action in actions:
        if isinstance(action, PlaceOrder):
            market = (action.intent.venue, action.intent.symbol)
            if market in refuse:
                continue
            sign = 1 if action.intent.side is Side.BUY else -1
            held[market] = held.get(market, Decimal(0)) + sign * action.intent.amount


def placed(actions: list[object]) -> dict[Market, PlaceOrder]:
    return {(a.intent.venue, a.intent.symbol): a for a in actions if isinstance(a, PlaceOrder)}


# -- DEPLOYMENT -------------------------------------------------------------------


def test_deploy_when_two_units_clear_the_bar_then_the_budget_is_used_not_half_idle() -> None:
    # Regression (issue 11): one unit per symbol x 25 % of the budget left most capital idle.
    # Now each unit may take half the budget and the reserve (5 %) is all that stays free.
    config = two_venue_config()
    state, actions = decide(
        FundingArbState(), snap(T0, {PERP: "0.0005", BY_PERP: "0.0004"}), config
    )
    orders = placed(list(actions))
    assert set(orders) == {SPOT, PERP, BY_SPOT, BY_PERP}
    # Binance first (better carry): 50,000 of capital at 2 per notional = 0.5 BTC a leg.
    assert orders[SPOT].intent.amount == Decimal("0.5")
    # Bybit takes what is left of 95,000: 45,000 -> 22,500 a leg = 0.45 BTC.
    assert orders[BY_PERP].intent.amount == Decimal("0.45")
    assert state.evaluation.deployed_fraction == 0.95


def test_deploy_when_perp_legs_post_margin_then_a_unit_gets_more_notional_per_capital() -> None:
    # perp_leverage 3: a spot-perp unit ties up 1 + 1/3 of its notional.
    config = spot_perp_config(perp_leverage=Decimal(3))
    _, actions = decide(FundingArbState(), snap(T0, {PERP: "0.0005"}), config)
    assert placed(list(actions))[SPOT].intent.amount == Decimal("0.75")  # 50,000 / 1.333 / 50,000


def test_deploy_when_the_budget_is_used_then_a_weaker_candidate_waits() -> None:
    config = two_venue_config(max_unit_capital=Decimal(1))
    state, actions = decide(
        FundingArbState(), snap(T0, {PERP: "0.0005", BY_PERP: "0.0004"}), config
    )
    assert set(placed(list(actions))) == {SPOT, PERP}
    assert ("budget_used", 1) in state.evaluation.blocked


# -- ROTATION ---------------------------------------------------------------------
# One unit takes the whole budget. Per unit of capital (2 per notional), over 100h,
# rotation needs: new carry - its round trip (2 x 0.00155) against old carry + its close
# (0.0015), by more than 0.001 x 2: carry_new*100h > carry_old*100h + 0.0066.
# Old 8h rate 0.0004 -> 0.005, so the new 8h rate must beat 0.000928.


def held_binance_unit() -> tuple[FundingArbState, dict[Market, Decimal], FundingArbConfig]:
    config = two_venue_config(max_unit_capital=Decimal(1))
    state, actions = decide(FundingArbState(), snap(T0, {PERP: "0.0004"}), config)
    held: dict[Market, Decimal] = {}
    fill(held, list(actions))
    state, actions = decide(state, snap(T0 + HOUR, {}, held), config)
    assert actions == [] and state.units[next(iter(state.units))].status == "open"
    return state, held, config


def test_rotation_when_the_new_unit_beats_the_old_by_less_than_the_switch_then_holds() -> None:
    state, held, config = held_binance_unit()
    # 0.0009 per 8h: worth more than the old unit after its own round trip (0.01125 - 0.0031
    # > 0.005), not by the close of the old one and the margin as well.
    state, actions = decide(state, snap(T0 + 2 * HOUR, {BY_PERP: "0.0009"}, held), config)
    assert actions == [] and state.counters.get("rotations", 0) == 0


def test_rotation_when_the_new_unit_beats_the_old_by_more_than_the_switch_then_rotates() -> None:
    state, held, config = held_binance_unit()
    state, actions = decide(state, snap(T0 + 2 * HOUR, {BY_PERP: "0.00095"}, held), config)
    orders = placed(list(actions))
    assert set(orders) == {SPOT, PERP}  # the old unit closes first; the new one waits for it
    assert orders[PERP].intent.reduce_only and state.counters["rotations"] == 1
    assert [note.reason for note in state.exits] == ["exit_rotation"]
    fill(held, list(actions))
    state, actions = decide(state, snap(T0 + 3 * HOUR, {}, held), config)
    assert set(placed(list(actions))) == {BY_SPOT, BY_PERP}


# -- MARGIN -------------------------------------------------------------------------


def test_margin_stop_when_a_cross_venue_perp_leg_lost_half_its_margin_then_exits() -> None:
    venues = {
        "binance": VenueMarkets(perps={"BTC": PERP[1]}),
        "hyperliquid": VenueMarkets(perps={"BTC": HL_PERP[1]}),
    }
    config = spot_perp_config(
        venues=venues, strategies=frozenset({"perp_perp"}), perp_leverage=Decimal(3)
    )
    markets = (PERP, HL_PERP)
    state, actions = decide(
        FundingArbState(), snap(T0, {PERP: "0", HL_PERP: "0.0001"}, markets=markets), config
    )
    held: dict[Market, Decimal] = {}
    fill(held, list(actions))
    assert held[HL_PERP] < 0 < held[PERP]
    # The short leg posted 1/3 of its notional; +15 % eats 45 % of it: hold.
    up = {m: "57500" for m in markets}
    state, actions = decide(state, snap(T0 + HOUR, {}, held, up, markets), config)
    assert actions == []
    # +17 % eats 51 %: the unit closes although its carry is still positive.
    up = {m: "58500" for m in markets}
    state, actions = decide(state, snap(T0 + 2 * HOUR, {}, held, up, markets), config)
    assert len(placed(list(actions))) == 2
    assert state.exits[0].reason == "exit_margin_stop" and state.exits[0].carry_apr_pct > 0


# -- FAILED LEGS --------------------------------------------------------------------


def borrow_config(rate: str = "0.000001") -> FundingArbConfig:
    venues = {
        "binance": VenueMarkets(
            perps={"BTC": PERP[1]},
            spots={"BTC": SPOT[1]},
            spot_borrow_allowed=True,
            borrow_rate_per_hour=Decimal(rate),
        )
    }
    return spot_perp_config(venues=venues)


def run_refused(
    config: FundingArbConfig, state: FundingArbState, start: int, hours: int
) -> tuple[FundingArbState, int, int]:
    """Decide hourly on negative funding while the venue refuses every short-spot sell."""
    held: dict[Market, Decimal] = {}
    entries = traded = 0
    for hour in range(hours):
        before = state.counters.get("entries", 0)
        state, actions = decide(
            state, snap(start + hour * HOUR, {PERP: "-0.001"}, held, markets=(SPOT, PERP)), config
        )
        entries += state.counters.get("entries", 0) - before
        traded += sum(1 for a in actions if isinstance(a, PlaceOrder))
        fill(held, list(actions), refuse=frozenset({SPOT}))
    return state, entries, traded


def test_refused_short_spot_leg_when_repeated_then_cooldown_and_cap_bound_the_loop() -> None:
    # Regression (issue 11): the paper venue refused the short-spot leg 126 times; each time
    # the perp leg was unwound and the unit re-entered at the next decision: 63 round trips
    # in 4 hours. Now: an hour of cooldown after each unwind, and after three unwinds in a
    # row the unit is disabled.
    config = borrow_config()
    state, entries, traded = run_refused(config, FundingArbState(), T0, 48)
    assert entries == config.disable_after_failures == 3
    assert state.counters["unwinds"] == 3 and state.counters["disabled"] == 1
    (record,) = state.failures.values()
    assert record.disabled_cause is not None and record.consecutive == 3
    assert traded <= 3 * 4  # each try: two legs, one hedge retry, one unwind
    reason = idle_reason(state, config)
    assert reason is not None and "disabled 1" in reason


def test_refused_leg_when_the_daily_cap_is_reached_then_the_unit_waits_for_the_next_day() -> None:
    config = borrow_config().model_copy(
        update={"max_failures_per_day": 2, "disable_after_failures": 10}
    )
    state, entries, _ = run_refused(config, FundingArbState(), D0, 20)
    assert entries == 2
    assert any(name == "daily_cap" for name, _ in state.evaluation.blocked)
    state, entries, _ = run_refused(config, state, D0 + DAY, 2)
    assert entries == 1


def test_disabled_unit_when_its_venue_config_changes_then_is_tried_again() -> None:
    state, _, _ = run_refused(borrow_config(), FundingArbState(), T0, 48)
    # Same config a day later: still disabled.
    _, entries, _ = run_refused(borrow_config(), state, T0 + 3 * DAY, 2)
    assert entries == 0
    # The operator changes the venue's borrow terms: the cause changed, the unit is enabled.
    _, entries, _ = run_refused(borrow_config("0.000002"), state, T0 + 3 * DAY, 2)
    assert entries == 1


def test_budget_cut_when_units_hold_more_than_the_budget_then_the_weakest_closes() -> None:
    config = two_venue_config()
    state, actions = decide(
        FundingArbState(), snap(T0, {PERP: "0.0005", BY_PERP: "0.0004"}), config
    )
    held: dict[Market, Decimal] = {}
    fill(held, list(actions))
    state, actions = decide(state, snap(T0 + HOUR, {}, held), config)
    assert actions == []
    # The council halves the budget: 95,000 held against 50,000. Closing Bybit's unit
    # (45,000, the weaker carry) brings it to 50,000.
    cut = snap(T0 + 2 * HOUR, {}, held)
    cut = Snapshot(cut.ts_ns, Decimal(50000), cut.quotes, cut.funding, cut.positions)
    state, actions = decide(state, cut, config)
    assert set(placed(list(actions))) == {BY_SPOT, BY_PERP}
    assert [n.reason for n in state.exits] == ["exit_budget_cut"]


def test_budget_cut_when_the_budget_is_zero_not_yet_known_then_nothing_is_closed() -> None:
    config = two_venue_config()
    held = {SPOT: Decimal("0.5"), PERP: Decimal("-0.5")}
    restart = snap(T0, {}, held)
    restart = Snapshot(restart.ts_ns, Decimal(0), restart.quotes, (), restart.positions)
    state, actions = decide(FundingArbState(), restart, config)
    assert actions == [] and state.counters.get("exits", 0) == 0
