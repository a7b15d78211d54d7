"""Forced liquidations from the venues' public streams, as ``Liquidation(source="recorded")``.

The live feed reads them through ccxt (``watch_liquidations`` where ccxt.pro has it:
Binance USDT-M ``<symbol>@forceOrder``, Bybit v5 ``allLiquidation.<symbol>``, OKX
``liquidation-orders``; else ``fetch_liquidations`` polled). ccxt's unified fields are
not enough, so each venue's raw message (the ``info`` ccxt keeps) is read here, as the
venue documents it:

- Binance ``forceOrder`` (developers.binance.com, USDS-M "Liquidation Order Streams"):
  ``o.S`` is the forced order's side (SELL: a long was liquidated); the amount is
  ``z`` (filled accumulated), the price ``ap`` (average), the time ``T``. The stream
  is a *snapshot*: per symbol only the latest liquidation order of each 1000 ms is
  pushed, so the sum of a stream is a lower bound of the liquidated flow, never its
  size (the hunter's detector says how it estimates the size).
- Bybit v5 ``allLiquidation`` (bybit-exchange.github.io/docs/v5/websocket/public/
  all-liquidation): ``S`` is the side of the liquidated *position* ("When you receive
  a Buy update, this means that a long position has been liquidated"), so the forced
  order is the opposite side: Buy -> a sell order. ccxt 4.5 reports ``S`` lowered as
  the side unchanged; it is flipped here. Every liquidation is pushed (500 ms batches).
- OKX ``liquidation-orders`` (okx.com/docs-v5, "Liquidation orders channel"): each
  item of ``data`` holds ``details``, each with the order's ``side``, ``bkPx`` and
  ``sz`` in contracts; ccxt 4.5 parses only ``details[0]``, every detail is read here.

Amounts are in the market's own units (contracts on OKX), as the venue's book. An
event's identity is all its fields (the frozen dataclass's equality): the live
stream drops an identical repeat (a re-delivered message, an overlapping poll).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from core.clock import NS_PER_MS
from core.errors import ExchangeProtocolError
from core.events import Liquidation

Side = Literal["buy", "sell"]
_ORDER_SIDE: dict[str, Side] = {"buy": "buy", "sell": "sell"}
# Bybit's S is the liquidated position's side; the forced order is the opposite one.
BYBIT_POSITION_TO_ORDER_SIDE: dict[str, Side] = {"buy": "sell", "sell": "buy"}


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ExchangeProtocolError(f"liquidation {field}: missing or not a number: {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ExchangeProtocolError(f"liquidation {field}: not a number: {value!r}") from None
    if not result.is_finite():
        raise ExchangeProtocolError(f"liquidation {field}: not finite: {value!r}")
    return result


def _ts_ns(value: Any, now_ns: int) -> int:
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return now_ns
    return ms * NS_PER_MS if ms > 0 else now_ns


def _side(value: Any, table: Mapping[str, Side], field: str) -> Side:
    side = table.get(str(value).lower())
    if side is None:
        raise ExchangeProtocolError(f"liquidation {field}: must be buy or sell, got {value!r}")
    return side


def _positive(
    venue: str, symbol: str, ts: int, side: Side, price: Decimal, amount: Decimal
) -> Liquidation | None:
    if price <= 0 or amount < 0:
        raise ExchangeProtocolError(f"liquidation: bad price {price} or amount {amount}")
    if amount == 0:
        return None  # an order that filled nothing liquidated nothing
    return Liquidation(ts, venue, symbol, side, price, amount, "recorded")


def binance_force_order(
    venue: str, symbol: str, order: Mapping[str, Any], *, now_ns: int
) -> Liquidation | None:
    """Return the liquidation of one Binance ``forceOrder`` order object (``o``); None if unfilled."""
    side = _side(order.get("S"), _ORDER_SIDE, "S")
    filled = _decimal(order.get("z", order.get("l")), "z")
    price = _decimal(order.get("ap"), "ap")
    if price == 0:
        price = _decimal(order.get("p"), "p")
    return _positive(venue, symbol, _ts_ns(order.get("T"), now_ns), side, price, filled)


def bybit_all_liquidation(
    venue: str, symbol: str, item: Mapping[str, Any], *, now_ns: int
) -> Liquidation | None:
    """Return the liquidation of one Bybit ``allLiquidation`` item (or a ``liquidation`` one)."""
    side = _side(item.get("S", item.get("side")), BYBIT_POSITION_TO_ORDER_SIDE, "S")
    amount = _decimal(item.get("v", item.get("size")), "v")
    price = _decimal(item.get("p", item.get("price")), "p")
    ts = _ts_ns(item.get("T", item.get("updatedTime")), now_ns)
    return _positive(venue, symbol, ts, side, price, amount)


def okx_liquidation_orders(
    venue: str, symbol: str, item: Mapping[str, Any], *, now_ns: int
) -> list[Liquidation]:
    """Return the liquidations of every detail of one OKX ``liquidation-orders`` item."""
    details = item.get("details")
    if not isinstance(details, Sequence) or isinstance(details, str):
        raise ExchangeProtocolError(f"liquidation details: expected a list, got {details!r:.80}")
    out: list[Liquidation] = []
    for detail in details:
        if not isinstance(detail, Mapping):
            raise ExchangeProtocolError(f"liquidation detail: expected an object: {detail!r:.80}")
        side = _side(detail.get("side"), _ORDER_SIDE, "side")
        price = _decimal(detail.get("bkPx"), "bkPx")
        amount = _decimal(detail.get("sz"), "sz")
        event = _positive(venue, symbol, _ts_ns(detail.get("ts"), now_ns), side, price, amount)
        if event is not None:
            out.append(event)
    return out


def _unified(venue: str, symbol: str, item: Mapping[str, Any], now_ns: int) -> Liquidation | None:
    side = _side(item.get("side"), _ORDER_SIDE, "side")
    price = _decimal(item.get("price"), "price")
    amount = _decimal(item.get("contracts"), "contracts")
    return _positive(venue, symbol, _ts_ns(item.get("timestamp"), now_ns), side, price, amount)


def ccxt_liquidation_events(
    venue: str, symbol: str, payload: Any, *, now_ns: int
) -> list[Liquidation]:
    """Turn what ccxt's ``watch_liquidations``/``fetch_liquidations`` returned into events.

    The venue's raw message (``info``) is read for Binance, Bybit and OKX (see the
    module's docstring); any other venue's ccxt unified fields are taken as they are.
    """
    if not isinstance(payload, Sequence) or isinstance(payload, str | bytes):
        raise ExchangeProtocolError(f"liquidations: expected a list, got {payload!r:.80}")
    out: list[Liquidation] = []
    for entry in payload:
        if not isinstance(entry, Mapping):
            raise ExchangeProtocolError(f"liquidation: expected an object, got {entry!r:.80}")
        info = entry.get("info")
        if entry.get("symbol") not in (None, symbol):
            continue  # another market's (an all-market stream)
        if isinstance(info, Mapping) and venue.startswith("binance") and "S" in info:
            event = binance_force_order(venue, symbol, info, now_ns=now_ns)
        elif isinstance(info, Mapping) and venue.startswith("bybit"):
            event = bybit_all_liquidation(venue, symbol, info, now_ns=now_ns)
        elif isinstance(info, Mapping) and venue.startswith("okx") and "details" in info:
            out.extend(okx_liquidation_orders(venue, symbol, info, now_ns=now_ns))
            continue
        else:
            event = _unified(venue, symbol, entry, now_ns)
        if event is not None:
            out.append(event)
    return out
