"""``main.py agent pause|resume|flatten`` against a real gateway and agent (the shared Ray session).

The CLI's own entry (``main.main``) joins the session's namespace through a
config file; each control must be in the gateway's WAL, pause must stop new
orders and survive the agent's restart, flatten must leave the agent flat.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import main
from agents.controls import controls_of
from cli.runtime import create_actor
from core.models import OrderType, Side
from gateway.client import GatewayClient
from gateway.intents import OrderIntent
from tests.integration.gateway_support import SYMBOL, start_system, stop_system
from tests.integration.test_agent_actor import MM_CONFIG, tops


def run_cli(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main.main(["agent", *args, "--config", str(config), "--operator", "ops"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]) if code == 0 else err


def agent_stats(handle: Any, deadline_s: float = 30.0) -> dict[str, Any]:
    """The agent's stats, waiting out a restart (bounded)."""
    import ray

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            stats: dict[str, Any] = ray.get(handle.stats.remote(), timeout=5)
            return stats
        except ray.exceptions.RayActorError:
            assert time.monotonic() < deadline, "the agent did not come back"
            time.sleep(0.1)


@pytest.fixture
def system(ray_session: str, tmp_path: Path) -> Any:
    import ray

    venue, gateway = start_system(tmp_path / "state")
    config = tmp_path / "ray.toml"
    config.write_text(f'[ray]\nnamespace = "{ray_session}"\n')
    try:
        yield venue, gateway, config
    finally:
        try:
            ray.kill(ray.get_actor("agent:agent0"), no_restart=True)
        except ValueError:
            pass
        stop_system()


def test_agent_cli_when_paused_resumed_flattened_then_logged_held_across_restart_and_flat(
    system: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    from agents.actor import AgentActor

    _venue, gateway, config = system
    agent = create_actor("agent", "agent:agent0", AgentActor, "market_maker", MM_CONFIG)
    assert ray.get(agent.on_market_events.remote(tops(0, 1))) == 2  # a bid and an ask rest

    code, paused = run_cli(config, capsys, "pause", "agent0", "--reason", "by hand")
    assert code == 0, paused
    assert (paused["status"], paused["paused_by"], paused["canceled"]) == (
        "paused",
        {"operator": "by hand"},
        2,  # flat: both quotes could open, both canceled
    )
    assert ray.get(agent.on_market_events.remote(tops(100, 3))) == 0  # opens nothing

    ray.kill(agent, no_restart=False)  # Ray restarts it: the logged pause holds it again
    deadline = time.monotonic() + 60
    while (stats := agent_stats(agent))["decisions"] != 0 or stats["status"] != "paused":
        assert time.monotonic() < deadline, stats
        time.sleep(0.1)
    assert stats["paused_by"] == {"operator": "by hand"}

    code, resumed = run_cli(config, capsys, "resume", "agent0")
    assert code == 0 and resumed["running"] is True and resumed["status"] == "running"
    assert ray.get(agent.on_market_events.remote(tops(200, 1))) == 2  # quotes again

    # A position to flatten: a market buy booked to the agent, filled on the paper venue.
    buy = OrderIntent(
        agent_id="agent0",
        intent_id="test-long",
        venue="binance",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET,
        amount=Decimal("0.01"),
    )
    assert gateway.submit(buy).order is not None
    position = wait_position(gateway, lambda p: p == Decimal("0.01"))
    code, flat = run_cli(config, capsys, "flatten", "agent0", "--reason", "risk off")
    assert code == 0, flat
    assert flat["closing_orders"] == [f"sell 0.01 {SYMBOL} on binance"], flat
    assert flat["status"] == "paused" and flat["denied"] == 0
    assert wait_position(gateway, lambda p: p == 0) == 0, position

    actions = [(c["action"], c["agent"], c["operator"]) for c in controls_of(gateway.council_log())]
    assert actions == [
        ("pause", "agent0", "ops"),
        ("resume", "agent0", "ops"),
        ("flatten", "agent0", "ops"),
    ]
    code, err = run_cli(config, capsys, "pause", "nobody")
    assert code == 2 and "no such agent" in err


def wait_position(gateway: GatewayClient, done: Any, deadline_s: float = 30.0) -> Decimal:
    deadline = time.monotonic() + deadline_s
    while True:
        gateway.poll()
        held = gateway.agent_account("agent0").positions.get(f"binance|{SYMBOL}", Decimal(0))
        if done(held) or time.monotonic() > deadline:
            return held
        time.sleep(0.05)
