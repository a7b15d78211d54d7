"""The paper venue's own order records, fills, client-order-id registry and resting queues.

Records are mutable slotted objects on the hot path; the frozen ``core.models`` views
(``Order``, ``Trade``) are built from them when asked. They are built with
``model_construct``: every field was validated on the way in, and re-validating a
record the venue made itself would cost more than the matching.
"""

from __future__ import annotations

from bisect import insort
from decimal import Decimal

from core.errors import DuplicateClientOrderId
from core.models import (
    Fee,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TakerOrMaker,
    TimeInForce,
    Trade,
)
from core.money import ZERO
from exchanges.paper.rules import ClientIdPolicy, MarketRules


class OrderRecord:
    """One order as the venue keeps it."""

    __slots__ = (
        "amount",
        "client_order_id",
        "cost",
        "fee",
        "filled",
        "id",
        "last_trade_ms",
        "lock_asset",
        "lock_per_unit",
        "locked",
        "post_only",
        "price",
        "queue_ahead",
        "queue_traded",
        "reduce_only",
        "rules",
        "seq",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "timestamp_ms",
        "type",
    )

    def __init__(
        self,
        seq: int,
        order_id: str,
        client_order_id: str | None,
        rules: MarketRules,
        side: Side,
        type_: OrderType,
        amount: Decimal,
        price: Decimal | None,
        time_in_force: TimeInForce | None,
        post_only: bool,
        reduce_only: bool,
        timestamp_ms: int,
    ) -> None:
        self.seq = seq
        self.id = order_id
        self.client_order_id = client_order_id
        self.rules = rules
        self.symbol = rules.symbol
        self.side = side
        self.type = type_
        self.amount = amount
        self.price = price
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.timestamp_ms = timestamp_ms
        self.status = OrderStatus.OPEN
        self.filled = ZERO
        self.cost = ZERO
        self.fee = ZERO
        self.last_trade_ms: int | None = None
        self.lock_asset: str | None = None
        self.lock_per_unit = ZERO
        self.locked = ZERO
        # Queue position while it rests (exchanges/paper/queue.py): the amount ahead of it
        # at its price (None: unknown, a book without depth), and the amount traded at its
        # price since the level's last depth update.
        self.queue_ahead: Decimal | None = ZERO
        self.queue_traded = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def is_buy(self) -> bool:
        return self.side is Side.BUY

    def to_order(self, venue: str) -> Order:
        """Return the frozen ccxt-shaped view."""
        filled = self.filled
        rules = self.rules
        average = self.cost / (filled * rules.contract_size) if filled else None
        # Copying a template with every field replaced is twice as fast as
        # model_construct, which walks the field definitions each time.
        return _ORDER_TEMPLATE.model_copy(
            update=dict(
                venue=venue,
                id=self.id,
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,
                type=self.type,
                status=self.status,
                amount=self.amount,
                filled=filled,
                remaining=self.amount - filled,
                price=self.price,
                average=average,
                cost=self.cost,
                time_in_force=self.time_in_force,
                post_only=self.post_only,
                reduce_only=self.reduce_only,
                fee=Fee.model_construct(cost=self.fee, currency=rules.margin_asset, rate=None),
                timestamp=self.timestamp_ms,
                last_trade_timestamp=self.last_trade_ms,
            )
        )


# Every field set, each replaced on copy (see ``OrderRecord.to_order``).
_ORDER_TEMPLATE = Order.model_construct(
    venue="", id="", client_order_id=None, symbol="", side=Side.BUY, type=OrderType.LIMIT,
    status=OrderStatus.OPEN, amount=ZERO, filled=ZERO, remaining=ZERO, price=None,
    average=None, cost=ZERO, time_in_force=None, post_only=False, reduce_only=False,
    fee=None, timestamp=None, last_trade_timestamp=None,
)  # fmt: skip


class FillRecord:
    """One fill of one of our orders."""

    __slots__ = (
        "amount",
        "client_order_id",
        "cost",
        "fee",
        "fee_currency",
        "fee_rate",
        "id",
        "order_id",
        "price",
        "side",
        "symbol",
        "taker_or_maker",
        "timestamp_ms",
    )

    def __init__(
        self,
        trade_id: str,
        order: OrderRecord,
        price: Decimal,
        amount: Decimal,
        cost: Decimal,
        fee: Decimal,
        fee_rate: Decimal,
        taker_or_maker: TakerOrMaker,
        timestamp_ms: int,
    ) -> None:
        self.id = trade_id
        self.order_id = order.id
        self.client_order_id = order.client_order_id
        self.symbol = order.symbol
        self.side = order.side
        self.price = price
        self.amount = amount
        self.cost = cost
        self.fee = fee
        self.fee_currency = order.rules.margin_asset
        self.fee_rate = fee_rate
        self.taker_or_maker = taker_or_maker
        self.timestamp_ms = timestamp_ms

    def to_trade(self, venue: str) -> Trade:
        return Trade.model_construct(
            venue=venue,
            id=self.id,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            price=self.price,
            amount=self.amount,
            cost=self.cost,
            fee=Fee.model_construct(cost=self.fee, currency=self.fee_currency, rate=self.fee_rate),
            taker_or_maker=self.taker_or_maker,
            timestamp=self.timestamp_ms,
        )


class ClientIdRegistry:
    """Which client order ids the venue has seen, under its reuse policy."""

    __slots__ = ("_by_client_id", "_policy")

    def __init__(self, policy: ClientIdPolicy) -> None:
        self._policy = policy
        self._by_client_id: dict[str, list[OrderRecord]] = {}

    def check(self, client_order_id: str, venue: str) -> None:
        """Raise ``DuplicateClientOrderId`` if the venue would refuse ``client_order_id`` now."""
        seen = self._by_client_id.get(client_order_id)
        if not seen:
            return
        if self._policy is ClientIdPolicy.NEVER_REUSE:
            raise DuplicateClientOrderId(
                f"{venue}: client order id {client_order_id!r} was already used "
                f"(order {seen[-1].id}); this venue never accepts one twice"
            )
        latest = seen[-1]
        if latest.status is OrderStatus.OPEN:
            raise DuplicateClientOrderId(
                f"{venue}: client order id {client_order_id!r} belongs to open order "
                f"{latest.id}; it can be used again once that order is closed"
            )

    def add(self, order: OrderRecord) -> None:
        if order.client_order_id is not None:
            self._by_client_id.setdefault(order.client_order_id, []).append(order)

    def latest(self, client_order_id: str) -> OrderRecord | None:
        seen = self._by_client_id.get(client_order_id)
        return seen[-1] if seen else None


def _buy_priority(order: OrderRecord) -> tuple[Decimal, int]:
    assert order.price is not None
    return -order.price, order.seq


def _sell_priority(order: OrderRecord) -> tuple[Decimal, int]:
    assert order.price is not None
    return order.price, order.seq


class RestingOrders:
    """Our resting limits of one symbol, best first by price then time."""

    __slots__ = ("buys", "sells")

    def __init__(self) -> None:
        self.buys: list[OrderRecord] = []
        self.sells: list[OrderRecord] = []

    def add(self, order: OrderRecord) -> None:
        if order.is_buy:
            insort(self.buys, order, key=_buy_priority)
        else:
            insort(self.sells, order, key=_sell_priority)

    def remove(self, order: OrderRecord) -> None:
        queue = self.buys if order.is_buy else self.sells
        for i, resting in enumerate(queue):
            if resting is order:
                del queue[i]
                return

    def __len__(self) -> int:
        return len(self.buys) + len(self.sells)

    def all(self) -> list[OrderRecord]:
        return self.buys + self.sells
