"""What ``decide`` asks for: place an order intent, or cancel one still open."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.intents import OrderIntent


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Send ``intent`` through the gateway."""

    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel the open order of ``intent_id`` (this agent's)."""

    intent_id: str


Action = PlaceOrder | CancelOrder
