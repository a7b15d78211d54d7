"""Pre-trade checks: pure functions from an intent and its context to a denial or an approval.

A failed check is a ``Denial`` (a typed reason, the field, its value and a
message), never an exception: the gateway returns it to the agent and logs it.
The checks run in this order, the first failure wins:

1. the intent's own fields (``validate_intent_fields``): ids, enums, finite
   positive amount and price: an intent built with ``model_construct`` must be
   denied, not crash the gateway;
2. the market (``check_market``): known venue and symbol, active, supported,
   tick, lot, minimum and maximum amount, reduce-only refused on spot;
3. the reference price: a market order needs a mid (it bounds the slippage we
   reserve for); a limit order needs one too unless
   ``RiskLimits.require_reference_for_limit`` is off, and then the limit price
   itself bounds the order; a limit price outside the band around the mid is
   denied (the band is symmetric, like Binance's PERCENT_PRICE filter);
4. minimum notional, per-order notional cap, per-symbol position cap (the
   worst case: the agent's position plus all its open orders on the symbol
   plus this one), spot holdings for a sell, reduce-only that would not reduce;
5. the agent's order rate (a sliding window on the injected clock);
6. the agent's budget: the reservation must fit in ``budget - reserved - used``.
   Orders that only lower exposure (reduce-only, a spot sell within holdings)
   skip this check: an agent under water must still be able to close.

Reservations are in the unit of account (quote currency at par): notional at
the worst price plus the taker fee for what opens exposure (a spot buy, the
opening part of a perp order, at 1x: no leverage credit), the taker fee alone
for what closes it. They are rounded up to ``cash_step``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from enum import StrEnum
from typing import Any

from core.errors import InvalidValue
from core.ids import CLIENT_ORDER_ID_PATTERN, agent_id
from core.models import Frozen, Market, OrderType, Side, TimeInForce
from core.money import ONE, ZERO, is_multiple_of
from gateway.intents import INTENT_ID_PATTERN
from risk.limits import RiskLimits


class DenialReason(StrEnum):
    NOT_READY = "not_ready"
    BREAKER_OPEN = "breaker_open"
    BREAKER_DRAINING = "breaker_draining"
    BREAKER_PROBES_SPENT = "breaker_probes_spent"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    CANCELED_BEFORE_SUBMIT = "canceled_before_submit"
    MALFORMED_ID = "malformed_id"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_PRICE = "invalid_price"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_VENUE = "unknown_venue"
    UNKNOWN_SYMBOL = "unknown_symbol"
    UNKNOWN_ORDER_TYPE = "unknown_order_type"
    MARKET_INACTIVE = "market_inactive"
    UNSUPPORTED_MARKET = "unsupported_market"
    OFF_TICK = "off_tick"
    OFF_LOT = "off_lot"
    BELOW_MIN_AMOUNT = "below_min_amount"
    ABOVE_MAX_AMOUNT = "above_max_amount"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    MARKET_RULES = "market_rules"
    REDUCE_ONLY_ON_SPOT = "reduce_only_on_spot"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    NO_REFERENCE_PRICE = "no_reference_price"
    PRICE_OUTSIDE_BAND = "price_outside_band"
    ORDER_NOTIONAL_CAP = "order_notional_cap"
    POSITION_CAP = "position_cap"
    INSUFFICIENT_POSITION = "insufficient_position"
    ORDER_RATE = "order_rate"
    INSUFFICIENT_BUDGET = "insufficient_budget"


class Denial(Frozen):
    """Why an order was refused: the reason, the field and value at fault, and a sentence."""

    reason: DenialReason
    field: str
    value: str
    message: str

    @classmethod
    def of(cls, reason: DenialReason, field: str, value: Any, message: str) -> Denial:
        """Return a denial, the value shown as its ``repr`` (Decimals as their digits)."""
        shown = str(value) if isinstance(value, Decimal | str) else repr(value)
        return cls(reason=reason, field=field, value=shown, message=f"{field}={shown}: {message}")


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the checks need to know about the agent and the symbol, as plain values."""

    venue_known: bool
    reference_price: Decimal | None
    """The mid (or mark) of the symbol, None if unknown."""
    reference_age_ns: int | None
    position: Decimal
    """The agent's signed contracts (perp) or base holdings (spot) in the symbol."""
    pending_buy: Decimal
    """Unfilled amount of the agent's live buy orders in the symbol."""
    pending_sell: Decimal
    free_budget: Decimal
    recent_orders: int
    """Orders the agent submitted within the rate window."""
    may_borrow: bool = False
    """The venue lends spot assets to the account (spot margin, ``RiskLimits.spot_borrow_venues``):
    a spot sell beyond the agent's holding opens a short instead of being denied."""


