"""``CcxtExchange``: the ``Exchange`` port over ``ccxt.async_support``.

One instance is one venue account, in the account scope ccxt's ``defaultType``
option selects (Binance keeps spot and USDⓈ-M futures in separate wallets: use
one adapter per wallet). Calls without a symbol use that scope.

Contract:
- every order carries OUR client order id; ccxt is never left to invent one;
- every ccxt exception becomes a ``core.errors`` type in ``exchanges.ccxt_errors``;
- reads are retried on temporary errors with bounded backoff; ``create_order`` and
  ``cancel_order`` are retried only when the venue refused them before running
  (rate limit, maintenance), never on an unknown outcome;
- keys come only from ``ApiCredentials``; they are redacted from ccxt's log records
  and from every message, and never appear in ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Literal, TypeVar

import ccxt.async_support as ccxt_async

from core.config import ApiCredentials
from core.errors import (
    AuthenticationFailed,
    ExchangeProtocolError,
    InvalidValue,
    NotSupported,
    OrderNotFound,
    OutcomeUnknownError,
    SwarmError,
)
from core.models import (
    Balances,
    FundingRate,
    Market,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    OrderType,
    Position,
    Ticker,
    TimeInForce,
    Trade,
)
from core.money import decimal_from_float
from exchanges.ccxt_errors import (
    CallKind,
    ErrorContext,
    RedactingFilter,
    Redactor,
    RetryPolicy,
    Sleep,
    call_mapped,
)
from exchanges.ccxt_parse import (
    client_order_id_from_cloid,
    hyperliquid_cloid,
    looks_like_ours,
    parse_balance,
    parse_funding_rate,
    parse_market,
    parse_order,
    parse_order_book,
    parse_position,
    parse_ticker,
    parse_trade,
)

T = TypeVar("T")
ClientFactory = Callable[[str, dict[str, Any]], Any]
"""Build a ccxt async exchange from its id and constructor config (tests stub its transport)."""

_log = logging.getLogger("swarm.exchanges.ccxt")


# -- VENUE CAPABILITIES ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """What differs between venues, as data rather than ``if venue == ...``."""

    ccxt_id: str
    credential_keys: tuple[str, str, str | None] = ("apiKey", "secret", "password")
    """ccxt config keys receiving api_key, secret and password."""
    options: Mapping[str, Any] = field(default_factory=dict)
    time_in_force: frozenset[TimeInForce] = frozenset(TimeInForce)
    query_client_id_param: str = "clientOrderId"
    """The param ccxt's fetch_order/cancel_order read our client order id from."""
    lookup: Literal["fetch_order", "open_then_history"] = "fetch_order"
    market_order_needs_price: bool = False
    hyperliquid_cloids: bool = False
    implied_order_type: OrderType | None = None
    """The type of an order the venue reports without one."""
    funding_interval_hours: Decimal = Decimal(8)


VENUE_PROFILES: Mapping[str, VenueProfile] = {
    "binance": VenueProfile(
        ccxt_id="binance",
        # a call without a symbol costs more rate-limit weight; ccxt refuses it unless told
        options={"warnOnFetchOpenOrdersWithoutSymbol": False},
        query_client_id_param="origClientOrderId",
    ),
    "bybit": VenueProfile(
        ccxt_id="bybit",
        # option markets need six more requests at start-up and Swarm does not trade them
        options={"fetchMarkets": {"types": ["spot", "linear"]}},
        query_client_id_param="orderLinkId",
        # ccxt's fetchOrder needs an "acknowledged" flag and only sees the last 500 orders
        lookup="open_then_history",
    ),
    "okx": VenueProfile(
        ccxt_id="okx",
        options={"tgtCcy": "base_ccy"},  # a spot market buy's amount is in base, as in the port
        query_client_id_param="clOrdId",
    ),
    "hyperliquid": VenueProfile(
        ccxt_id="hyperliquid",
        credential_keys=("walletAddress", "privateKey", None),
        # no referral code is set on the user's account, and no builder fee is charged
        options={"refSet": True, "builderFee": False},
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.PO}),
        market_order_needs_price=True,  # ccxt bounds a market order's slippage from the price
        hyperliquid_cloids=True,
        implied_order_type=OrderType.LIMIT,
        funding_interval_hours=Decimal(1),
    ),
}


def _default_client_factory(ccxt_id: str, config: dict[str, Any]) -> Any:
    return getattr(ccxt_async, ccxt_id)(config)


def _redacting_logger(venue: str, redactor: Redactor) -> logging.Logger:
    # A private Logger (not registered by name) so each adapter's filter knows only its own
    # keys; it still propagates to the "swarm.exchanges.ccxt" handlers.
    logger = logging.Logger(f"swarm.exchanges.ccxt.{venue}")
    logger.parent = _log
    logger.addFilter(RedactingFilter(redactor))
    return logger


