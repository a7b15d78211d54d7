"""The domain model: frozen pydantic messages shared by every part of Swarm.

Field names and status values follow ccxt's unified API (an order's status is
``open``, ``closed``, ``canceled``, ``expired`` or ``rejected``), so a ccxt user
reads them without a glossary. Money and quantities are ``Dec`` (Decimal; floats,
NaN and infinities refused). Timestamps are integer milliseconds since the Unix
epoch, as in ccxt.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import InvalidValue
from core.ids import CLIENT_ORDER_ID_PATTERN
from core.money import ZERO, Dec, Rounding, is_multiple_of, quantize_to_step


class Frozen(BaseModel):
    """Base of every message: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# -- ENUMS ------------------------------------------------------------------


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    PO = "PO"  # post-only, as ccxt spells it


class OrderStatus(StrEnum):
    """ccxt's unified order status values."""

    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self is not OrderStatus.OPEN


class MarketType(StrEnum):
    SPOT = "spot"
    SWAP = "swap"  # perpetual
    FUTURE = "future"


class TakerOrMaker(StrEnum):
    TAKER = "taker"
    MAKER = "maker"


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


# -- MARKETS ----------------------------------------------------------------


class Market(Frozen):
    """A venue's instrument with its trading rules (ccxt's market structure, typed)."""

    venue: str
    symbol: str
    id: str
    type: MarketType
    base: str
    quote: str
    settle: str | None = None
    linear: bool | None = None
    inverse: bool | None = None
    contract_size: Dec = Decimal(1)
    price_tick: Dec
    amount_step: Dec
    min_amount: Dec = ZERO
    max_amount: Dec | None = None
    min_cost: Dec = ZERO
    maker_fee: Dec
    taker_fee: Dec
    active: bool = True

    @model_validator(mode="after")
    def _check(self) -> Market:
        if self.price_tick <= 0:
            raise InvalidValue("price_tick", self.price_tick, "must be > 0")
        if self.amount_step <= 0:
            raise InvalidValue("amount_step", self.amount_step, "must be > 0")
        if self.type is MarketType.SPOT:
            if self.linear or self.inverse or self.settle is not None:
                raise InvalidValue(
                    "type", self.type, "a spot market has no settle, linear or inverse"
                )
        elif self.linear == self.inverse:
            raise InvalidValue(
                "linear", self.linear, "a derivative is exactly one of linear or inverse"
            )
        return self

    @property
    def is_spot(self) -> bool:
        return self.type is MarketType.SPOT

    @property
    def is_derivative(self) -> bool:
        return self.type is not MarketType.SPOT

    def quantize_price(self, price: Decimal, rounding: Rounding = "nearest") -> Decimal:
        """Round ``price`` to the market's tick."""
        return quantize_to_step(price, self.price_tick, rounding)

    def quantize_amount(self, amount: Decimal, rounding: Rounding = "down") -> Decimal:
        """Round ``amount`` to the market's lot (down by default: never more than asked)."""
        return quantize_to_step(amount, self.amount_step, rounding)

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        """Quote-currency value of ``amount`` at ``price`` (contracts times contract size)."""
        if self.inverse:
            return amount * self.contract_size
        return amount * self.contract_size * price

    def check_order(self, amount: Decimal, price: Decimal | None) -> None:
        """Raise ``InvalidValue`` naming the field if the order breaks this market's rules.

        ``price`` is the limit price, or for a market order the reference price used
        for the minimum-notional check (None skips it).
        """
        if amount <= 0:
            raise InvalidValue("amount", amount, "must be > 0")
        if not is_multiple_of(amount, self.amount_step):
            raise InvalidValue(
                "amount", amount, f"not a multiple of the lot {self.amount_step} of {self.symbol}"
            )
        if amount < self.min_amount:
            raise InvalidValue(
                "amount", amount, f"below the minimum {self.min_amount} of {self.symbol}"
            )
        if self.max_amount is not None and amount > self.max_amount:
            raise InvalidValue(
                "amount", amount, f"above the maximum {self.max_amount} of {self.symbol}"
            )
        if price is None:
            return
        if price <= 0:
            raise InvalidValue("price", price, "must be > 0")
        if not is_multiple_of(price, self.price_tick):
            raise InvalidValue(
                "price", price, f"not on the tick {self.price_tick} of {self.symbol}"
            )
        if self.min_cost and self.notional(amount, price) < self.min_cost:
            raise InvalidValue(
                "amount",
                amount,
                f"notional {self.notional(amount, price)} below the minimum {self.min_cost} of {self.symbol}",
            )


# -- ORDERS AND FILLS -------------------------------------------------------


class Fee(Frozen):
    cost: Dec
    currency: str
    rate: Dec | None = None