@dataclass(frozen=True, slots=True)
class Approval:
    """The intent passed: what to reserve, at which reference, and whether it lowers exposure."""

    reservation: Decimal
    reference_price: Decimal | None
    notional: Decimal
    reduces: bool


# -- THE INTENT'S OWN FIELDS --------------------------------------------------

# Plain strings compare equal to their StrEnum members, so a ``model_construct``
# intent holding "buy" passes and one holding "stop" does not.
_SIDES = frozenset(Side)
_ORDER_TYPES = frozenset(OrderType)
_TIFS = frozenset(TimeInForce)


def _one_of(value: object, choices: frozenset[Any]) -> bool:
    try:
        return value in choices
    except TypeError:  # unhashable: certainly not one of them
        return False


def _finite_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def validate_intent_fields(intent: Any) -> Denial | None:
    """Deny an intent whose fields are not what ``OrderIntent`` promises (``model_construct``).

    Check ids, enums, booleans, and that the amount and a given price are
    finite Decimals above zero.
    """
    denial = validate_ids(getattr(intent, "agent_id", None), getattr(intent, "intent_id", None))
    if denial is not None:
        return denial
    for name in ("venue", "symbol"):
        value = getattr(intent, name, None)
        if not isinstance(value, str) or not value:
            return Denial.of(DenialReason.INVALID_FIELD, name, value, "must be a non-empty string")
    side: Any = getattr(intent, "side", None)
    if not _one_of(side, _SIDES):
        return Denial.of(DenialReason.INVALID_FIELD, "side", side, "not buy or sell")
    kind: Any = getattr(intent, "type", None)
    if not _one_of(kind, _ORDER_TYPES):
        return Denial.of(
            DenialReason.UNKNOWN_ORDER_TYPE,
            "type",
            kind,
            "not an order type the gateway sends (market, limit)",
        )
    order_type = OrderType(kind)
    tif: Any = getattr(intent, "time_in_force", None)
    if not _one_of(tif, _TIFS):
        return Denial.of(
            DenialReason.INVALID_FIELD, "time_in_force", tif, "not GTC, IOC, FOK or PO"
        )
    for name in ("post_only", "reduce_only"):
        if not isinstance(getattr(intent, name, None), bool):
            return Denial.of(
                DenialReason.INVALID_FIELD, name, getattr(intent, name, None), "must be a bool"
            )
    amount: Any = getattr(intent, "amount", None)
    if not _finite_decimal(amount) or amount <= 0:
        return Denial.of(DenialReason.INVALID_AMOUNT, "amount", amount, "must be a finite > 0")
    price: Any = getattr(intent, "price", None)
    if price is not None and (not _finite_decimal(price) or price <= 0):
        return Denial.of(DenialReason.INVALID_PRICE, "price", price, "must be a finite > 0")
    if order_type is OrderType.LIMIT and price is None:
        return Denial.of(DenialReason.INVALID_PRICE, "price", None, "a limit order needs a price")
    post_only = intent.post_only or intent.time_in_force == TimeInForce.PO
    if order_type is OrderType.MARKET and post_only:
        return Denial.of(
            DenialReason.INVALID_FIELD, "post_only", True, "a market order cannot be post-only"
        )
    return None


def validate_ids(agent: Any, intent_id: Any) -> Denial | None:
    """Deny an agent id or intent id of the wrong shape (they name the order forever)."""
    try:
        agent_id(agent)
    except InvalidValue as exc:
        return Denial.of(DenialReason.MALFORMED_ID, "agent_id", agent, exc.reason)
    if not isinstance(intent_id, str) or not INTENT_ID_PATTERN.match(intent_id):
        return Denial.of(
            DenialReason.MALFORMED_ID,
            "intent_id",
            intent_id,
            f"must match {INTENT_ID_PATTERN.pattern}",
        )
    return None


