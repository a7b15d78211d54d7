"""The order path under concurrency: agents, the poller and the market interleave at every venue call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

import pytest

from core.models import OrderRequest
from gateway.engine_types import Send
from gateway.service import GatewayService
from tests.sim.concurrent import ConcurrentConfig, run_seed, run_seeds
from tests.sim.faults import FaultRates

SEEDS = 100


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.CRITICAL)  # the gateway's warnings are expected here
    yield
    logging.disable(logging.NOTSET)


def test_concurrent_sweep_keeps_every_invariant() -> None:
    total = run_seeds(range(SEEDS))
    assert total.violations == [], total.violations[:5]
    # The sweep exercised what it claims to.
    assert total.twins > SEEDS and total.races > SEEDS and total.batches > SEEDS // 2
    assert total.accepted > 5 * SEEDS and total.fills > 5 * SEEDS and total.polls > SEEDS


def test_concurrent_sweep_with_venue_faults_keeps_every_invariant() -> None:
    total = run_seeds(range(1000, 1000 + SEEDS // 2), ConcurrentConfig(faults=FaultRates.default()))
    assert total.violations == [], total.violations[:5]


def test_stale_create_answer_does_not_trip_the_breaker() -> None:
    """A create answered "open" while the order filled (or was canceled) meanwhile is no contradiction.

    The venue's answer left before the fill the poller applied while the answer
    travelled back: it is older than that fact, not a venue protocol error.
    """
    tripped = [
        seed
        for seed in range(20)
        if any(kind == "breaker" for _, kind, _ in run_seed(seed).violations)
    ]
    assert tripped == []


def test_a_seed_replays_the_same_run() -> None:
    first, second = run_seed(7), run_seed(7)
    assert first == second


class _SendsTwice(GatewayService):
    """A planted bug: every create is sent again once its first answer is in."""

    async def _send(self, sends: Sequence[Send]) -> None:
        await super()._send(sends)
        venue = self.venues[sends[0].venue]
        requests: list[OrderRequest] = [s.request for s in sends]
        await asyncio.gather(*(venue.create_order(r) for r in requests), return_exceptions=True)


def test_the_checks_catch_a_planted_duplicate_under_concurrency() -> None:
    total = run_seeds(range(5), ConcurrentConfig(service_factory=_SendsTwice))
    kinds = {kind for _, kind, _ in total.violations}
    assert "duplicate" in kinds, total.violations[:5]
