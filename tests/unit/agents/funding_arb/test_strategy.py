"""The paper agent's path (``AgentCore`` + ``FundingArbStrategy``) and its idle reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agents.actions import PlaceOrder
from agents.base import AgentCore
from agents.funding_arb.backtest import (
    backtest_config,
    hourly_prints,
    markets_of,
    reference_marks,
    run_backtest,
)
from agents.funding_arb.config import FundingArbConfig, VenueMarkets
from agents.funding_arb.logic import decide
from agents.funding_arb.model import FundingArbState
from agents.funding_arb.strategy import FundingArbStrategy, idle_reason
from core.events import MarketEvent, MarkEvent
from exchanges.feeds.replay import ReplayFeed
from gateway.breaker import BreakerState
from gateway.intents import OrderIntent
from tests.unit.agents.funding_arb.helpers import HOUR, PERP, SPOT, T0, snapshot, spot_perp_config

DATA = Path(__file__).resolve().parents[4] / "data" / "funding-2025-2026"
STRETCH = (1755734400 * 10**9, 1764547200 * 10**9)  # 2025-08-21 .. 2025-12-01 UTC


def test_paper_agent_when_driven_through_agent_core_then_places_the_backtests_orders() -> None:
    capital = Decimal(100000)
    symbols = ["BTC", "ETH"]
    traced: list[OrderIntent] = []
    run_backtest(DATA, symbols, capital, start_ns=STRETCH[0], end_ns=STRETCH[1], trace=traced)

    config = backtest_config(FundingArbConfig(), Decimal("0.0002"))
    core = AgentCore(FundingArbStrategy(config))
    core.set_budget(capital, capital)
    markets = sorted(markets_of(config))
    held: dict[tuple[str, str], Decimal] = {}
    placed: list[OrderIntent] = []
    feed = ReplayFeed(DATA, symbols=symbols, start_ns=STRETCH[0], end_ns=STRETCH[1])
    for _hour, prints in hourly_prints(feed, set(markets)):
        # What the feed would push: each market's price (Binance's mark of its base asset)
        # and the funding prints of the hour.
        ts_ns = max(p.ts_ns for p in prints)
        marks = reference_marks(prints)
        events: list[MarketEvent] = [
            MarkEvent(ts_ns, v, s, marks[s.split("/")[0]])
            for v, s in markets
            if s.split("/")[0] in marks
        ]
        events.extend(sorted(prints, key=lambda p: p.ts_ns))
        for action in core.on_events(events):
            assert isinstance(action, PlaceOrder)
            intent = action.intent
            placed.append(intent)
            key = (intent.venue, intent.symbol)
            held[key] = held.get(key, Decimal(0)) + intent.side.sign * intent.amount
        core.on_account([], held, capital, capital, BreakerState.CLOSED)

    assert len(traced) >= 10  # entries, a margin stop and its re-entry in this stretch
    assert placed == traced
    assert core.metrics.errors == 0


# -- IDLE REASON --------------------------------------------------------------------


def test_idle_reason_when_funding_is_negative_and_no_spot_is_lent_then_names_the_carry() -> None:
    config = spot_perp_config()
    state, actions = decide(FundingArbState(), snapshot(T0, rate="-0.0002"), config)
    assert actions == []
    # -0.0002 per 8h is -21.9 %/yr; the round trip (0.003) over 100h costs 26.3 %/yr; the
    # entry margin (0.001 over 100h) is 8.8 %/yr.
    reason = FundingArbStrategy(config).idle_reason(state)
    assert reason == (
        "best carry -48.2 %/yr after costs < entry 8.8 %/yr "
        "(sp:BTC:L-binance-spot:S-binance-perp: -21.9 %/yr before costs)"
    )


def test_idle_reason_when_too_few_prints_then_says_how_many_and_what_it_saw() -> None:
    config = spot_perp_config(min_prints=3)
    state, _ = decide(FundingArbState(), snapshot(T0, rate="-0.0002"), config)
    state, _ = decide(state, snapshot(T0 + 8 * HOUR, rate="-0.0002"), config)
    reason = idle_reason(state, config)
    assert reason is not None
    assert reason == (
        "0 of 1 candidate units tradable (estimate_not_ready 1; a perp needs 3 funding "
        "prints, most seen 2); on what it saw the best unit, "
        "sp:BTC:L-binance-spot:S-binance-perp, would carry -21.9 %/yr before costs"
    )


def test_idle_reason_when_holding_a_unit_then_none() -> None:
    config = spot_perp_config()
    state, actions = decide(FundingArbState(), snapshot(T0, rate="0.001"), config)
    assert actions
    assert idle_reason(state, config) is None


def test_idle_reason_before_any_decision_then_says_so() -> None:
    assert idle_reason(FundingArbState(), spot_perp_config()) == "no decision yet"


def test_idle_reason_when_borrowing_is_lent_then_negative_funding_is_traded() -> None:
    venues = {
        "binance": VenueMarkets(
            perps={"BTC": PERP[1]}, spots={"BTC": SPOT[1]}, spot_borrow_allowed=True
        )
    }
    config = spot_perp_config(venues=venues)
    state, actions = decide(FundingArbState(), snapshot(T0, rate="-0.001"), config)
    assert len(actions) == 2 and idle_reason(state, config) is None
