"""Build a paper venue actor and a gateway actor in the shared Ray session."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from cli.runtime import create_actor
from core.config import PaperConfig
from core.events import TopOfBook
from core.models import OrderType, Side, TimeInForce
from exchanges.paper_actor import VenueActor
from gateway.actor import GatewayActor, GatewaySettings
from gateway.client import GatewayClient
from gateway.intents import OrderIntent
from risk.limits import RiskLimits

SYMBOL = "BTC/USDT:USDT"
MID = Decimal("60000.05")
T0 = 1_700_000_000_000_000_000


def start_system(state_dir: Path, *, venue: str = "binance") -> tuple[Any, GatewayClient]:
    """Start ``venue:<venue>`` with a quoted book and the ``gateway``; return (venue handle, client)."""
    import ray

    config = PaperConfig(starting_balances={"USDT": Decimal(10_000_000)})
    handle = create_actor("venue", f"venue:{venue}", VenueActor, venue, config)
    ray.get(
        handle.on_market_events.remote(
            [
                TopOfBook(
                    T0,
                    venue,
                    SYMBOL,
                    Decimal("60000.0"),
                    Decimal(50),
                    Decimal("60000.1"),
                    Decimal(50),
                )
            ]
        )
    )
    limits = RiskLimits(
        max_order_notional=Decimal(10**9),
        max_position_notional=Decimal(10**12),
        max_orders_per_window=10**9,
    )
    settings = GatewaySettings(
        state_dir=str(state_dir), venues=(venue,), limits=limits, poll_interval_s=0.05
    )
    create_actor("gateway", "gateway", GatewayActor, settings)
    client = GatewayClient(deadline_s=60)
    client.wait_ready(60)
    client.set_budgets({f"agent{i}": Decimal(10**12) for i in range(4)})
    client.mark({(venue, SYMBOL): MID})
    return handle, client


def stop_system(venue: str = "binance") -> None:
    import ray

    for name in ("gateway", f"venue:{venue}"):
        try:
            ray.kill(ray.get_actor(name), no_restart=True)
        except ValueError:
            pass


def resting_intent(agent: str, n: int, venue: str = "binance") -> OrderIntent:
    """A post-only limit far from the mid: it rests, so every order stays visible on the venue."""
    buy = n % 2 == 0
    return OrderIntent(
        agent_id=agent,
        intent_id=f"i{n}-{uuid.uuid5(uuid.NAMESPACE_OID, agent).hex[:6]}",
        venue=venue,
        symbol=SYMBOL,
        side=Side.BUY if buy else Side.SELL,
        type=OrderType.LIMIT,
        amount=Decimal("0.002"),  # 116 USDT at 58000: above the 100 USDT minimum notional
        price=Decimal("58000.0") if buy else Decimal("62000.0"),
        time_in_force=TimeInForce.GTC,
        post_only=True,
    )
