"""Targeted simulations: one venue fault or one crash point at a time, and what must follow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from core.clock import NS_PER_S
from core.events import TradeTick
from core.models import OrderType, Side
from gateway.breaker import BreakerState
from gateway.crashpoints import POINTS
from gateway.crashpoints import SimulatedCrash as PointCrash
from gateway.orders import OrderState
from gateway.wal import RecordType, Wal
from tests.sim.checks import check_world
from tests.sim.faults import FaultRates
from tests.sim.support import (
    D,
    mid,
    poll,
    reserved,
    resting,
    started_world,
    taking,
    venue_orders,
)
from tests.sim.world import PERP, VENUE, World, as_async


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def assert_clean(world: World, *, final: bool = False) -> None:
    report = check_world(world, final=final)
    assert report.violations == [], report.violations
    assert world.violations == [], world.violations


# -- LOST ACKS, TIMEOUTS, REJECTS -------------------------------------------------


def test_sim_when_ack_is_lost_then_order_is_unknown_resolved_by_client_order_id_and_never_resent() -> (
    None
):
    async def scenario() -> None:
        world = await started_world()
        intent = resting(world, "mm-lost")
        world.venue.force("lost_ack")
        result = await world.service.submit(intent)
        assert result.order is not None and result.order.state is OrderState.UNKNOWN
        assert len(venue_orders(world, intent.client_order_id)) == 1  # it IS at the venue
        await poll(world)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.OPEN
        again = await world.service.submit(intent)
        assert again.duplicate and again.client_order_id == intent.client_order_id
        assert world.venue.counts["resent_create"] == 0
        assert len(venue_orders(world, intent.client_order_id)) == 1
        assert_clean(world)

    run(scenario)


def test_sim_when_ack_of_a_filled_market_order_is_lost_then_fill_is_booked_once_and_id_not_reused() -> (
    None
):
    async def scenario() -> None:
        world = await started_world()
        intent = taking(world, "hunter-lost")
        world.venue.force("lost_ack")
        result = await world.service.submit(intent)
        assert result.order is not None and result.order.state is OrderState.UNKNOWN
        # Binance would take this client order id again now that its order is closed:
        # only the gateway's discipline (ask, never resend) keeps it to one order.
        for _ in range(3):
            assert (await world.service.submit(intent)).duplicate
            await poll(world)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.FILLED
        assert view.filled == intent.amount
        assert world.venue.counts["resent_create"] == 0
        assert len(venue_orders(world, intent.client_order_id)) == 1
        assert_clean(world)

    run(scenario)


def test_sim_when_create_times_out_before_sending_then_order_stays_unknown_then_rejected_after_grace() -> (
    None
):
    async def scenario() -> None:
        world = await started_world()
        intent = resting(world, "mm-timeout")
        world.venue.force("timeout_before_send")
        result = await world.service.submit(intent)
        assert result.order is not None and result.order.state is OrderState.UNKNOWN
        assert reserved(world)["mm"] > 0  # it may exist: its budget stays held
        await poll(world, times=3)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.UNKNOWN
        world.clock.advance(16 * NS_PER_S)  # past the not-found grace
        await poll(world)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.REJECTED
        assert reserved(world)["mm"] == 0
        assert venue_orders(world, intent.client_order_id) == []
        assert world.venue.counts["resent_create"] == 0
        assert_clean(world, final=True)

    run(scenario)


def test_sim_when_venue_rejects_then_order_is_rejected_and_nothing_stays_reserved() -> None:
    async def scenario() -> None:
        world = await started_world()
        intent = resting(world, "mm-reject")
        world.venue.force("reject")
        result = await world.service.submit(intent)
        assert result.order is not None and result.order.state is OrderState.REJECTED
        assert reserved(world)["mm"] == 0
        assert venue_orders(world, intent.client_order_id) == []
        assert_clean(world)

    run(scenario)


# -- NOT FOUND FOR A WHILE --------------------------------------------------------


def test_sim_when_order_is_not_found_for_a_while_then_it_stays_unknown_then_resolves() -> None:
    async def scenario() -> None:
        world = await started_world(faults=FaultRates(not_found_queries=2))
        intent = resting(world, "mm-hidden")
        world.venue.force("lost_ack")
        world.venue.force("not_found")
        result = await world.service.submit(intent)
        assert result.order is not None and result.order.state is OrderState.UNKNOWN
        for _ in range(2):  # two queries answer "not found": not a verdict yet
            await poll(world)
            view = world.engine.order(intent.client_order_id)
            assert view is not None and view.state is OrderState.UNKNOWN
        await poll(world)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.OPEN
        assert world.venue.counts["not_found"] == 1
        assert len(venue_orders(world, intent.client_order_id)) == 1
        assert_clean(world)

    run(scenario)


# -- LATE AND DUPLICATE FILLS -----------------------------------------------------


def test_sim_when_trades_are_delivered_twice_then_each_is_applied_once() -> None:
    async def scenario() -> None:
        world = await started_world()
        intents = [taking(world, f"hunter-dup-{n}") for n in range(3)]
        for intent in intents:
            await world.service.submit(intent)
        world.venue.force("duplicate_fill", times=5)
        await poll(world, times=6)
        assert world.service.stats.duplicate_fills >= 5
        for intent in intents:
            view = world.engine.order(intent.client_order_id)
            assert view is not None and view.filled == intent.amount
        assert check_world(world).synced
        assert_clean(world)

    run(scenario)


def test_sim_when_a_trade_shows_late_with_an_older_timestamp_then_it_is_still_applied() -> None:
    """A trade the venue lists late, behind the fill cursor, must not be skipped forever."""

    async def scenario() -> None:
        world = await started_world()
        first = taking(world, "hunter-early")
        await world.service.submit(first)
        world.venue.force("late_fill")  # the first trade seen (first's) shows late
        await poll(world)
        second = taking(world, "hunter-later")
        await world.service.submit(second)
        await poll(world, times=32, ms=1000)  # late trades show within 30 s: visible by now
        view = world.engine.order(first.client_order_id)
        assert view is not None and view.filled == first.amount, "the late trade was skipped"
        assert_clean(world, final=True)

    run(scenario)


def test_sim_when_fills_of_one_perp_arrive_out_of_order_then_books_still_equal_the_venue() -> None:
    """The venue books realized P&L in trade order; the gateway's mirror must end equal."""

    async def scenario() -> None:
        world = await started_world()
        opened = taking(world, "hunter-open", amount=D("0.020"))
        await world.service.submit(opened)
        await poll(world)
        world.feed(world.market.step(world.clock.now_ns()))  # a new price, same millisecond
        added = taking(world, "hunter-add", amount=D("0.020"))
        closed = taking(world, "hunter-close", side=Side.SELL, amount=D("0.020"))
        await world.service.submit(added)
        await world.service.submit(closed)
        world.venue.force("late_fill")  # "add" shows after "close": same ms, inside the cursor
        await poll(world, times=32, ms=1000)  # late trades show within 30 s
        assert check_world(world).synced  # every trade applied ...
        assert_clean(world, final=True)  # ... and the books equal the venue's

    run(scenario)