def _to_float(value: Decimal, name: str) -> float:
    """Return ``value`` as the float ccxt takes, refusing one that would not round-trip exactly."""
    number = float(value)
    if decimal_from_float(number, name) != value:
        raise InvalidValue(
            name, value, "cannot be sent through ccxt as a float without changing it"
        )
    return number


# -- THE ADAPTER -------------------------------------------------------------


class CcxtExchange:
    """The ``Exchange`` port for Binance, Bybit, OKX and Hyperliquid through ccxt."""

    def __init__(
        self,
        venue: str,
        credentials: ApiCredentials | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        ccxt_options: Mapping[str, Any] | None = None,
        sandbox: bool = False,
        client_factory: ClientFactory | None = None,
    ) -> None:
        profile = VENUE_PROFILES.get(venue)
        if profile is None:
            raise InvalidValue("venue", venue, f"supported: {', '.join(sorted(VENUE_PROFILES))}")
        if credentials is not None and credentials.venue != venue:
            raise InvalidValue("credentials.venue", credentials.venue, f"expected {venue!r}")
        self._venue = venue
        self._profile = profile
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._authenticated = credentials is not None
        secrets = _secret_values(credentials)
        self._redactor = Redactor(secrets)
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "verbose": False,
            "logger": _redacting_logger(venue, self._redactor),
            "options": {**profile.options, **(ccxt_options or {})},
        }
        if credentials is not None:
            key_name, secret_name, password_name = profile.credential_keys
            config[key_name] = credentials.api_key.get_secret_value()
            config[secret_name] = credentials.secret.get_secret_value()
            if password_name is not None and credentials.password is not None:
                config[password_name] = credentials.password.get_secret_value()
        self._client = (client_factory or _default_client_factory)(profile.ccxt_id, config)
        if sandbox:
            self._client.set_sandbox_mode(True)
        self._cloids: dict[str, str] = {}

    def __repr__(self) -> str:
        mode = "authenticated" if self._authenticated else "public-only"
        return f"CcxtExchange(venue={self._venue!r}, {mode})"

    __str__ = __repr__

    @property
    def venue(self) -> str:
        return self._venue

    # -- plumbing -------------------------------------------------------------

    def _context(
        self,
        operation: str,
        kind: CallKind,
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> ErrorContext:
        return ErrorContext(
            venue=self._venue,
            operation=operation,
            kind=kind,
            redactor=self._redactor,
            client_order_id=client_order_id,
            symbol=symbol,
        )

    async def _read(
        self, operation: str, call: Callable[[], Awaitable[T]], *, symbol: str | None = None
    ) -> T:
        context = self._context(operation, CallKind.READ, symbol=symbol)
        return await call_mapped(call, context, self._retry, self._sleep)

    async def _write(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        *,
        symbol: str,
        client_order_id: str | None,
    ) -> T:
        context = self._context(
            operation, CallKind.WRITE, symbol=symbol, client_order_id=client_order_id
        )
        return await call_mapped(call, context, self._retry, self._sleep)

    def _require_keys(self, operation: str) -> None:
        if not self._authenticated:
            raise AuthenticationFailed(
                f"{self._venue} {operation}: this adapter is public-only (no API credentials)"
            )

    def _encode_client_id(self, client_order_id: str) -> str:
        if not self._profile.hyperliquid_cloids:
            return client_order_id
        cloid = hyperliquid_cloid(client_order_id)
        self._cloids[cloid] = client_order_id
        return cloid

    def _decode_client_id(self, reported: str | None) -> str | None:
        if reported is None or not self._profile.hyperliquid_cloids:
            return reported
        return client_order_id_from_cloid(reported, self._cloids)

    def _parse_order(self, raw: Mapping[str, Any], request: OrderRequest | None = None) -> Order:
        return parse_order(
            self._venue,
            raw,
            request=request,
            decode_client_id=self._decode_client_id,
            default_type=self._profile.implied_order_type,
        )

    def _parse_orders(self, raws: Sequence[Mapping[str, Any]], operation: str) -> list[Order]:
        orders = []
        for raw in raws:
            try:
                orders.append(self._parse_order(raw))
            except (ExchangeProtocolError, OutcomeUnknownError):
                reported = self._decode_client_id(raw.get("clientOrderId") or None)
                if looks_like_ours(reported):
                    raise
                # someone else's order (placed by hand, a trigger order): not ours to track
                _log.warning(
                    "%s %s: skipped order %s that Swarm cannot represent (type %r, status %r)",
                    self._venue,
                    operation,
                    raw.get("id"),
                    raw.get("type"),
                    raw.get("status"),
                )
        return orders

    # -- MARKETS ----------------------------------------------------------------

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        """Return the venue's spot, perpetual and future markets by unified symbol."""
        raw = await self._read("load_markets", lambda: self._client.load_markets(reload))
        markets: dict[str, Market] = {}
        skipped = 0
        for symbol, entry in raw.items():
            try:
                market = parse_market(self._venue, entry, self._client.precisionMode)
            except ExchangeProtocolError as exc:
                _log.warning("%s load_markets: skipped %s: %s", self._venue, symbol, exc)
                market = None
            if market is None:
                skipped += 1
            else:
                markets[symbol] = market
        _log.info("%s: %d markets loaded, %d not traded", self._venue, len(markets), skipped)
        return markets

    # -- ORDERS -----------------------------------------------------------------

    def _order_params(self, request: OrderRequest) -> dict[str, Any]:
        tif = request.time_in_force
        if request.is_post_only:
            tif = TimeInForce.PO
        if tif not in self._profile.time_in_force:
            raise NotSupported(f"{self._venue} does not take time in force {tif.value}")
        params: dict[str, Any] = {"clientOrderId": self._encode_client_id(request.client_order_id)}
        if tif is TimeInForce.PO:
            params["postOnly"] = True
        elif request.type is OrderType.MARKET:
            if tif is TimeInForce.FOK:
                raise NotSupported(f"{self._venue}: a market order cannot be fill-or-kill here")
        elif tif is not TimeInForce.GTC:
            params["timeInForce"] = tif.value
        if request.reduce_only:
            params["reduceOnly"] = True
        return params

    async def create_order(self, request: OrderRequest) -> Order:
        """Place ``request`` under its client order id and return the venue's acknowledgement.

        A timeout or lost answer raises ``OutcomeUnknownError`` carrying the client order
        id: the order may exist. It is never sent again from here.
        """
        self._require_keys("create_order")
        params = self._order_params(request)
        amount = _to_float(request.amount, "amount")
        price: float | None = None
        if request.type is OrderType.LIMIT or self._profile.market_order_needs_price:
            if request.price is None:
                raise InvalidValue("price", None, f"{self._venue} needs a price for this order")
            price = _to_float(request.price, "price")
        cid = request.client_order_id
        raw = await self._write(
            "create_order",
            lambda: self._client.create_order(
                request.symbol, request.type.value, request.side.value, amount, price, params
            ),
            symbol=request.symbol,
            client_order_id=cid,
        )
        try:
            order = self._parse_order(raw, request)
        except SwarmError as exc:
            raise OutcomeUnknownError(
                f"{self._venue} create_order: the venue answered but the answer cannot be read"
                f" ({exc}); client order id {cid} may exist: resolve by querying",
                client_order_id=cid,
            ) from exc
        if (
            order.client_order_id != cid
            or order.symbol != request.symbol
            or order.side != request.side
        ):
            # the venue holds an order we cannot find by our id: nothing downstream is safe
            raise ExchangeProtocolError(
                f"{self._venue} create_order: sent client order id {cid} ({request.symbol}"
                f" {request.side.value}), the venue acknowledged {order.client_order_id}"
                f" ({order.symbol} {order.side.value}) as order {order.id}"
            )
        return order

    def _lookup_params(self, id: str | None, client_order_id: str | None) -> dict[str, Any]:
        if (id is None) == (client_order_id is None):
            raise InvalidValue("id", id, "give exactly one of id and client_order_id")
        if client_order_id is None:
            return {}
        return {self._profile.query_client_id_param: self._encode_client_id(client_order_id)}

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel by venue id or client order id and return the order's state afterwards.

        Venues that answer a cancel with a bare acknowledgement are asked for the order.
        """
        self._require_keys("cancel_order")
        params = self._lookup_params(id, client_order_id)
        raw = await self._write(
            "cancel_order",
            lambda: self._client.cancel_order(id, symbol, params),
            symbol=symbol,
            client_order_id=client_order_id,
        )
        try:
            order = self._parse_order(raw)
        except (ExchangeProtocolError, OutcomeUnknownError):
            # an acknowledgement without the order's fields: the cancel went through, read the state
            return await self.fetch_order(symbol, id=id, client_order_id=client_order_id)
        self._check_identity(order, id, client_order_id)
        return order

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Return one order by venue id or client order id; ``OrderNotFound`` if unknown.

        A status that is not one of ccxt's unified values raises ``OutcomeUnknownError``.
        """
        self._require_keys("fetch_order")
        params = self._lookup_params(id, client_order_id)
        if self._profile.lookup == "open_then_history":
            raw = await self._find_in_lists(symbol, id, client_order_id)
        else:
            raw = await self._read(
                "fetch_order", lambda: self._client.fetch_order(id, symbol, params), symbol=symbol
            )
        order = self._parse_order(raw)
        self._check_identity(order, id, client_order_id)
        return order

    async def _find_in_lists(
        self, symbol: str, id: str | None, client_order_id: str | None
    ) -> Mapping[str, Any]:
        if client_order_id is not None:
            key, value = (
                self._profile.query_client_id_param,
                self._encode_client_id(client_order_id),
            )
        else:
            key, value = "orderId", str(id)
        for operation, method in (
            ("fetch_order (open)", self._client.fetch_open_orders),
            ("fetch_order (history)", self._client.fetch_canceled_and_closed_orders),
        ):
            found: list[Mapping[str, Any]] = await self._read(
                operation, partial(method, symbol, None, None, {key: value}), symbol=symbol
            )
            if len(found) > 1:
                raise ExchangeProtocolError(
                    f"{self._venue}: {len(found)} orders match {key}={value}"
                )
            if found:
                return found[0]
        raise OrderNotFound(
            f"{self._venue}: no order with {key}={client_order_id or id} on {symbol}"
        )

    def _check_identity(self, order: Order, id: str | None, client_order_id: str | None) -> None:
        if (id is not None and order.id != str(id)) or (
            client_order_id is not None and order.client_order_id != client_order_id
        ):
            raise ExchangeProtocolError(
                f"{self._venue}: asked for order id={id} client_order_id={client_order_id},"
                f" got id={order.id} client_order_id={order.client_order_id}"
            )

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return the account's open orders (in the account scope when ``symbol`` is None)."""
        self._require_keys("fetch_open_orders")
        raws = await self._read(
            "fetch_open_orders", lambda: self._client.fetch_open_orders(symbol), symbol=symbol
        )
        return self._parse_orders(raws, "fetch_open_orders")

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        """Return the account's fills, oldest first as the venue gives them."""
        self._require_keys("fetch_my_trades")
        raws = await self._read(
            "fetch_my_trades",
            lambda: self._client.fetch_my_trades(symbol, since, limit),
            symbol=symbol,
        )
        return [parse_trade(self._venue, raw, self._decode_client_id) for raw in raws]

    # -- ACCOUNT ----------------------------------------------------------------

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        """Return the open (non-flat) derivative positions."""
        self._require_keys("fetch_positions")
        wanted = list(symbols) if symbols is not None else None
        raws = await self._read("fetch_positions", lambda: self._client.fetch_positions(wanted))
        positions = (parse_position(self._venue, raw) for raw in raws)
        return [p for p in positions if p is not None]

    async def fetch_balance(self) -> Balances:
        """Return the balances of the account scope."""
        self._require_keys("fetch_balance")
        raw = await self._read("fetch_balance", lambda: self._client.fetch_balance())
        return parse_balance(self._venue, raw)

    # -- MARKET DATA ------------------------------------------------------------

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None
    ) -> dict[str, FundingRate]:
        """Return the current funding rate of each perpetual, by symbol."""
        wanted = list(symbols) if symbols is not None else None
        if self._client.has.get("fetchFundingRates"):
            raw = await self._read(
                "fetch_funding_rates", lambda: self._client.fetch_funding_rates(wanted)
            )
            entries = list(raw.values())
        elif wanted:
            entries = [
                await self._read(
                    "fetch_funding_rate", partial(self._client.fetch_funding_rate, s), symbol=s
                )
                for s in wanted
            ]
        else:
            raise NotSupported(f"{self._venue}: funding rates need a list of symbols")
        rates: dict[str, FundingRate] = {}
        for entry in entries:
            rate = parse_funding_rate(self._venue, entry, self._profile.funding_interval_hours)
            if rate is not None and (wanted is None or rate.symbol in wanted):
                rates[rate.symbol] = rate
        return rates

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        """Return the book's top ``limit`` levels per side."""
        raw = await self._read(
            "fetch_order_book", lambda: self._client.fetch_order_book(symbol, limit), symbol=symbol
        )
        return parse_order_book(self._venue, symbol, raw)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        """Return the latest ticker of ``symbol``."""
        raw = await self._read(
            "fetch_ticker", lambda: self._client.fetch_ticker(symbol), symbol=symbol
        )
        return parse_ticker(self._venue, raw)

    async def close(self) -> None:
        """Release ccxt's HTTP session."""
        context = self._context("close", CallKind.READ)
        await call_mapped(self._client.close, context, RetryPolicy(attempts=1), self._sleep)


def _secret_values(credentials: ApiCredentials | None) -> list[str]:
    if credentials is None:
        return []
    values = [credentials.api_key.get_secret_value(), credentials.secret.get_secret_value()]
    if credentials.password is not None:
        values.append(credentials.password.get_secret_value())
    return values
