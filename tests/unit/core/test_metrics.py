"""core.metrics (counters, latency histograms) and the gateway service's instrumentation, no Ray."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from core.errors import InvalidValue
from core.metrics import (
    LATENCY_BOUNDS_NS,
    LatencyHistogram,
    OrderMetrics,
    counter_delta,
    histogram_from_dict,
)
from tests.sim.support import D, poll, resting, started_world, taking

# -- LATENCY HISTOGRAM -----------------------------------------------------------


def test_observe_when_value_on_a_bound_then_counted_in_that_bucket_le_inclusive() -> None:
    h = LatencyHistogram([10, 20, 30])
    for value in (0, 10, 11, 20, 30, 31, 10**12):
        h.observe(value)
    assert h.counts == [2, 2, 1, 2]  # <=10, <=20, <=30, +Inf
    assert h.cumulative() == [2, 4, 5, 7]
    assert h.count == 7 and h.sum_ns == 0 + 10 + 11 + 20 + 30 + 31 + 10**12


def test_observe_when_negative_duration_then_invalid_value_names_it() -> None:
    h = LatencyHistogram()
    with pytest.raises(InvalidValue, match="duration_ns=-1"):
        h.observe(-1)
    assert h.count == 0


@pytest.mark.parametrize("bounds", [[], [0, 5], [5, 5], [10, 5]])
def test_histogram_when_bounds_bad_then_invalid_value(bounds: list[int]) -> None:
    with pytest.raises(InvalidValue, match="bounds"):
        LatencyHistogram(bounds)


def test_quantile_when_values_spread_then_upper_bound_of_the_bucket_holding_it() -> None:
    h = LatencyHistogram([1_000_000, 2_000_000, 5_000_000])  # 1, 2, 5 ms
    assert h.quantile(0.5) is None
    for value in [500_000] * 90 + [1_500_000] * 9 + [9_000_000]:
        h.observe(value)
    assert h.quantile(0.5) == 0.001
    assert h.quantile(0.95) == 0.002
    assert h.quantile(0.99) == 0.002
    assert h.quantile(1.0) == float("inf")
    with pytest.raises(InvalidValue, match=r"q=1\.5"):
        h.quantile(1.5)


def test_as_dict_when_round_tripped_then_same_histogram() -> None:
    h = LatencyHistogram()
    for value in (40_000, 150_000, 3_000_000, 20_000_000_000):
        h.observe(value)
    data = h.as_dict()
    assert data["bounds_s"][0] == 50e-6 and len(data["counts"]) == len(LATENCY_BOUNDS_NS) + 1
    again = histogram_from_dict(data)
    assert again.counts == h.counts and again.sum_ns == h.sum_ns and again.count == 4


def test_histogram_from_dict_when_count_disagrees_with_buckets_then_invalid_value() -> None:
    data = LatencyHistogram([10]).as_dict()
    data["count"] = 3
    with pytest.raises(InvalidValue, match="count=3"):
        histogram_from_dict(data)


def test_counter_delta_when_count_went_down_then_it_restarted_from_zero() -> None:
    assert counter_delta(5, 8) == 3
    assert counter_delta(8, 8) == 0
    assert counter_delta(8, 2) == 2  # the gateway restarted and counted 2 since
    with pytest.raises(InvalidValue, match="current=-1"):
        counter_delta(0, -1)


def test_order_metrics_when_denied_by_enum_then_counted_under_its_value() -> None:
    from risk.checks import DenialReason

    m = OrderMetrics()
    m.deny(DenialReason.OFF_TICK)
    m.deny("off_tick")
    assert m.as_dict()["denied"] == {"off_tick": 2}
    assert type(next(iter(m.as_dict()["denied"]))) is str


# -- THE GATEWAY SERVICE COUNTS ITS ORDERS ----------------------------------------


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_service_when_orders_accepted_duplicate_denied_then_counted_by_outcome() -> None:
    async def scenario() -> None:
        world = await started_world()
        metrics = world.service.stats.orders
        before = metrics.as_dict()  # whatever the world's start did
        first = resting(world, "mm-1")
        assert (await world.service.submit(first)).accepted
        assert (await world.service.submit(first)).duplicate
        off_tick = resting(world, "mm-2", price=resting(world, "x").price + D("0.001"))
        assert (await world.service.submit(off_tick)).denial is not None
        results = await world.service.submit_many([resting(world, "mm-3"), resting(world, "mm-4")])
        assert all(r.accepted for r in results)

        after = metrics.as_dict()
        grew = {k: after[k] - before[k] for k in ("submitted", "duplicates", "sent", "accepted")}
        assert grew == {"submitted": 5, "duplicates": 1, "sent": 3, "accepted": 3}
        assert after["rejected"] == after["unknown"] == 0
        assert sum(after["denied"].values()) - sum(before["denied"].values()) == 1
        latency = after["submit_latency"]["count"] - before["submit_latency"]["count"]
        assert latency == 5  # each intent of a batch is timed
        commits = after["wal_commit_latency"]["count"] - before["wal_commit_latency"]["count"]
        assert commits >= 3  # each WAL commit is timed

    run(scenario)


def test_service_when_venue_rejects_or_loses_the_ack_then_rejected_and_unknown_counted() -> None:
    async def scenario() -> None:
        world = await started_world()
        world.venue.force("reject")
        await world.service.submit(resting(world, "mm-r"))
        world.venue.force("lost_ack")
        await world.service.submit(resting(world, "mm-u"))
        counts = world.service.stats.orders.as_dict()
        assert (counts["sent"], counts["accepted"], counts["rejected"], counts["unknown"]) == (
            2,
            0,
            1,
            1,
        )

    run(scenario)


def test_service_when_market_order_fills_then_fill_counted_once() -> None:
    async def scenario() -> None:
        world = await started_world()
        await world.service.submit(taking(world, "hunter-1"))
        await poll(world, times=3)
        assert world.service.stats.orders.fills == world.service.stats.fills >= 1
        fills = world.service.stats.orders.fills
        await poll(world, times=2)  # the same trades again: not counted again
        assert world.service.stats.orders.fills == fills

    run(scenario)


def test_service_when_wall_clock_steps_back_mid_submit_then_order_goes_through_counted_zero() -> (
    None
):
    async def scenario() -> None:
        world = await started_world()
        h = world.service.stats.orders.submit_latency
        count, total = h.count, h.sum_ns
        readings = iter(range(10**12, 0, -1_000))  # every reading earlier than the last
        world.service._timer = lambda: next(readings)  # the injected timer, stepping back
        result = await world.service.submit(resting(world, "mm-back"))
        assert result.accepted
        assert (h.count, h.sum_ns) == (count + 1, total)

    run(scenario)