# -- CANCELS ----------------------------------------------------------------------


def test_sim_when_cancel_ack_is_lost_then_order_is_settled_canceled_and_released() -> None:
    async def scenario() -> None:
        world = await started_world()
        intent = resting(world, "mm-cancel-lost")
        await world.service.submit(intent)
        world.venue.force("cancel_lost_ack")
        await world.service.cancel(intent.agent_id, intent.intent_id)
        assert venue_orders(world, intent.client_order_id)[0].status.value == "canceled"
        await poll(world, times=3)
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.CANCELED, view and view.state
        assert reserved(world)["mm"] == 0
        assert_clean(world, final=True)

    run(scenario)


def test_sim_when_venue_cancels_a_reduce_only_order_itself_then_agent_cancel_settles_it() -> None:
    async def scenario() -> None:
        world = await started_world()
        await world.service.submit(taking(world, "hunter-long", amount=D("0.020")))
        await poll(world)
        closer = resting(
            world, "hunter-closer", side=Side.SELL, agent_id="hunter", reduce_only=True
        )
        assert (await world.service.submit(closer)).order is not None
        await world.service.submit(taking(world, "hunter-flat", side=Side.SELL, amount=D("0.020")))
        await poll(world)
        assert closer.price is not None
        through = TradeTick(world.clock.now_ns(), VENUE, PERP, closer.price + 10, D(1), "buy")
        world.feed([through])  # reaches the closer: the venue drops it, nothing to reduce
        assert venue_orders(world, closer.client_order_id)[0].status.value == "canceled"
        await world.service.cancel(closer.agent_id, closer.intent_id)
        await poll(world, times=3)
        view = world.engine.order(closer.client_order_id)
        assert view is not None and view.state.is_terminal, view and view.state
        assert_clean(world, final=True)

    run(scenario)


# -- CRASH POINTS -----------------------------------------------------------------


SUBMIT_POINTS = (
    "before_wal_append",
    "after_wal_append",
    "before_send",
    "after_send",
    "after_result_logged",
)


async def _crash_during_submit(world: World, point: str) -> None:
    intent = resting(world, f"mm-crash-{point}")
    world.arm_crash(point, 1)
    result = await world.call("submit", lambda s: s.submit(intent))  # crashes, recovers, retries
    assert world.crashes == {point: 1}
    assert result.client_order_id == intent.client_order_id
    assert len(venue_orders(world, intent.client_order_id)) <= 1
    await poll(world, times=2)
    assert len(venue_orders(world, intent.client_order_id)) <= 1
    again = await world.service.submit(intent)
    assert again.duplicate or venue_orders(world, intent.client_order_id) == []


