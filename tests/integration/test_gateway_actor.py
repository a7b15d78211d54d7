"""The gateway actor under real Ray: killed while orders are in flight, restarted, recovered from its WAL.

Invariants checked against the paper venue's own record (DESIGN.md): at most one
venue order per intent; every venue order with our prefix maps to a WAL intent;
every intent ends open, terminal, or UNKNOWN and still tracked; callers that got
``RayActorError`` retried the same intent and got the same order.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway.client import GatewayClient
from gateway.intents import client_order_id_for
from gateway.orders import OrderState
from tests.integration.gateway_support import resting_intent, start_system, stop_system


@pytest.fixture
def system(ray_session: str, tmp_path: Path) -> Any:
    venue, client = start_system(tmp_path / "state")
    yield venue, client
    stop_system()


def venue_orders_by_cid(venue: Any) -> Counter[str]:
    import ray

    return Counter(
        o.client_order_id for o in ray.get(venue.all_orders.remote()) if o.client_order_id
    )


def check_invariants(venue: Any, client: GatewayClient, intents: list[Any]) -> None:
    counts = venue_orders_by_cid(venue)
    duplicates = {cid: n for cid, n in counts.items() if n > 1}
    assert not duplicates, f"duplicate venue orders: {duplicates}"
    snapshot = client.snapshot()
    known = {o.client_order_id for o in snapshot.orders}
    lost = [cid for cid in counts if cid.startswith("sw") and cid not in known]
    assert not lost, f"venue orders without a WAL intent: {lost}"
    for intent in intents:
        view = client.order(intent.agent_id, intent.intent_id)
        assert view is not None, f"intent {intent.intent_id} lost"
        assert view.client_order_id == client_order_id_for(intent.agent_id, intent.intent_id)
        if view.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.FILLED):
            assert counts[view.client_order_id] == 1


def test_submit_when_same_intent_twice_then_one_venue_order(system: Any) -> None:
    venue, client = system
    intent = resting_intent("agent0", 1)
    first = client.submit(intent)
    second = client.submit(intent)
    assert first.order is not None and first.order.state is OrderState.OPEN
    assert second.duplicate and second.order is not None
    assert second.order.client_order_id == first.order.client_order_id
    assert venue_orders_by_cid(venue)[first.order.client_order_id] == 1


def _submit_until(
    client: GatewayClient,
    intents: list[Any],
    sent: list[Any],
    errors: list[BaseException],
    stop: threading.Event,
) -> None:
    """Submit one intent after the other until ``stop``: the kill always lands mid-stream."""
    for intent in intents:
        if stop.is_set():
            return
        try:
            client.submit(intent)
            sent.append(intent)
        except BaseException as exc:  # pragma: no cover - reported by the test
            errors.append(exc)
            return


def _kill_gateway(client: GatewayClient, how: str) -> None:
    import ray

    if how == "ray.kill":
        ray.kill(client.handle, no_restart=False)
    else:
        os.kill(client.status()["pid"], signal.SIGKILL)


def _wait_restarted(client: GatewayClient, pid_before: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.status()  # retried by the client while the actor restarts
        if status["pid"] != pid_before and status["ready"]:
            return status
        time.sleep(0.02)
    raise AssertionError("the gateway did not come back")


@pytest.mark.parametrize("how", ["ray.kill", "sigkill"])
def test_gateway_when_killed_with_orders_in_flight_then_recovers_and_retries_get_same_orders(
    system: Any, how: str
) -> None:
    venue, client = system
    pid_before = client.status()["pid"]
    callers = [GatewayClient(deadline_s=60) for _ in range(3)]
    intents = [[resting_intent(f"agent{a}", n) for n in range(2000)] for a in range(3)]
    sent: list[list[Any]] = [[], [], []]
    errors: list[BaseException] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_submit_until, args=(c, batch, done, errors, stop))
        for c, batch, done in zip(callers, intents, sent, strict=True)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while (
        sum(map(len, sent)) < 30
    ):  # orders are flowing on every caller: kill in the middle of them
        assert time.monotonic() < deadline and not errors, errors
        time.sleep(0.01)
    killed_at = time.monotonic()
    _kill_gateway(client, how)
    status = _wait_restarted(client, pid_before)
    recovery_s = time.monotonic() - killed_at
    print(
        f"gateway {how}: back and recovered in {recovery_s:.2f} s, recovery itself {(status['ready_ns'] - status['started_ns']) / 1e9:.3f} s"
    )
    after_restart = sum(map(len, sent))
    while sum(map(len, sent)) < after_restart + 30:  # and they keep flowing after the restart
        assert time.monotonic() < deadline + 60 and not errors, errors
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert status["pid"] != pid_before
    assert recovery_s < 15, recovery_s
    assert sum(c.retries for c in callers) >= 1  # the kill did hit callers in flight
    submitted = [i for done in sent for i in done]
    check_invariants(venue, client, submitted)
    # After the retries every intent resolved to its single order (or is tracked UNKNOWN).
    client.poll()
    states = Counter(client.order(i.agent_id, i.intent_id).state for i in submitted)  # type: ignore[union-attr]
    assert states[OrderState.OPEN] >= len(submitted) - 3, states  # at most the ones in flight


def test_gateway_when_crash_after_send_then_retry_returns_the_order_sent_once(system: Any) -> None:
    venue, client = system
    intent = resting_intent("agent1", 7)
    client.arm_crash("after_send:1")
    result = client.submit(intent)  # the first attempt dies after the venue took the order
    assert client.retries >= 1
    assert result.order is not None
    assert result.order.state is OrderState.OPEN  # resolved by asking the venue, not by resending
    assert venue_orders_by_cid(venue)[result.order.client_order_id] == 1


def test_gateway_when_crash_before_send_then_order_never_sent_and_not_resent(system: Any) -> None:
    venue, client = system
    intent = resting_intent("agent2", 9)
    client.arm_crash("before_send:1")
    result = client.submit(intent)
    assert result.order is not None
    cid = result.order.client_order_id
    # The intent was logged, the send never happened: the order is tracked, not resent.
    assert result.order.state in (OrderState.UNKNOWN, OrderState.PENDING, OrderState.REJECTED)
    assert venue_orders_by_cid(venue)[cid] == 0


def test_gateway_when_wal_corrupt_in_the_middle_then_halted_with_clear_error(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from core.errors import HaltError

    state = tmp_path / "state"
    _, client = start_system(state)
    for n in range(5):
        client.submit(resting_intent("agent3", n))
    ray.kill(client.handle, no_restart=True)
    segment = sorted((state / "wal").glob("wal-*.log"))[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte in the middle: not a torn tail
    segment.write_bytes(bytes(data))
    try:
        from cli.runtime import create_actor
        from gateway.actor import GatewayActor, GatewaySettings

        create_actor(
            "gateway",
            "gateway",
            GatewayActor,
            GatewaySettings(state_dir=str(state), venues=("binance",)),
        )
        fresh = GatewayClient(deadline_s=10)
        deadline = time.monotonic() + 30
        status = fresh.status()
        while not status["error"] and time.monotonic() < deadline:
            time.sleep(0.05)
            status = fresh.status()
        assert not status["ready"]
        assert status["breaker"] == "open"
        assert "WalCorruption" in status["error"] and "wal-" in status["error"]
        with pytest.raises(HaltError, match="halted"):
            fresh.submit(resting_intent("agent3", 99))
    finally:
        stop_system()
