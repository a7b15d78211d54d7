"""Checks an order request must pass before the venue touches anything.

Pure: they read the request, the market's rules and what the venue knows of the
market, and either return the request's normalised fields or raise a ``DeniedError``
naming the field and the value.
"""

from __future__ import annotations

from decimal import Decimal

from core.errors import InvalidOrder, InvalidValue, NotSupported
from core.models import Market, OrderRequest, OrderType, Side, TimeInForce
from exchanges.paper.rules import MarketRules, VenueRules
from exchanges.paper.views import SymbolState


def check_number(field: str, value: object) -> Decimal:
    """Return ``value`` if it is a finite Decimal > 0, else raise ``InvalidValue``."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidValue(field, value, "must be a finite Decimal")
    if value <= 0:
        raise InvalidValue(field, value, "must be > 0")
    return value


def checked_request(
    request: OrderRequest,
    rules: MarketRules,
    market: Market,
    venue_rules: VenueRules,
    state: SymbolState,
) -> tuple[Side, OrderType, TimeInForce, Decimal, Decimal | None, bool]:
    """Check ``request`` against the market's rules.

    Return (side, type, time in force, amount, price, post-only), the price None for a
    market order. ``OrderRequest`` validates most of this itself; it is checked again
    because a request made with ``model_construct`` skips that.
    """
    amount = check_number("amount", request.amount)
    price = None if request.price is None else check_number("price", request.price)
    side, order_type, tif = request.side, request.type, request.time_in_force
    try:  # a request built with model_construct may carry plain strings
        if type(side) is not Side:
            side = Side(side)
        if type(order_type) is not OrderType:
            order_type = OrderType(order_type)
        if type(tif) is not TimeInForce:
            tif = TimeInForce(tif)
    except ValueError as exc:
        raise InvalidValue("request", request, str(exc)) from None
    post_only = bool(request.post_only) or tif is TimeInForce.PO
    if request.reduce_only and rules.is_spot:
        raise InvalidValue("reduce_only", True, f"{rules.symbol} is spot: no position to reduce")
    if order_type is not OrderType.MARKET:
        if tif not in venue_rules.time_in_force:
            raise NotSupported(f"{venue_rules.venue} has no {tif} time in force")
        if price is None:
            raise InvalidValue("price", None, "a limit order needs a price")
        market.check_order(amount, price)
        return side, order_type, tif, amount, price, post_only
    if post_only:
        raise InvalidValue("post_only", True, "a market order cannot be post-only")
    if rules.max_market_amount is not None and amount > rules.max_market_amount:
        raise InvalidValue(
            "amount",
            amount,
            f"above the market-order maximum {rules.max_market_amount} of {rules.symbol}",
        )
    opposite = state.book.asks if side is Side.BUY else state.book.bids
    best = opposite.best()
    reference = best[0] if best is not None else state.reference_price()
    if reference is None:
        raise InvalidOrder(
            f"{venue_rules.venue}: no market data for {rules.symbol} to price a market order"
        )
    market.check_order(amount, None)
    notional = market.notional(amount, reference)
    if rules.min_cost and notional < rules.min_cost:
        raise InvalidValue(
            "amount",
            amount,
            f"notional {notional} below the minimum {rules.min_cost} of {rules.symbol}",
        )
    return side, order_type, tif, amount, None, False