def test_sim_when_submit_crashes_at_each_point_then_each_leaves_its_own_durable_state() -> None:
    """What survives each submit crash point: the INTENT, the venue's order, the RESULT."""

    async def state_at(point: str) -> tuple[bool, int, bool]:
        world = await started_world()
        intent = resting(world, f"mm-state-{point}")
        world.arm_crash(point, 1)
        with pytest.raises(PointCrash):
            await world.service.submit(intent)
        cid = intent.client_order_id
        logged = {
            r.type
            for r in Wal("probe", disk=world.disk).replay()
            if r.payload.get("client_order_id") == cid
        }
        at_venue = len(venue_orders(world, cid))
        return RecordType.INTENT in logged, at_venue, RecordType.RESULT in logged

    async def scenario() -> None:
        states = {point: await state_at(point) for point in SUBMIT_POINTS}
        assert states == {
            "before_wal_append": (False, 0, False),
            "after_wal_append": (True, 0, False),  # durable, not yet applied in memory
            "before_send": (True, 0, False),  # applied and reserved, not yet sent
            "after_send": (True, 1, False),
            "after_result_logged": (True, 1, True),
        }

    run(scenario)


async def _crash_during_fill(world: World, point: str) -> None:
    intent = taking(world, "hunter-crash-fill")
    await world.service.submit(intent)
    world.arm_crash(point, 1)
    await poll(world)
    assert world.crashes == {point: 1}
    view = world.engine.order(intent.client_order_id)
    assert view is not None and view.filled == intent.amount


async def _crash_during_cancel(world: World, point: str, count: int) -> None:
    intent = resting(world, "mm-crash-cancel")
    await world.service.submit(intent)
    world.arm_crash(point, count)
    await world.call("cancel", lambda s: s.cancel(intent.agent_id, intent.intent_id))
    assert world.crashes == {point: 1}
    await poll(world, times=3)
    view = world.engine.order(intent.client_order_id)
    assert view is not None and view.state is OrderState.CANCELED, view and view.state


async def _crash_during_kill(world: World, point: str) -> None:
    world.arm_crash(point, 1)
    await world.call("kill", lambda s: as_async(s.kill, "operator", "test"))
    assert world.crashes == {point: 1}
    assert world.engine.breaker_state in (BreakerState.DRAINING, BreakerState.OPEN)


@pytest.mark.parametrize(
    ("point", "count"),
    [(p, 1) for p in POINTS if p != "mid_recovery"] + [("mid_cancel", 2)],
    ids=lambda v: str(v),
)
def test_sim_when_crash_at_point_then_recovered_without_duplicate_or_lost_order(
    point: str, count: int
) -> None:
    async def scenario() -> None:
        world = await started_world()
        if point in SUBMIT_POINTS:
            await _crash_during_submit(world, point)
        elif point == "mid_fill":
            await _crash_during_fill(world, point)
        elif point == "mid_cancel":
            await _crash_during_cancel(world, point, count)
        else:
            await _crash_during_kill(world, point)
        assert world.restarts == 1
        assert_clean(world)

    run(scenario)


def test_sim_when_recovery_itself_crashes_then_next_recovery_completes() -> None:
    async def scenario() -> None:
        world = await started_world()
        intent = resting(world, "mm-before-crash")
        await world.service.submit(intent)
        world.crash_next_recovery = True
        await world.crash_now()
        assert world.crashes == {"between_calls": 1, "mid_recovery": 1}
        assert world.restarts == 2
        assert world.engine.ready
        view = world.engine.order(intent.client_order_id)
        assert view is not None and view.state is OrderState.OPEN
        assert_clean(world)

    run(scenario)


def test_sim_when_crash_after_send_then_retry_returns_same_order_and_no_duplicate() -> None:
    async def scenario() -> None:
        world = await started_world()
        intent = taking(world, "hunter-after-send")
        world.arm_crash("after_send", 1)
        result = await world.call("submit", lambda s: s.submit(intent))
        assert world.crashes == {"after_send": 1}
        assert result.duplicate  # the retry found the order the dead gateway had sent
        assert result.order is not None and result.order.state is OrderState.FILLED
        assert len(venue_orders(world, intent.client_order_id)) == 1
        assert world.venue.counts["resent_create"] == 0
        await poll(world)
        assert_clean(world)

    run(scenario)


def test_sim_when_power_is_cut_in_an_fsync_then_torn_tail_is_dropped_and_retry_places_once() -> (
    None
):
    async def scenario() -> None:
        world = await started_world(seed=3)
        intent = resting(world, "mm-power")
        world.arm_power_cut(0)  # the INTENT's own fsync: nothing was sent
        result = await world.call("submit", lambda s: s.submit(intent))
        assert world.crashes == {"power_cut": 1}
        assert result.order is not None
        assert len(venue_orders(world, intent.client_order_id)) <= 1
        await poll(world, times=2)
        assert_clean(world)

    run(scenario)


def test_sim_when_gateway_restarts_then_marks_are_given_again_and_market_orders_pass() -> None:
    async def scenario() -> None:
        world = await started_world()
        await world.crash_now()
        # Marks are volatile: without a mid after the restart a market order is denied.
        result = await world.service.submit(taking(world, "hunter-after-restart"))
        assert result.order is not None, result.denial
        assert result.order.type is OrderType.MARKET
        assert mid(world) > 0 and (VENUE, PERP) in world.markets
        assert_clean(world)

    run(scenario)
