"""Small markets, intents, venue answers and an engine wired to a simulated clock, for engine tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.clock import NS_PER_S, SimulatedClock
from core.models import Fee, Market, MarketType, Order, OrderStatus, OrderType, Side, Trade
from gateway.breaker import BreakerState, TripReason
from gateway.engine import GatewayEngine
from gateway.engine_records import WalRecord
from gateway.engine_types import EngineConfig, FailureKind, ResultFailure, Send, SubmitDecision
from gateway.intents import OrderIntent
from risk.limits import RiskLimits

D = Decimal
VENUE = "paper"
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
MID = D("60000")
START_NS = 1_000 * NS_PER_S
TIMEOUT = ResultFailure(FailureKind.UNKNOWN, "RequestTimeout: no answer")

SPOT_MARKET = Market(
    venue=VENUE,
    symbol=SPOT,
    id="BTCUSDT",
    type=MarketType.SPOT,
    base="BTC",
    quote="USDT",
    price_tick=D("0.01"),
    amount_step=D("0.0001"),
    min_amount=D("0.0001"),
    min_cost=D("5"),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)
PERP_MARKET = Market(
    venue=VENUE,
    symbol=PERP,
    id="BTCUSDT-P",
    type=MarketType.SWAP,
    base="BTC",
    quote="USDT",
    settle="USDT",
    linear=True,
    inverse=False,
    price_tick=D("0.1"),
    amount_step=D("0.001"),
    min_amount=D("0.001"),
    min_cost=D("5"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
MARKETS = {(m.venue, m.symbol): m for m in (SPOT_MARKET, PERP_MARKET)}


def make_engine(
    *,
    ready: bool = True,
    budgets: dict[str, Decimal] | None = None,
    limits: RiskLimits | None = None,
    config: EngineConfig | None = None,
    marks: bool = True,
) -> tuple[GatewayEngine, SimulatedClock]:
    """Return an engine (recovered, with budgets and marks unless told otherwise) and its clock."""
    clock = SimulatedClock(START_NS)
    engine = GatewayEngine(MARKETS, limits or RiskLimits(), clock, config=config)
    if budgets is None:
        budgets = {"mm": D(10_000), "arb": D(10_000)}
    if budgets:
        apply(engine, engine.set_budgets(budgets).records)
    if marks:
        engine.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID})
    if ready:
        engine.finish_recovery()
    return engine, clock


def apply(engine: GatewayEngine, records: tuple[WalRecord, ...] | list[WalRecord]) -> None:
    for record_type, payload in records:
        engine.apply(record_type, payload)


def intent(
    intent_id: str = "i1",
    *,
    agent: str = "mm",
    symbol: str = SPOT,
    side: Side = Side.BUY,
    type: OrderType = OrderType.LIMIT,
    amount: str = "0.01",
    price: str | None = "59990",
    **extra: Any,
) -> OrderIntent:
    return OrderIntent(
        agent_id=agent,
        intent_id=intent_id,
        venue=VENUE,
        symbol=symbol,
        side=side,
        type=type,
        amount=D(amount),
        price=D(price) if price is not None else None,
        **extra,
    )


def sent(engine: GatewayEngine, decision: SubmitDecision) -> Send:
    """Assert ``decision`` is a Send, apply its records (as the actor does), return it."""
    assert isinstance(decision, Send), decision
    apply(engine, decision.records)
    return decision


def venue_order(
    send: Send,
    status: OrderStatus = OrderStatus.OPEN,
    filled: str = "0",
    venue_id: str = "v1",
) -> Order:
    request = send.request
    return Order(
        venue=VENUE,
        id=venue_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        status=status,
        amount=request.amount,
        filled=D(filled),
        price=request.price,
    )


def trade(
    send: Send,
    trade_id: str,
    amount: str,
    price: str | None = None,
    *,
    fee: str = "0",
    venue_id: str | None = "v1",
    client_order_id: str | None = "same",
) -> Trade:
    request = send.request
    fill_price = D(price) if price is not None else (request.price or MID)
    cost = fill_price * D(amount)
    return Trade(
        venue=VENUE,
        id=trade_id,
        order_id=venue_id,
        client_order_id=request.client_order_id if client_order_id == "same" else client_order_id,
        symbol=request.symbol,
        side=request.side,
        price=fill_price,
        amount=D(amount),
        cost=cost,
        fee=Fee(cost=D(fee), currency="USDT"),
        timestamp=1,
    )


def reserved(engine: GatewayEngine, agent: str = "mm") -> Decimal:
    """Return what ``agent`` has reserved now (0 for an agent the engine does not know)."""
    view = engine.snapshot().agents.get(agent)
    return view.reserved if view is not None else D(0)


def open_order(engine: GatewayEngine, intent_id: str = "i1", **kwargs: Any) -> Send:
    """Submit an intent and apply the venue's OPEN answer; return the send."""
    send = sent(engine, engine.submit(intent(intent_id, **kwargs)))
    apply(engine, engine.on_result(send.client_order_id, venue_order(send)).records)
    return send


def open_breaker(engine: GatewayEngine) -> None:
    """Trip the breaker by a manual halt, straight to OPEN."""
    apply(engine, engine.trip(TripReason.MANUAL_HALT, "test").records)
    assert engine.breaker_state is BreakerState.OPEN
