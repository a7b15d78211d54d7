"""What an agent asks the gateway to do, and the client order id it becomes.

``client_order_id_for(agent_id, intent_id)`` is a pure function: the same
decision always maps to the same venue order id, so a retried ``submit`` after
a crash or a ``RayActorError`` finds the order it already placed instead of
placing a second one. The id is ``"sw"`` plus 14 base62 characters of a
BLAKE2b hash (16 characters in all): it matches ``^[A-Za-z0-9]{1,32}$``
(Binance, Bybit, OKX), and at 16 bytes it maps both ways onto Hyperliquid's
128-bit cloid. ``"sw"`` is Swarm's prefix: a venue order carrying it must map
to an intent in the write-ahead log.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from pydantic import field_validator, model_validator

from core.errors import InvalidValue
from core.ids import CLIENT_ORDER_ID_PATTERN, ClientOrderId, agent_id
from core.models import Frozen, OrderRequest, OrderType, Side, TimeInForce
from core.money import Dec

CLIENT_ORDER_ID_PREFIX = "sw"
"""Every client order id Swarm sends starts with this."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HASH_CHARS = 14
_HASH_SPACE = 62**_HASH_CHARS  # about 2**83: collisions are out of reach for any fund's lifetime
INTENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
"""An intent id: printable, no separators that could make two (agent, intent) pairs collide."""


# -- CLIENT ORDER IDS ---------------------------------------------------------


def client_order_id_for(agent: str, intent_id: str) -> ClientOrderId:
    """Return the client order id of ``(agent, intent_id)``: ``"sw"`` + 14 base62 characters.

    Pure and stable across processes and Python versions (no ``hash()``).
    """
    digest = hashlib.blake2b(
        agent.encode() + b"\x00" + intent_id.encode(), digest_size=16, person=b"swarm-cloid"
    ).digest()
    number = int.from_bytes(digest, "big") % _HASH_SPACE
    chars = []
    for _ in range(_HASH_CHARS):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return ClientOrderId(CLIENT_ORDER_ID_PREFIX + "".join(reversed(chars)))


def is_swarm_client_order_id(value: str | None) -> bool:
    """Tell whether ``value`` is shaped like an id ``client_order_id_for`` makes."""
    return (
        value is not None
        and len(value) == len(CLIENT_ORDER_ID_PREFIX) + _HASH_CHARS
        and value.startswith(CLIENT_ORDER_ID_PREFIX)
        and CLIENT_ORDER_ID_PATTERN.match(value) is not None
    )


# -- THE INTENT ---------------------------------------------------------------


class OrderIntent(Frozen):
    """One order an agent wants; ``(agent_id, intent_id)`` identifies it forever.

    The model refuses what it can see alone (non-positive or non-finite amounts
    and prices, a limit without a price, a post-only market order); market
    rules, budgets and caps are the gateway's pre-trade checks.
    """

    agent_id: str
    intent_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    amount: Dec
    price: Dec | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    @field_validator("agent_id")
    @classmethod
    def _check_agent_id(cls, value: str) -> str:
        return agent_id(value)

    @field_validator("intent_id")
    @classmethod
    def _check_intent_id(cls, value: str) -> str:
        if not INTENT_ID_PATTERN.match(value):
            raise InvalidValue("intent_id", value, f"must match {INTENT_ID_PATTERN.pattern}")
        return value

    @model_validator(mode="after")
    def _check(self) -> OrderIntent:
        if self.amount <= 0:
            raise InvalidValue("amount", self.amount, "must be > 0")
        if self.price is not None and self.price <= 0:
            raise InvalidValue("price", self.price, "must be > 0")
        if self.type is OrderType.LIMIT and self.price is None:
            raise InvalidValue("price", None, "a limit order needs a price")
        if self.type is OrderType.MARKET and self.is_post_only:
            raise InvalidValue("post_only", True, "a market order cannot be post-only")
        return self

    @property
    def is_post_only(self) -> bool:
        return self.post_only or self.time_in_force is TimeInForce.PO

    @property
    def client_order_id(self) -> ClientOrderId:
        return client_order_id_for(self.agent_id, self.intent_id)

    def to_request(self, client_order_id: str) -> OrderRequest:
        """Return the venue request for this intent under ``client_order_id``."""
        return OrderRequest(
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            amount=self.amount,
            price=self.price,
            time_in_force=self.time_in_force,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
        )


# -- IDEMPOTENCY FINGERPRINT --------------------------------------------------


def _canonical(value: Decimal | None) -> str:
    # 1.0 and 1.00 are the same order: compare numbers, not their spelling.
    if value is None:
        return "-"
    if not value.is_finite():
        return str(value)
    return format(value.normalize(), "f") if value else "0"


def intent_fingerprint(intent: OrderIntent) -> str:
    """Return a digest of the order parameters (everything but the ids).

    Two submits of one ``(agent_id, intent_id)`` are the same order exactly
    when their fingerprints are equal; the fingerprint is logged with the
    intent so that replay compares what live compared.
    """
    text = "|".join(
        (
            str(intent.venue),
            str(intent.symbol),
            str(intent.side),
            str(intent.type),
            _canonical(intent.amount),
            _canonical(intent.price),
            str(intent.time_in_force),
            "po" if intent.post_only else "-",
            "ro" if intent.reduce_only else "-",
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
