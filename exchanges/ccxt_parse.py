"""Pure conversions from ccxt's unified structures (dicts of floats) to core models.

This is the boundary where ccxt's floats become ``Decimal``: every number goes
through ``decimal_from_float`` (the shortest repr, so ``0.1`` is ``Decimal('0.1')``).
A structure that cannot be read safely raises ``ExchangeProtocolError``; an order
whose status is not one of ccxt's five unified values raises
``OutcomeUnknownError``, because an order we cannot read may still be live.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from core.errors import ExchangeProtocolError, InvalidValue, OutcomeUnknownError
from core.ids import CLIENT_ORDER_ID_PATTERN
from core.models import (
    Balance,
    Balances,
    Fee,
    FundingRate,
    Market,
    MarketType,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
    TakerOrMaker,
    Ticker,
    TimeInForce,
    Trade,
)
from core.money import ONE, ZERO, decimal_from_float

Raw = Mapping[str, Any]
E = TypeVar("E")
ClientIdDecoder = Callable[[str | None], str | None]

# ccxt's precisionMode constants (ccxt.base.decimal_to_precision), restated so this module needs no ccxt
DECIMAL_PLACES = 2
TICK_SIZE = 4


# -- NUMBERS -----------------------------------------------------------------


def dec(value: Any, field: str) -> Decimal | None:
    """Return ccxt's number as a Decimal (None stays None); refuse anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ExchangeProtocolError(f"{field}={value!r}: a bool where a number was expected")
    try:
        return decimal_from_float(value, field)
    except InvalidValue as exc:
        raise ExchangeProtocolError(f"{field}={value!r}: not a finite number") from exc


def dec_required(value: Any, field: str) -> Decimal:
    """Return ccxt's number as a Decimal, or raise ``ExchangeProtocolError`` if it is missing."""
    result = dec(value, field)
    if result is None:
        raise ExchangeProtocolError(f"{field} is missing")
    return result


def _int_or_none(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExchangeProtocolError(f"{field}={value!r}: not an integer timestamp")
    try:
        return int(value)
    except ValueError:
        raise ExchangeProtocolError(f"{field}={value!r}: not an integer timestamp") from None


def _enum_or_none(enum_type: Callable[[str], E], value: Any, field: str) -> E | None:
    if value is None:
        return None
    try:
        return enum_type(str(value).lower())
    except ValueError:
        raise ExchangeProtocolError(f"{field}={value!r}: not a known value") from None


# -- MARKETS -----------------------------------------------------------------

_MARKET_TYPES = {"spot": MarketType.SPOT, "swap": MarketType.SWAP, "future": MarketType.FUTURE}


def _step(value: Any, precision_mode: int, field: str) -> Decimal | None:
    number = dec(value, field)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number
    if precision_mode == DECIMAL_PLACES:
        return ONE.scaleb(-int(number))
    raise ExchangeProtocolError(f"{field}: precision mode {precision_mode} is not supported")


def parse_market(venue: str, raw: Raw, precision_mode: int) -> Market | None:
    """Return the core Market for ccxt's market, or None for a kind Swarm does not trade.

    Options, margin-only entries and markets without a tick or lot are not traded.
    """
    market_type = _MARKET_TYPES.get(str(raw.get("type")))
    if market_type is None or raw.get("option"):
        return None
    precision = raw.get("precision") or {}
    price_tick = _step(precision.get("price"), precision_mode, "precision.price")
    amount_step = _step(precision.get("amount"), precision_mode, "precision.amount")
    if price_tick is None or amount_step is None:
        return None
    limits = raw.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    is_spot = market_type is MarketType.SPOT
    try:
        return Market(
            venue=venue,
            symbol=str(raw["symbol"]),
            id=str(raw["id"]),
            type=market_type,
            base=str(raw["base"]),
            quote=str(raw["quote"]),
            settle=None if is_spot else raw.get("settle"),
            linear=None if is_spot else raw.get("linear"),
            inverse=None if is_spot else raw.get("inverse"),
            contract_size=dec(raw.get("contractSize"), "contractSize") or ONE,
            price_tick=price_tick,
            amount_step=amount_step,
            min_amount=dec(amount_limits.get("min"), "limits.amount.min") or ZERO,
            max_amount=dec(amount_limits.get("max"), "limits.amount.max"),
            min_cost=dec(cost_limits.get("min"), "limits.cost.min") or ZERO,
            maker_fee=dec(raw.get("maker"), "maker") or ZERO,
            taker_fee=dec(raw.get("taker"), "taker") or ZERO,
            active=raw.get("active") is not False,
        )
    except KeyError as exc:
        raise ExchangeProtocolError(
            f"market {raw.get('symbol')!r}: {exc.args[0]} is missing"
        ) from None


# -- ORDERS ------------------------------------------------------------------

_STATUSES = {status.value: status for status in OrderStatus}
_ORDER_TYPES = {
    "limit": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "limit_maker": OrderType.LIMIT,
}
_TIME_IN_FORCE = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "PO": TimeInForce.PO,
    "GTX": TimeInForce.PO,  # Binance futures' name for post-only
    "ALO": TimeInForce.PO,  # Hyperliquid's "add liquidity only"
}


