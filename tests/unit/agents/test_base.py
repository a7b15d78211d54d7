from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.base import AccountView, AgentCore, AgentStatus, MarketView
from core.events import FundingEvent, TopOfBook, TradeTick
from core.models import OrderType, Side, TimeInForce
from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView

D = Decimal
KEY = ("binance", "BTC/USDT:USDT")


def top(ts: int, bid: str = "100", ask: str = "101") -> TopOfBook:
    return TopOfBook(ts, *KEY, D(bid), D(1), D(ask), D(1))


def intent(n: int) -> OrderIntent:
    return OrderIntent(
        agent_id="mm",
        intent_id=f"e{n}",
        venue=KEY[0],
        symbol=KEY[1],
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D("0.01"),
        price=D("99"),
    )


def view(n: int, state: OrderState = OrderState.OPEN) -> OrderView:
    i = intent(n)
    return OrderView(
        client_order_id=f"sw{n}",
        agent_id="mm",
        intent_id=i.intent_id,
        venue=i.venue,
        symbol=i.symbol,
        side=i.side,
        type=i.type,
        amount=i.amount,
        price=i.price,
        time_in_force=TimeInForce.GTC,
        post_only=False,
        reduce_only=False,
        state=state,
        venue_order_id="1",
        filled=D(0),
        average_price=None,
        fees={},
        trade_ids=(),
        reservation=D(1),
        reservation_left=D(1),
        reason="",
        created_ns=0,
        updated_ns=0,
    )


class Echo:
    """A strategy that places one order per decision and records what it saw."""

    agent_id = "mm"

    def __init__(self, fail_at: int | None = None) -> None:
        self.seen: list[tuple[int, Any]] = []
        self.fail_at = fail_at

    def wants(self, event: object) -> bool:
        return isinstance(event, TopOfBook)

    def initial_state(self) -> int:
        return 0

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> tuple[int, int]:
        return now_ns, len(market.take_trades(KEY))

    def decide(self, state: int, snapshot: tuple[int, int]) -> tuple[int, Sequence[Action]]:
        if self.fail_at is not None and state == self.fail_at:
            raise ZeroDivisionError("bug in the strategy")
        self.seen.append(snapshot)
        return state + 1, [PlaceOrder(intent=intent(state))]


def test_on_events_when_running_then_decides_at_the_last_event_time() -> None:
    strategy = Echo()
    core = AgentCore(strategy)
    trade = TradeTick(5, *KEY, D(100), D(1), "buy")
    actions = core.on_events([top(1), trade, top(7)])
    assert [a.intent.intent_id for a in actions if isinstance(a, PlaceOrder)] == ["e0"]
    assert strategy.seen == [(7, 1)]
    assert core.market.tops[KEY].ts_ns == 7
    assert core.on_events([top(9)]) and strategy.seen[-1] == (9, 0)  # trades are taken once


def test_decide_when_strategy_raises_then_contained_counted_and_next_event_decides() -> None:
    core = AgentCore(Echo(fail_at=1))
    assert core.on_events([top(1)])
    assert core.on_events([top(2)]) == []  # the strategy raised: no action, no crash
    assert core.metrics.errors == 1 and "bug in the strategy" in (core.metrics.last_error or "")
    assert core.state == 1  # the failed decision did not change the state


def test_pause_when_orders_open_then_cancels_them_and_opens_nothing_until_resumed() -> None:
    core = AgentCore(Echo())
    core.on_placed(PlaceOrder(intent=intent(0)), view(0), None)
    core.on_placed(PlaceOrder(intent=intent(1)), view(1, OrderState.FILLED), None)
    cancels = core.pause("drawdown")
    assert cancels == [CancelOrder(intent_id="e0")]
    assert core.status is AgentStatus.PAUSED
    assert core.on_events([top(3)]) == [CancelOrder(intent_id="e0")]  # still open: again
    core.on_canceled(CancelOrder(intent_id="e0"), view(0, OrderState.CANCELED))
    assert core.on_events([top(3)]) == []  # flat: its buy would open, so nothing passes
    core.resume()
    assert core.on_events([top(4)])
    core.on_placed(PlaceOrder(intent=intent(2)), view(2), None)
    assert core.stop() == [CancelOrder(intent_id="e2")]
    core.resume()  # a stopped agent stays stopped
    assert core.status is AgentStatus.STOPPED and core.on_events([top(5)]) == []


def test_rebuild_when_restarted_then_account_from_gateway_only_own_orders() -> None:
    core = AgentCore(Echo())
    other = view(2).model_copy(update={"agent_id": "other"})
    core.rebuild([view(0), other], {KEY: D("0.5")})
    assert [o.intent_id for o in core.account.open_orders] == ["e0"]
    assert core.account.positions[KEY] == D("0.5")


def test_on_placed_when_denied_then_counted_with_reason() -> None:
    core = AgentCore(Echo())
    core.on_placed(PlaceOrder(intent=intent(0)), None, "budget")
    assert core.metrics.denied == 1 and core.metrics.last_denial == "budget"
    assert core.stats()["open_orders"] == 0


def test_market_view_when_funding_then_taken_once() -> None:
    market = MarketView()
    market.apply([FundingEvent(8, *KEY, D("0.0001"), D(8))])
    assert len(market.take_funding()) == 1 and market.take_funding() == ()


def test_account_open_orders_when_views_change_then_follow_the_latest_view_in_placing_order() -> (
    None
):
    account = AccountView(orders={"e1": view(1), "e2": view(2, OrderState.FILLED)})
    assert [o.intent_id for o in account.open_orders] == ["e1"]
    account.record(view(3))
    account.record(view(4, OrderState.PENDING))
    account.record(view(1, OrderState.CANCELED))  # a newer view of e1 ends it
    assert [o.intent_id for o in account.open_orders] == ["e3", "e4"]
    account.replace_orders([view(5), view(6, OrderState.REJECTED)])
    assert [o.intent_id for o in account.open_orders] == ["e5"]
    assert set(account.orders) == {"e5", "e6"}


def test_whole_instants_when_an_instant_spans_two_batches_then_it_is_yielded_whole() -> None:
    from agents.base import whole_instants

    def top(ts: int, symbol: str = "BTC/USDT:USDT") -> TopOfBook:
        return TopOfBook(
            venue="bybit",
            symbol=symbol,
            ts_ns=ts,
            bid=D("99"),
            bid_size=D("1"),
            ask=D("101"),
            ask_size=D("1"),
        )

    # The regression: the lockstep run cut the minute's spot and perp events into two
    # batches, so the agent quoted before the venue had seen the perp's bar of that minute.
    batches = [[top(1), top(2, "BTC/USDT")], [top(2), top(3)], [top(3, "BTC/USDT")], [], [top(4)]]
    instants = [[e.ts_ns for e in group] for group in whole_instants(batches)]
    assert instants == [[1], [2, 2], [3, 3], [4]]
    assert list(whole_instants([])) == []
