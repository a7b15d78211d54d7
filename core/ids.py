"""Typed identifiers.

``NewType`` keeps them plain strings at run time (cheap to send between actors)
while mypy keeps an agent id from being passed where a symbol is expected.
"""

from __future__ import annotations

import re
from typing import NewType

from core.errors import InvalidValue

AgentId = NewType("AgentId", str)
IntentId = NewType("IntentId", str)
ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
VenueName = NewType("VenueName", str)
Symbol = NewType("Symbol", str)
"""A ccxt unified symbol: ``BTC/USDT`` (spot), ``BTC/USDT:USDT`` (linear perpetual)."""

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")
"""The one client-order-id format Binance, Bybit and OKX all accept."""

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def client_order_id(value: str) -> ClientOrderId:
    """Return ``value`` as a ClientOrderId, or raise ``InvalidValue`` if it breaks the format."""
    if not isinstance(value, str) or not CLIENT_ORDER_ID_PATTERN.match(value):
        raise InvalidValue("client_order_id", value, "must match ^[A-Za-z0-9]{1,32}$")
    return ClientOrderId(value)


def venue_name(value: str) -> VenueName:
    """Return ``value`` as a VenueName (lower-case, like ccxt's exchange ids)."""
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise InvalidValue("venue", value, "must be a lower-case exchange id such as 'binance'")
    return VenueName(value)


def agent_id(value: str) -> AgentId:
    """Return ``value`` as an AgentId (lower-case letters, digits, '-' and '_')."""
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise InvalidValue("agent_id", value, "must be lower-case letters, digits, '-' or '_'")
    return AgentId(value)