def looks_like_ours(client_order_id: str | None) -> bool:
    """Return whether ``client_order_id`` has the shape of an id Swarm issues."""
    return client_order_id is not None and bool(CLIENT_ORDER_ID_PATTERN.match(client_order_id))


def parse_fee(raw: Any) -> Fee | None:
    """Return ccxt's fee as a Fee, or None when the venue did not report one."""
    if not isinstance(raw, Mapping):
        return None
    cost = dec(raw.get("cost"), "fee.cost")
    currency = raw.get("currency")
    if cost is None or not currency:
        return None
    return Fee(cost=cost, currency=str(currency), rate=dec(raw.get("rate"), "fee.rate"))


def parse_order_status(value: Any, *, order_id: Any, client_order_id: str | None) -> OrderStatus:
    """Return ccxt's unified status; anything else is an unknown outcome, never a failure."""
    status = _STATUSES.get(value) if isinstance(value, str) else None
    if status is None:
        raise OutcomeUnknownError(
            f"order {order_id} (client order id {client_order_id}): status {value!r} is not"
            " one of ccxt's unified statuses; resolve by querying the venue",
            client_order_id=client_order_id,
        )
    return status


def _identity(value: str | None) -> str | None:
    return value


def parse_order(
    venue: str,
    raw: Raw,
    *,
    request: OrderRequest | None = None,
    decode_client_id: ClientIdDecoder = _identity,
    default_type: OrderType | None = None,
) -> Order:
    """Return ccxt's order as an Order.

    ``default_type`` is the type of an order the venue reports without one (every
    Hyperliquid order is a limit order: its market orders are aggressive IOC limits).

    With ``request`` (the answer to our own ``create_order``), fields the venue's
    acknowledgement leaves out are taken from what we asked, and a missing status
    means the venue accepted the order: OPEN, or CLOSED if it reports a complete fill.
    """
    order_id = raw.get("id")
    if order_id is None or order_id == "":
        raise ExchangeProtocolError(f"{venue} order without an id: {_describe(raw)}")
    reported_client_id = raw.get("clientOrderId") or None
    client_order_id = decode_client_id(reported_client_id) if reported_client_id else None
    if client_order_id is None and request is not None:
        client_order_id = request.client_order_id

    amount = dec(raw.get("amount"), "amount")
    filled = dec(raw.get("filled"), "filled")
    if request is not None:
        amount = amount if amount is not None else request.amount
    if amount is None:
        raise ExchangeProtocolError(f"{venue} order {order_id}: amount is missing")

    raw_status = raw.get("status")
    if raw_status is None and request is not None:
        status = OrderStatus.CLOSED if filled is not None and filled >= amount else OrderStatus.OPEN
    else:
        status = parse_order_status(raw_status, order_id=order_id, client_order_id=client_order_id)

    symbol = raw.get("symbol") or (request.symbol if request else None)
    side = _enum_or_none(Side, raw.get("side"), "side") or (request.side if request else None)
    order_type = _ORDER_TYPES.get(str(raw.get("type")).lower()) if raw.get("type") else None
    if raw.get("type") and order_type is None:
        raise ExchangeProtocolError(
            f"{venue} order {order_id}: type {raw.get('type')!r} is not traded"
        )
    order_type = order_type or (request.type if request else default_type)
    if symbol is None or side is None or order_type is None:
        raise ExchangeProtocolError(
            f"{venue} order {order_id}: symbol, side or type missing ({_describe(raw)})"
        )
    price = dec(raw.get("price"), "price")
    if price is None and request is not None:
        price = request.price
    tif_value = raw.get("timeInForce")
    time_in_force = _TIME_IN_FORCE.get(str(tif_value).upper()) if tif_value else None
    if time_in_force is None and request is not None:
        time_in_force = request.time_in_force
    post_only = bool(raw.get("postOnly")) or (request.is_post_only if request else False)
    reduce_only = bool(raw.get("reduceOnly")) or (request.reduce_only if request else False)
    try:
        return Order(
            venue=venue,
            id=str(order_id),
            client_order_id=client_order_id,
            symbol=str(symbol),
            side=side,
            type=order_type,
            status=status,
            amount=amount,
            filled=filled if filled is not None else ZERO,
            remaining=dec(raw.get("remaining"), "remaining"),
            price=price,
            average=dec(raw.get("average"), "average"),
            cost=dec(raw.get("cost"), "cost") or ZERO,
            time_in_force=time_in_force,
            post_only=post_only,
            reduce_only=reduce_only,
            fee=parse_fee(raw.get("fee")),
            timestamp=_int_or_none(raw.get("timestamp"), "timestamp"),
            last_trade_timestamp=_int_or_none(raw.get("lastTradeTimestamp"), "lastTradeTimestamp"),
        )
    except InvalidValue as exc:
        raise ExchangeProtocolError(f"{venue} order {order_id}: {exc}") from exc