def validate_client_order_id(value: Any) -> Denial | None:
    """Deny a client order id that does not match ``^[A-Za-z0-9]{1,32}$``."""
    if not isinstance(value, str) or not CLIENT_ORDER_ID_PATTERN.match(value):
        return Denial.of(
            DenialReason.MALFORMED_ID, "client_order_id", value, "must match ^[A-Za-z0-9]{1,32}$"
        )
    return None


# -- MARKET RULES -------------------------------------------------------------


def check_market(intent: Any, market: Market | None, venue_known: bool) -> Denial | None:
    """Deny an intent the market cannot take: unknown, inactive, off its grid, reduce-only spot."""
    if market is None:
        if not venue_known:
            return Denial.of(DenialReason.UNKNOWN_VENUE, "venue", intent.venue, "no such venue")
        return Denial.of(
            DenialReason.UNKNOWN_SYMBOL, "symbol", intent.symbol, f"not listed on {intent.venue}"
        )
    if not market.active:
        return Denial.of(DenialReason.MARKET_INACTIVE, "symbol", intent.symbol, "not trading")
    if market.inverse:
        return Denial.of(
            DenialReason.UNSUPPORTED_MARKET, "symbol", intent.symbol, "inverse contracts"
        )
    if intent.reduce_only and market.is_spot:
        return Denial.of(
            DenialReason.REDUCE_ONLY_ON_SPOT, "reduce_only", True, "spot has no position to reduce"
        )
    amount: Decimal = intent.amount
    if not is_multiple_of(amount, market.amount_step):
        return Denial.of(
            DenialReason.OFF_LOT, "amount", amount, f"not a multiple of {market.amount_step}"
        )
    if amount < market.min_amount:
        return Denial.of(
            DenialReason.BELOW_MIN_AMOUNT, "amount", amount, f"below {market.min_amount}"
        )
    if market.max_amount is not None and amount > market.max_amount:
        return Denial.of(
            DenialReason.ABOVE_MAX_AMOUNT, "amount", amount, f"above {market.max_amount}"
        )
    price: Decimal | None = intent.price
    if price is not None and not is_multiple_of(price, market.price_tick):
        return Denial.of(
            DenialReason.OFF_TICK, "price", price, f"not on the tick {market.price_tick}"
        )
    try:  # the market's own rules, in case they know more; minimum notional comes later
        market.check_order(amount, None)
    except InvalidValue as exc:
        return Denial.of(DenialReason.MARKET_RULES, exc.field, exc.value, exc.reason)
    return None


# -- SIZE, PRICE, POSITION, RATE, BUDGET --------------------------------------


def _worst_price(intent: Any, reference: Decimal | None, band: Decimal) -> Decimal:
    """Return the highest price the order can plausibly trade at (bounds cost and fee)."""
    edge = reference * (ONE + band) if reference is not None else None
    if intent.type == OrderType.MARKET:
        assert edge is not None
        return edge
    price: Decimal = intent.price
    if intent.side == Side.SELL and reference is not None and reference > price:
        return reference  # a sell limit below the mid fills at the book, above the limit
    return price


def reservation_for(
    market: Market, opening: Decimal, closing: Decimal, price: Decimal, cash_step: Decimal
) -> Decimal:
    """Return the budget a new order holds: opening notional plus taker fee on the whole."""
    opening_notional = market.notional(opening, price)
    closing_notional = market.notional(closing, price)
    total = opening_notional + (opening_notional + closing_notional) * market.taker_fee
    return total.quantize(cash_step, rounding=ROUND_UP)


