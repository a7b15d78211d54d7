"""A strategy agent as a Ray actor: feed events in, orders out through the gateway to the paper venue."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cli.runtime import create_actor
from core.events import TopOfBook
from tests.integration.gateway_support import SYMBOL, T0, start_system, stop_system

MM_CONFIG = {
    "agent_id": "agent0",
    "venue": "binance",
    "symbol": SYMBOL,
    "gamma": 0.1,
    "sigma": 0.0001,
    "k": 1.5,
    "a": 140.0,
    "order_notional": "200",
    "max_inventory_notional": "2000",
    "price_tick": "0.1",
    "amount_step": "0.001",
}


def tops(first_s: int, count: int) -> list[TopOfBook]:
    return [
        TopOfBook(
            T0 + (first_s + i) * 10**9,
            "binance",
            SYMBOL,
            Decimal("60000.0"),
            Decimal(5),
            Decimal("60000.1"),
            Decimal(5),
        )
        for i in range(count)
    ]


@pytest.fixture
def system(ray_session: str, tmp_path: Path) -> Any:
    venue, client = start_system(tmp_path / "state")
    yield venue, client
    import ray

    try:
        ray.kill(ray.get_actor("agent:agent0"), no_restart=True)
    except ValueError:
        pass
    stop_system()


def venue_cids(venue: Any) -> Counter[str]:
    import ray

    return Counter(
        o.client_order_id for o in ray.get(venue.all_orders.remote()) if o.client_order_id
    )


def test_agent_when_fed_books_then_quotes_through_gateway_once_and_keeps_them(system: Any) -> None:
    import ray

    from agents.actor import AgentActor

    venue, client = system
    agent = create_actor("agent", "agent:agent0", AgentActor, "market_maker", MM_CONFIG)
    sent = [ray.get(agent.on_market_events.remote(tops(s, 1))) for s in range(5)]
    assert sent[0] == 2  # a bid and an ask
    assert sum(sent[1:]) == 0  # unchanged book: quotes kept within the refresh tolerance
    stats = ray.get(agent.stats.remote())
    assert stats["accepted"] == 2 and stats["errors"] == 0 and stats["open_orders"] == 2
    counts = venue_cids(venue)
    assert len(counts) == 2 and set(counts.values()) == {1}
    account = client.agent_account("agent0")
    assert {o.side for o in account.orders} == {"buy", "sell"}


def test_agent_when_killed_and_restarted_then_rebuilds_from_gateway_and_sends_no_duplicate(
    system: Any,
) -> None:
    import ray

    from agents.actor import AgentActor

    venue, _client = system
    agent = create_actor("agent", "agent:agent0", AgentActor, "market_maker", MM_CONFIG)
    ray.get(agent.on_market_events.remote(tops(0, 1)))
    before = venue_cids(venue)
    ray.kill(agent, no_restart=False)
    deadline = time.monotonic() + 30
    while True:  # Ray restarts it; its constructor rebuilds the account from the gateway
        assert time.monotonic() < deadline, "the agent did not come back"
        try:
            stats = ray.get(agent.stats.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            time.sleep(0.1)
            continue
        if stats["decisions"] == 0:  # a fresh process: the restart happened
            break
        time.sleep(0.05)
    # The restarted agent re-decides the very same event: same intent ids, same orders.
    ray.get(agent.on_market_events.remote(tops(0, 1)))
    ray.get(agent.on_market_events.remote(tops(1, 1)))
    after = venue_cids(venue)
    assert after == before, (before, after)
    assert ray.get(agent.stats.remote())["open_orders"] == 2
    assert stats["status"] == "running"