def _describe(raw: Raw) -> str:
    return ", ".join(f"{k}={raw.get(k)!r}" for k in ("id", "symbol", "side", "type", "status"))


# -- TRADES, POSITIONS, BALANCES ----------------------------------------------


def parse_trade(venue: str, raw: Raw, decode_client_id: ClientIdDecoder = _identity) -> Trade:
    """Return ccxt's ``fetchMyTrades`` entry as a Trade."""
    trade_id = raw.get("id")
    if trade_id is None or trade_id == "":
        raise ExchangeProtocolError(f"{venue} trade without an id")
    price = dec_required(raw.get("price"), "price")
    amount = dec_required(raw.get("amount"), "amount")
    timestamp = _int_or_none(raw.get("timestamp"), "timestamp")
    side = _enum_or_none(Side, raw.get("side"), "side")
    if timestamp is None or side is None or not raw.get("symbol"):
        raise ExchangeProtocolError(f"{venue} trade {trade_id}: timestamp, side or symbol missing")
    reported_client_id = raw.get("clientOrderId") or None
    order_id = raw.get("order")
    return Trade(
        venue=venue,
        id=str(trade_id),
        order_id=None if order_id is None else str(order_id),
        client_order_id=decode_client_id(reported_client_id) if reported_client_id else None,
        symbol=str(raw["symbol"]),
        side=side,
        price=price,
        amount=amount,
        cost=dec_required(raw.get("cost"), "cost"),
        fee=parse_fee(raw.get("fee")),
        taker_or_maker=_enum_or_none(TakerOrMaker, raw.get("takerOrMaker"), "takerOrMaker"),
        timestamp=timestamp,
    )


def parse_position(venue: str, raw: Raw) -> Position | None:
    """Return ccxt's position as a Position, or None when it is flat."""
    contracts = dec(raw.get("contracts"), "contracts")
    if contracts is None or contracts == 0:
        return None
    side = _enum_or_none(PositionSide, raw.get("side"), "side")
    if side is None or not raw.get("symbol"):
        raise ExchangeProtocolError(
            f"{venue} position of {contracts} contracts without side or symbol"
        )
    margin_mode = raw.get("marginMode")
    return Position(
        venue=venue,
        symbol=str(raw["symbol"]),
        side=side,
        contracts=abs(contracts),
        contract_size=dec(raw.get("contractSize"), "contractSize") or ONE,
        entry_price=dec(raw.get("entryPrice"), "entryPrice"),
        mark_price=dec(raw.get("markPrice"), "markPrice"),
        notional=dec(raw.get("notional"), "notional"),
        leverage=dec(raw.get("leverage"), "leverage"),
        unrealized_pnl=dec(raw.get("unrealizedPnl"), "unrealizedPnl"),
        liquidation_price=dec(raw.get("liquidationPrice"), "liquidationPrice"),
        initial_margin=dec(raw.get("initialMargin"), "initialMargin"),
        maintenance_margin=dec(raw.get("maintenanceMargin"), "maintenanceMargin"),
        margin_mode=margin_mode if margin_mode in ("cross", "isolated") else None,
        timestamp=_int_or_none(raw.get("timestamp"), "timestamp"),
    )


_BALANCE_KEYS = frozenset({"info", "timestamp", "datetime", "free", "used", "total", "debt"})


def parse_balance(venue: str, raw: Raw) -> Balances:
    """Return ccxt's balance structure as Balances.

    When the venue reports only a total, nothing is taken to be free: a reservation
    can then never spend money we cannot see.
    """
    assets: dict[str, Balance] = {}
    for currency, entry in raw.items():
        if currency in _BALANCE_KEYS or not isinstance(entry, Mapping):
            continue
        free = dec(entry.get("free"), f"{currency}.free")
        used = dec(entry.get("used"), f"{currency}.used")
        total = dec(entry.get("total"), f"{currency}.total")
        if total is None:
            if free is None and used is None:
                continue
            total = (free or ZERO) + (used or ZERO)
        if free is None:
            free = ZERO if used is None else total - used
        if used is None:
            used = total - free
        assets[str(currency)] = Balance(currency=str(currency), free=free, used=used, total=total)
    return Balances(
        venue=venue, timestamp=_int_or_none(raw.get("timestamp"), "timestamp"), assets=assets
    )


# -- MARKET DATA -------------------------------------------------------------

