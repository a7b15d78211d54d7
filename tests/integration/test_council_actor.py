"""The council actor on real Ray: decisions logged to the gateway's WAL; a killed council rebuilds from them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cli.runtime import create_actor
from council.actor import CouncilActor, CouncilClient
from tests.integration.gateway_support import T0, start_system, stop_system

H = 3_600 * 1_000_000_000
AGENTS = ("agent0", "agent1")
CONFIG = {
    "capital": "1000",
    "period_ns": H,
    "reweight_every": 1,
    "edge_window": 50,
    "allocator": {"min_history": 100},  # warm-up: equal weights, whatever the P&L
}


@pytest.fixture
def council(ray_session: str, tmp_path: Path) -> Iterator[tuple[Any, CouncilClient, Any]]:
    import ray

    _, gateway = start_system(tmp_path)
    handle = create_actor("council", "council", CouncilActor, CONFIG, AGENTS)
    try:
        yield handle, CouncilClient(handle), gateway
    finally:
        ray.kill(handle, no_restart=True)
        stop_system()


def test_council_when_killed_then_rebuilds_from_gateway_log_and_goes_on(
    council: tuple[Any, CouncilClient, Any],
) -> None:
    import ray

    handle, client, gateway = council
    assert client.tick(T0) is None  # the first sample
    decided = [client.tick(T0 + H), client.tick(T0 + 2 * H)]
    assert all(d is not None and d["budgets"] == {a: "500.00" for a in AGENTS} for d in decided)
    assert gateway.council_log() == decided  # each decision is in the WAL, with its inputs
    assert gateway.snapshot().agents["agent0"].budget == Decimal("500.00")
    before = client.history()

    ray.kill(handle, no_restart=False)
    after_restart = client.tick(T0 + 3 * H)  # the client retries through the restart

    # A council started from nothing would only take its first sample here (None).
    assert after_restart is not None and after_restart["ts_ns"] == T0 + 3 * H
    assert after_restart["allocation"]["periods"] == 3  # three periods of returns, not zero
    history = client.history()
    assert history[: len(before)] == before and history[-1] == after_restart
    assert gateway.council_log() == [*decided, after_restart]
    assert client.tick(T0 + 3 * H) is None  # the same boundary is not decided twice