class OrderRequest(Frozen):
    """What the gateway asks a venue to do: ``create_order`` with our client order id."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: Dec
    price: Dec | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    @field_validator("client_order_id")
    @classmethod
    def _check_client_order_id(cls, value: str) -> str:
        if not CLIENT_ORDER_ID_PATTERN.match(value):
            raise InvalidValue("client_order_id", value, "must match ^[A-Za-z0-9]{1,32}$")
        return value

    @model_validator(mode="after")
    def _check(self) -> OrderRequest:
        if self.amount <= 0:
            raise InvalidValue("amount", self.amount, "must be > 0")
        if self.type is OrderType.LIMIT and self.price is None:
            raise InvalidValue("price", None, "a limit order needs a price")
        if self.price is not None and self.price <= 0:
            raise InvalidValue("price", self.price, "must be > 0")
        if self.type is OrderType.MARKET and (
            self.post_only or self.time_in_force is TimeInForce.PO
        ):
            raise InvalidValue("post_only", True, "a market order cannot be post-only")
        return self

    @property
    def is_post_only(self) -> bool:
        return self.post_only or self.time_in_force is TimeInForce.PO


class Order(Frozen):
    """A venue's view of one order (ccxt's unified order, typed)."""

    venue: str
    id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    amount: Dec
    filled: Dec = ZERO
    remaining: Dec | None = None
    price: Dec | None = None
    average: Dec | None = None
    cost: Dec = ZERO
    time_in_force: TimeInForce | None = None
    post_only: bool = False
    reduce_only: bool = False
    fee: Fee | None = None
    timestamp: int | None = None
    last_trade_timestamp: int | None = None

    @model_validator(mode="after")
    def _check(self) -> Order:
        if self.filled < 0 or self.filled > self.amount:
            raise InvalidValue("filled", self.filled, f"must be within [0, amount={self.amount}]")
        return self


class Trade(Frozen):
    """One fill of one of our orders (ccxt's ``fetchMyTrades`` entry, typed)."""

    venue: str
    id: str
    order_id: str | None
    client_order_id: str | None = None
    symbol: str
    side: Side
    price: Dec
    amount: Dec
    cost: Dec
    fee: Fee | None = None
    taker_or_maker: TakerOrMaker | None = None
    timestamp: int


# -- ACCOUNT ----------------------------------------------------------------


class Balance(Frozen):
    currency: str
    free: Dec
    used: Dec
    total: Dec


class Balances(Frozen):
    venue: str
    timestamp: int | None = None
    assets: dict[str, Balance] = Field(default_factory=dict)

    def total(self, currency: str) -> Decimal:
        entry = self.assets.get(currency)
        return entry.total if entry else ZERO


class Position(Frozen):
    """A derivative position (ccxt's unified position; ``contracts`` is unsigned, ``side`` tells)."""

    venue: str
    symbol: str
    side: PositionSide
    contracts: Dec
    contract_size: Dec = Decimal(1)
    entry_price: Dec | None = None
    mark_price: Dec | None = None
    notional: Dec | None = None
    leverage: Dec | None = None
    unrealized_pnl: Dec | None = None
    liquidation_price: Dec | None = None
    initial_margin: Dec | None = None
    maintenance_margin: Dec | None = None
    margin_mode: Literal["cross", "isolated"] | None = None
    timestamp: int | None = None

    @property
    def signed_contracts(self) -> Decimal:
        return self.contracts if self.side is PositionSide.LONG else -self.contracts


# -- MARKET DATA ------------------------------------------------------------


class FundingRate(Frozen):
    """A funding rate print or forecast for one perpetual."""

    venue: str
    symbol: str
    rate: Dec
    funding_timestamp: int
    interval_hours: Dec = Decimal(8)
    mark_price: Dec | None = None
    index_price: Dec | None = None
    next_funding_timestamp: int | None = None
    timestamp: int | None = None

    @property
    def rate_per_hour(self) -> Decimal:
        return self.rate / self.interval_hours


class OrderBookSnapshot(Frozen):
    """Levels best first: bids descending, asks ascending, each ``(price, amount)``."""

    venue: str
    symbol: str
    bids: tuple[tuple[Dec, Dec], ...]
    asks: tuple[tuple[Dec, Dec], ...]
    timestamp: int | None = None
    sequence: int | None = None

    @model_validator(mode="after")
    def _check(self) -> OrderBookSnapshot:
        for name, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            for i, (price, amount) in enumerate(levels):
                if price <= 0 or amount < 0:
                    raise InvalidValue(
                        f"{name}[{i}]", (price, amount), "price must be > 0, amount >= 0"
                    )
                if i and (price >= levels[i - 1][0] if descending else price <= levels[i - 1][0]):
                    raise InvalidValue(f"{name}[{i}]", price, "levels out of order")
        if self.bids and self.asks and self.bids[0][0] >= self.asks[0][0]:
            raise InvalidValue(
                "bids[0]", self.bids[0][0], f"crosses the best ask {self.asks[0][0]}"
            )
        return self

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


class Ticker(Frozen):
    venue: str
    symbol: str
    timestamp: int | None = None
    bid: Dec | None = None
    bid_volume: Dec | None = None
    ask: Dec | None = None
    ask_volume: Dec | None = None
    last: Dec | None = None
    mark_price: Dec | None = None
    index_price: Dec | None = None
    base_volume: Dec | None = None
    quote_volume: Dec | None = None


class LiquidationEvent(Frozen):
    """A forced liquidation order hitting the book; ``side`` is the liquidation order's side."""

    venue: str
    symbol: str
    side: Side
    price: Dec
    amount: Dec
    timestamp: int
    source: Literal["recorded", "model"]