def _split_opening(
    intent: Any, market: Market, ctx: RiskContext
) -> tuple[Decimal, Decimal, Denial | None]:
    """Return (opening, closing) amounts of the order, or a denial on spot or reduce-only."""
    amount: Decimal = intent.amount
    buy = intent.side == Side.BUY
    if market.is_spot:
        if buy:
            return amount, ZERO, None
        available = ctx.position - ctx.pending_sell
        if amount > available and ctx.may_borrow:
            closing = max(available, ZERO)
            return amount - closing, closing, None  # the rest borrows: a short, opening
        if amount > available:
            return (
                ZERO,
                ZERO,
                Denial.of(
                    DenialReason.INSUFFICIENT_POSITION,
                    "amount",
                    amount,
                    f"sells more than the {available} {market.base} the agent holds free",
                ),
            )
        return ZERO, amount, None
    closable = (-ctx.position - ctx.pending_buy) if buy else (ctx.position - ctx.pending_sell)
    closable = max(closable, ZERO)
    closing = min(amount, closable)
    if intent.reduce_only and closing < amount:
        return (
            ZERO,
            ZERO,
            Denial.of(
                DenialReason.REDUCE_ONLY_WOULD_INCREASE,
                "amount",
                amount,
                f"only {closable} of the position is left to reduce",
            ),
        )
    return amount - closing, closing, None


def pre_trade_check(
    intent: Any,
    market: Market | None,
    ctx: RiskContext,
    limits: RiskLimits,
    cash_step: Decimal,
) -> Denial | Approval:
    """Run every check on a field-valid ``intent`` (see the module doc); return the verdict."""
    denial = check_market(intent, market, ctx.venue_known)
    if denial is not None:
        return denial
    assert market is not None
    reference = ctx.reference_price
    if (
        reference is not None
        and limits.reference_max_age_ns is not None
        and (ctx.reference_age_ns is None or ctx.reference_age_ns > limits.reference_max_age_ns)
    ):
        reference = None  # a stale mid bounds nothing
    is_market = intent.type == OrderType.MARKET
    if reference is None and (is_market or limits.require_reference_for_limit):
        return Denial.of(
            DenialReason.NO_REFERENCE_PRICE,
            "symbol",
            intent.symbol,
            "no fresh mid price to check the order against",
        )
    band: Decimal = limits.price_band
    if not is_market and reference is not None:
        distance = abs(intent.price - reference)
        if distance > reference * band:
            return Denial.of(
                DenialReason.PRICE_OUTSIDE_BAND,
                "price",
                intent.price,
                f"more than {limits.price_band_bps} bps from the mid {reference}",
            )
    amount: Decimal = intent.amount
    # The venue judges the minimum at the limit price (a market order: at the mid).
    judged: Decimal | None = reference if is_market else intent.price
    assert judged is not None  # a market order without a mid was denied above
    venue_notional = market.notional(amount, judged)
    if market.min_cost and venue_notional < market.min_cost:
        return Denial.of(
            DenialReason.BELOW_MIN_NOTIONAL,
            "amount",
            amount,
            f"notional {venue_notional} below the minimum {market.min_cost}",
        )
    price = _worst_price(intent, reference, band)
    notional = market.notional(amount, price)
    if notional > limits.max_order_notional:
        return Denial.of(
            DenialReason.ORDER_NOTIONAL_CAP,
            "amount",
            amount,
            f"notional {notional} above the cap {limits.max_order_notional}",
        )
    opening, closing, denial = _split_opening(intent, market, ctx)
    if denial is not None:
        return denial
    if opening:
        buy = intent.side == Side.BUY
        worst = (
            ctx.position + ctx.pending_buy + amount
            if buy
            else -(ctx.position - ctx.pending_sell - amount)
        )
        worst_notional = market.notional(worst, price)
        if worst > 0 and worst_notional > limits.max_position_notional:
            return Denial.of(
                DenialReason.POSITION_CAP,
                "amount",
                amount,
                f"worst-case position notional {worst_notional} above the cap "
                f"{limits.max_position_notional}",
            )
    if ctx.recent_orders + 1 > limits.max_orders_per_window:
        return Denial.of(
            DenialReason.ORDER_RATE,
            "agent_id",
            intent.agent_id,
            f"more than {limits.max_orders_per_window} orders within "
            f"{limits.order_rate_window_ns} ns",
        )
    reservation = reservation_for(market, opening, closing, price, cash_step)
    reduces = opening == 0
    if not reduces and reservation > ctx.free_budget:
        return Denial.of(
            DenialReason.INSUFFICIENT_BUDGET,
            "amount",
            amount,
            f"needs {reservation}, the agent has {ctx.free_budget} free",
        )
    return Approval(reservation, reference, notional, reduces)
