"""A paused agent opens nothing but manages what it holds; an idle agent says why (issue 11)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.base import AccountView, AgentCore, AgentStatus, MarketView, reducing_only
from core.events import TopOfBook
from core.models import OrderType, Side, TimeInForce
from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView

D = Decimal
PERP = ("bybit", "BTC/USDT:USDT")
SPOT = ("bybit", "BTC/USDT")
T0 = 1_670_904_000_000_000_000  # 2022-12-13 04:00 UTC


def order(
    intent_id: str,
    side: Side,
    amount: str,
    market: tuple[str, str] = PERP,
    reduce_only: bool = False,
) -> OrderIntent:
    return OrderIntent(
        agent_id="mm",
        intent_id=intent_id,
        venue=market[0],
        symbol=market[1],
        side=side,
        type=OrderType.LIMIT,
        amount=D(amount),
        price=D("17000"),
        reduce_only=reduce_only,
    )


def resting(intent: OrderIntent, filled: str = "0") -> OrderView:
    return OrderView(
        client_order_id=f"sw{intent.intent_id}",
        agent_id="mm",
        intent_id=intent.intent_id,
        venue=intent.venue,
        symbol=intent.symbol,
        side=intent.side,
        type=intent.type,
        amount=intent.amount,
        price=intent.price,
        time_in_force=TimeInForce.GTC,
        post_only=False,
        reduce_only=intent.reduce_only,
        state=OrderState.OPEN,
        venue_order_id="1",
        filled=D(filled),
        average_price=None,
        fees={},
        trade_ids=(),
        reservation=D(0),
        reservation_left=D(0),
        reason="",
        created_ns=0,
        updated_ns=0,
    )


class Quoter:
    """Quotes both sides of its market at every book, like a market maker; says why idle."""

    agent_id = "mm"

    def __init__(self, market: tuple[str, str] = PERP, reason: str | None = None) -> None:
        self.market = market
        self.reason = reason

    def wants(self, event: object) -> bool:
        return isinstance(event, TopOfBook)

    def initial_state(self) -> int:
        return 0

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> int:
        return now_ns

    def decide(self, state: int, snapshot: int) -> tuple[int, Sequence[Action]]:
        return state + 1, [
            PlaceOrder(intent=order(f"b{state}", Side.BUY, "0.01", self.market)),
            PlaceOrder(intent=order(f"s{state}", Side.SELL, "0.01", self.market)),
        ]

    def idle_reason(self, state: int) -> str | None:
        if self.reason == "raise":
            raise RuntimeError("broken")
        return self.reason


def book(ts: int, market: tuple[str, str] = PERP) -> TopOfBook:
    return TopOfBook(ts, *market, D("17000"), D(1), D("17001"), D(1))


def paused_core(position: str, market: tuple[str, str] = PERP) -> AgentCore[int, int]:
    core = AgentCore(Quoter(market))
    core.account.positions = {market: D(position)}
    core.on_events([book(T0, market)])
    core.pause("negative edge over the window")
    return core


# -- A PAUSED AGENT MANAGES WHAT IT HOLDS ------------------------------------------------


def test_on_events_when_paused_with_long_perp_then_only_the_unwind_passes_capped() -> None:
    # Regression (issue 11): a pause stopped every decision, so an mm inventory sat
    # unmanaged for the 2-hour cooling period.
    core = paused_core("0.004")
    actions = core.on_events([book(T0 + 1)])
    assert actions == [
        PlaceOrder(intent=order("s1", Side.SELL, "0.004", reduce_only=True)),
    ]
    assert core.metrics.decisions == 2 and core.metrics.held_back == 1  # the buy would open


def test_on_events_when_paused_and_flat_then_opens_nothing() -> None:
    core = paused_core("0")
    assert core.on_events([book(T0 + 1)]) == []
    assert core.metrics.held_back == 2


def test_on_events_when_paused_short_then_buy_reduces_and_cannot_flip() -> None:
    core = paused_core("-0.02")
    core.account.record(resting(order("old", Side.BUY, "0.015", reduce_only=True)))
    actions = core.on_events([book(T0 + 1)])  # 0.02 short, 0.015 already on its way out
    assert actions == [PlaceOrder(intent=order("b1", Side.BUY, "0.005", reduce_only=True))]
    core.account.record(resting(order("old2", Side.BUY, "0.005", reduce_only=True)))
    assert core.on_events([book(T0 + 2)]) == []  # nothing left to reduce: nothing passes


def test_on_events_when_paused_spot_holding_then_sell_at_most_what_is_held() -> None:
    core = paused_core("0.003", SPOT)
    actions = core.on_events([book(T0 + 1, SPOT)])
    assert actions == [PlaceOrder(intent=order("s1", Side.SELL, "0.003", SPOT))]
    assert isinstance(actions[0], PlaceOrder) and not actions[0].intent.reduce_only  # spot


def test_pause_when_orders_rest_then_openers_canceled_and_exits_kept() -> None:
    core = AgentCore(Quoter())
    core.account.positions = {PERP: D("0.01"), SPOT: D("0.5")}
    stop = order("stop", Side.SELL, "0.01", reduce_only=True)
    quote = order("quote", Side.BUY, "0.01")
    spot_exit = order("spot-tp", Side.SELL, "0.5", SPOT)
    spot_too_big = order("spot-big", Side.SELL, "0.6", SPOT)
    perp_unflagged = order("perp-sell", Side.SELL, "0.005")  # reduces, but may flip later
    for intent in (stop, quote, spot_exit, spot_too_big, perp_unflagged):
        core.account.record(resting(intent))
    assert core.pause("drawdown past its limit") == [
        CancelOrder(intent_id="quote"),
        CancelOrder(intent_id="spot-big"),
        CancelOrder(intent_id="perp-sell"),
    ]
    assert core.status is AgentStatus.PAUSED
    assert core.stop() == [
        CancelOrder(intent_id=i) for i in ("stop", "quote", "spot-tp", "spot-big", "perp-sell")
    ]


def test_on_events_when_paused_and_an_opener_still_rests_then_it_is_canceled() -> None:
    core = paused_core("0")
    core.account.record(resting(order("late", Side.BUY, "0.01")))  # acknowledged after the pause
    assert core.on_events([book(T0 + 1)]) == [CancelOrder(intent_id="late")]


def test_resume_when_paused_then_strategy_actions_pass_unchanged() -> None:
    core = paused_core("0.004")
    core.resume()
    actions = core.on_events([book(T0 + 1)])
    assert [a.intent.amount for a in actions if isinstance(a, PlaceOrder)] == [D("0.01")] * 2


def test_reducing_only_when_intent_already_reduce_only_and_within_then_same_object() -> None:
    intent = order("x", Side.SELL, "0.001", reduce_only=True)
    assert reducing_only(intent, {PERP: D("0.01")}, ()) is intent


# -- IDLE REASON ---------------------------------------------------------------------------


def test_stats_when_strategy_says_why_then_idle_reason_is_its_line() -> None:
    core = AgentCore(Quoter(reason="best carry -21.0 %/yr after costs < entry 5.2 %/yr"))
    assert core.stats()["idle_reason"] == "best carry -21.0 %/yr after costs < entry 5.2 %/yr"


def test_stats_when_strategy_idle_reason_raises_then_counters_speak() -> None:
    core = AgentCore(Quoter(reason="raise"))
    core.on_events([])
    assert core.stats()["idle_reason"] == "no decision: none of its 0 events called for one"


def test_stats_when_paused_without_strategy_reason_then_since_when_and_why() -> None:
    core = paused_core("0")
    assert core.stats()["idle_reason"] == (
        "paused by the council since 2022-12-13 04:00 UTC (negative edge over the window)"
    )


def test_stats_when_strategy_has_no_idle_reason_method_then_counters_speak() -> None:
    class Silent(Quoter):
        idle_reason = None  # type: ignore[assignment]

    core = AgentCore(Silent())
    core.on_events([TopOfBook(1, "x", "Y/Z", D(1), D(1), D(2), D(1))])  # not its market? wants all
    assert core.stats()["idle_reason"] is None  # it decided, so the counters cannot say more


def test_stats_when_agent_placed_orders_then_no_idle_reason() -> None:
    core = AgentCore(Quoter(reason="anything"))
    action = core.on_events([book(T0)])[0]
    assert isinstance(action, PlaceOrder)
    core.on_placed(action, None, "denied: budget")
    assert core.stats()["idle_reason"] is None
