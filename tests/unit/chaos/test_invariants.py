"""The checker over a real record (engine, WAL, paper venue in one process): clean passes, planted fails.

The record comes from the deterministic simulation (``tests/sim``): the real
gateway service, WAL and paper venue, with seeded venue faults and crashes, so
the clean run is not an empty one. The checker must then catch a planted
duplicate venue order, a planted lost order, a fill booked twice, and a breaker
that regressed without an operator: it cannot pass vacuously.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from chaos.check import rebuild_engine
from chaos.invariants import INVARIANTS, AuditRecord, Evidence, VenueRecord, check
from core.models import Order
from gateway.wal import Wal
from gateway.wal_format import RecordType
from tests.sim.harness import Driver, SimConfig
from tests.sim.world import VENUE, World


async def _simulate(seed: int) -> World:
    world = World(seed, SimConfig().faults)
    driver = Driver(world, SimConfig(steps=60, crash_rate=0.1, power_cut_rate=0.0))
    await world.start()
    for number in range(60):
        assert await driver.step(number), world.violations
    await driver.settle()
    return world


@pytest.fixture(scope="module")
def record() -> tuple[list[Any], dict[tuple[str, str], Any], VenueRecord]:
    world = asyncio.run(_simulate(11))
    records = [(r.seq, r.type, r.payload) for r in Wal("sim-wal", disk=world.disk).replay()]
    paper = world.paper
    venue = VenueRecord(
        orders=paper.all_orders(),
        trades=paper.my_trades(),
        conservation_errors=paper.check_conservation(),
        balances={a: b.total for a, b in paper.balances().assets.items()},
        positions={p.symbol: p.signed_contracts for p in paper.positions() if p.contracts},
    )
    return records, world.markets, venue


def evidence(records: list[Any], markets: Any, venue: VenueRecord, **kw: Any) -> Evidence:
    return Evidence(records, rebuild_engine(records, markets), {VENUE: venue}, final=True, **kw)


def by_name(results: Any) -> dict[str, Any]:
    return {r.name: r for r in results}


def test_check_when_clean_simulated_run_then_every_invariant_ok_and_checked(record: Any) -> None:
    records, markets, venue = record
    results = check(evidence(records, markets, venue))
    assert [r.name for r in results] == list(INVARIANTS)
    assert all(r.ok for r in results), [r.line() for r in results if not r.ok]
    named = by_name(results)
    assert named["duplicates"].checked > 5 and named["fills_once"].checked > 0
    assert named["conservation"].checked > 1


def _copy(order: Order, **update: Any) -> Order:
    return order.model_copy(update=update)


def test_check_when_duplicate_venue_order_planted_then_duplicates_fails(record: Any) -> None:
    records, markets, venue = record
    first = next(o for o in venue.orders if o.client_order_id)
    planted = replace(venue, orders=[*venue.orders, _copy(first, id="planted-1")])
    named = by_name(check(evidence(records, markets, planted)))
    assert not named["duplicates"].ok
    assert f"2 venue orders carry {VENUE}:{first.client_order_id}" in named["duplicates"].line()
    assert named["lost"].ok


def test_check_when_venue_order_without_intent_planted_then_lost_fails(record: Any) -> None:
    records, markets, venue = record
    first = next(o for o in venue.orders if o.client_order_id)
    stray = _copy(first, id="planted-2", client_order_id="swPLANTEDxxxxxxx")
    named = by_name(
        check(evidence(records, markets, replace(venue, orders=[*venue.orders, stray])))
    )
    assert not named["lost"].ok
    assert "swPLANTEDxxxxxxx" in named["lost"].line() and "no WAL intent" in named["lost"].line()


def test_check_when_acknowledged_order_missing_at_venue_then_lost_fails(record: Any) -> None:
    records, markets, venue = record
    engine = rebuild_engine(records, markets)
    acked = next(o for o in engine.snapshot().orders if o.state.value in ("open", "filled"))
    gone = [o for o in venue.orders if o.client_order_id != acked.client_order_id]
    named = by_name(check(evidence(records, markets, replace(venue, orders=gone))))
    assert not named["lost"].ok
    assert acked.client_order_id in named["lost"].line()


def test_check_when_fill_record_repeated_then_fills_once_fails(record: Any) -> None:
    records, markets, venue = record
    fill = next(r for r in records if r[1] is RecordType.FILL)
    again = [*records, (records[-1][0] + 1, RecordType.FILL, fill[2])]
    named = by_name(check(Evidence(again, rebuild_engine(records, markets), {VENUE: venue})))
    assert not named["fills_once"].ok
    assert "booked twice" in named["fills_once"].line()


def test_check_when_venue_balance_differs_then_conservation_fails(record: Any) -> None:
    records, markets, venue = record
    balances = dict(venue.balances)
    balances["USDT"] = balances["USDT"] + Decimal("0.01")
    named = by_name(check(evidence(records, markets, replace(venue, balances=balances))))
    assert not named["conservation"].ok
    assert "USDT" in named["conservation"].line()


def test_check_when_breaker_reopened_to_closed_without_reset_then_breaker_fails(
    record: Any,
) -> None:
    records, markets, venue = record
    seq = records[-1][0]
    trip = {"from_state": "closed", "to_state": "open", "trigger": "halt", "at_ns": 1, "actor": "x"}
    back = {"from_state": "open", "to_state": "closed", "trigger": "probes_passed", "at_ns": 2}
    planted = [*records, (seq + 1, RecordType.BREAKER, trip), (seq + 2, RecordType.BREAKER, back)]
    named = by_name(check(Evidence(planted, rebuild_engine(records, markets), {VENUE: venue})))
    assert not named["breaker"].ok
    assert "is not allowed" in named["breaker"].line()


def test_check_when_running_gateway_less_safe_than_wal_then_breaker_fails(record: Any) -> None:
    records, markets, venue = record
    seq = records[-1][0]
    trip = {"from_state": "closed", "to_state": "open", "trigger": "halt", "at_ns": 1, "actor": "x"}
    planted = [*records, (seq + 1, RecordType.BREAKER, trip)]
    engine = rebuild_engine(planted, markets)
    named = by_name(check(Evidence(planted, engine, {VENUE: venue}, live_breaker="closed")))
    assert "the gateway runs closed, its WAL says open" in named["breaker"].line()


def test_check_when_audit_store_lacks_an_intent_then_audit_fails(record: Any) -> None:
    records, markets, venue = record
    intents = {p["client_order_id"]: s for s, k, p in records if k is RecordType.INTENT}
    fills = [(p["venue"], p["trade_id"], s) for s, k, p in records if k is RecordType.FILL]
    last = records[-1][0]
    full = AuditRecord(last, intents, fills, len(records))
    assert by_name(check(evidence(records, markets, venue, audit=full)))["audit"].ok
    missing = dict(intents)
    cid = next(iter(missing))
    del missing[cid]
    named = by_name(check(evidence(records, markets, venue, audit=replace(full, orders=missing))))
    assert f"WAL intent {cid}" in named["audit"].line()


class _PlantedEngine:
    """The rebuilt engine with one thing planted: its snapshot or its breaker state."""

    def __init__(self, engine: Any, **planted: Any) -> None:
        self._engine = engine
        self._planted = planted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def snapshot(self) -> Any:
        return self._planted.get("snapshot") or self._engine.snapshot()

    @property
    def breaker_state(self) -> Any:
        return self._planted.get("breaker_state") or self._engine.breaker_state


def test_check_when_intent_placed_again_under_a_new_client_order_id_then_duplicates_fails(
    record: Any,
) -> None:
    # The case: a client order id that changed at each start placed one intent twice.
    # Counted per client order id, both orders looked unique; counted per intent they are two.
    records, markets, venue = record
    _, _, payload = next(r for r in records if r[1] is RecordType.INTENT)
    order = next(o for o in venue.orders if o.client_order_id == payload["client_order_id"])
    again = {**payload, "client_order_id": "swRESTARTEDxxxxx"}
    planted_records = [*records, (records[-1][0] + 1, RecordType.INTENT, again)]
    planted_venue = replace(
        venue,
        orders=[*venue.orders, _copy(order, id="planted-3", client_order_id="swRESTARTEDxxxxx")],
    )
    named = by_name(check(evidence(planted_records, markets, planted_venue)))
    line = named["duplicates"].line()
    assert not named["duplicates"].ok
    assert f"intent {payload['agent_id']}/{payload['intent_id']} placed 2 times" in line
    assert "logged under 2 client order ids" in line


def test_check_when_rejected_order_keeps_its_reservation_then_reservations_fails(
    record: Any,
) -> None:
    records, markets, venue = record
    engine = rebuild_engine(records, markets)
    snapshot = engine.snapshot()
    done = next(o for o in snapshot.orders if o.state.is_terminal and o.reservation > 0)
    leaked = done.model_copy(update={"reservation_left": done.reservation})
    orders = [leaked if o is done else o for o in snapshot.orders]
    planted = _PlantedEngine(engine, snapshot=snapshot.model_copy(update={"orders": orders}))
    named = by_name(check(Evidence(records, planted, {VENUE: venue}, final=True)))
    line = named["reservations"].line()
    assert not named["reservations"].ok
    assert f"{done.client_order_id} is {done.state} and still reserves {done.reservation}" in line
    assert f"{done.agent_id}: the ledger reserves" in line


def test_check_when_breaker_left_open_then_liveness_names_the_trip_or_fails_without_one(
    record: Any,
) -> None:
    records, markets, venue = record
    seq = records[-1][0]
    trip = {
        "from_state": "closed",
        "to_state": "draining",
        "trigger": "trip",
        "reason": "manual_kill",
        "detail": "ops",
        "at_ns": 1,
        "actor": "ops",
    }
    drained = {**trip, "from_state": "draining", "to_state": "open", "trigger": "drained"}
    drained.update(reason=None, detail="", at_ns=2)
    opened = [*records, (seq + 1, RecordType.BREAKER, trip), (seq + 2, RecordType.BREAKER, drained)]
    named = by_name(check(Evidence(opened, rebuild_engine(opened, markets), {VENUE: venue})))
    assert named["liveness"].ok
    assert f"OPEN by seq {seq + 1}: manual_kill ops" in named["liveness"].line()
    # An OPEN breaker no record explains: a silent halt.
    from gateway.breaker import BreakerState

    quiet = [r for r in records if r[1] is not RecordType.BREAKER]
    silent = _PlantedEngine(rebuild_engine(quiet, markets), breaker_state=BreakerState.OPEN)
    named = by_name(check(Evidence(quiet, silent, {VENUE: venue})))
    assert "the breaker is OPEN and no BREAKER record opened it" in named["liveness"].line()
