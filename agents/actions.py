"""What every agent's ``decide`` returns besides its state: place an order intent, or cancel one.

Actions are data (as in Hummingbot's strategy_v2): the agent's actor hands them to the
gateway client; no strategy core ever talks to a venue.
"""

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