_INTERVAL = re.compile(r"^(\d+)([hm])$")


def parse_interval_hours(value: Any) -> Decimal | None:
    """Return ccxt's funding interval (``'8h'``, ``'60m'``) in hours, or None if absent."""
    if not value:
        return None
    match = _INTERVAL.match(str(value))
    if match is None:
        raise ExchangeProtocolError(f"funding interval {value!r} is not understood")
    amount = Decimal(match.group(1))
    return amount if match.group(2) == "h" else amount / 60


def parse_funding_rate(venue: str, raw: Raw, default_interval_hours: Decimal) -> FundingRate | None:
    """Return ccxt's funding rate as a FundingRate, or None if it lacks a rate or funding time."""
    rate = dec(raw.get("fundingRate"), "fundingRate")
    funding_timestamp = _int_or_none(raw.get("fundingTimestamp"), "fundingTimestamp")
    if rate is None or funding_timestamp is None or not raw.get("symbol"):
        return None
    return FundingRate(
        venue=venue,
        symbol=str(raw["symbol"]),
        rate=rate,
        funding_timestamp=funding_timestamp,
        interval_hours=parse_interval_hours(raw.get("interval")) or default_interval_hours,
        mark_price=dec(raw.get("markPrice"), "markPrice"),
        index_price=dec(raw.get("indexPrice"), "indexPrice"),
        next_funding_timestamp=_int_or_none(
            raw.get("nextFundingTimestamp"), "nextFundingTimestamp"
        ),
        timestamp=_int_or_none(raw.get("timestamp"), "timestamp"),
    )


def _levels(raw: Any, side: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise ExchangeProtocolError(f"order book {side} is not a list")
    return tuple(
        (dec_required(level[0], f"{side} price"), dec_required(level[1], f"{side} amount"))
        for level in raw
    )


def parse_order_book(venue: str, symbol: str, raw: Raw) -> OrderBookSnapshot:
    """Return ccxt's order book as an OrderBookSnapshot."""
    try:
        return OrderBookSnapshot(
            venue=venue,
            symbol=str(raw.get("symbol") or symbol),
            bids=_levels(raw.get("bids"), "bids"),
            asks=_levels(raw.get("asks"), "asks"),
            timestamp=_int_or_none(raw.get("timestamp"), "timestamp"),
            sequence=_int_or_none(raw.get("nonce"), "nonce"),
        )
    except InvalidValue as exc:
        raise ExchangeProtocolError(f"{venue} {symbol} order book: {exc}") from exc


def parse_ticker(venue: str, raw: Raw) -> Ticker:
    """Return ccxt's ticker as a Ticker."""
    if not raw.get("symbol"):
        raise ExchangeProtocolError(f"{venue} ticker without a symbol")
    return Ticker(
        venue=venue,
        symbol=str(raw["symbol"]),
        timestamp=_int_or_none(raw.get("timestamp"), "timestamp"),
        bid=dec(raw.get("bid"), "bid"),
        bid_volume=dec(raw.get("bidVolume"), "bidVolume"),
        ask=dec(raw.get("ask"), "ask"),
        ask_volume=dec(raw.get("askVolume"), "askVolume"),
        last=dec(raw.get("last"), "last"),
        mark_price=dec(raw.get("markPrice"), "markPrice"),
        index_price=dec(raw.get("indexPrice"), "indexPrice"),
        base_volume=dec(raw.get("baseVolume"), "baseVolume"),
        quote_volume=dec(raw.get("quoteVolume"), "quoteVolume"),
    )


# -- HYPERLIQUID CLIENT ORDER IDS --------------------------------------------

_CLOID = re.compile(r"^0x[0-9a-f]{32}$")
_CLOID_BYTES = 16


def hyperliquid_cloid(client_order_id: str) -> str:
    """Return the 128-bit hex ``cloid`` Hyperliquid takes for our client order id.

    An id of at most 16 characters is stored as its ASCII bytes, so it reads back
    without any state; a longer one is hashed and needs the sender's memory to map back.
    """
    raw = client_order_id.encode("ascii")
    if len(raw) <= _CLOID_BYTES:
        return "0x" + raw.ljust(_CLOID_BYTES, b"\0").hex()
    return "0x" + hashlib.sha256(raw).hexdigest()[: 2 * _CLOID_BYTES]


def client_order_id_from_cloid(cloid: str, remembered: Mapping[str, str]) -> str:
    """Return our client order id for ``cloid``; a cloid we cannot map back is returned as is."""
    known = remembered.get(cloid.lower())
    if known is not None:
        return known
    if _CLOID.match(cloid.lower()):
        text = bytes.fromhex(cloid[2:]).rstrip(b"\0")
        try:
            decoded = text.decode("ascii")
        except UnicodeDecodeError:
            return cloid
        if looks_like_ours(decoded):
            return decoded
    return cloid
