"""A Hypothesis state machine over the simulated world: any sequence of orders, ticks, polls and crashes.

Where the seed sweep walks many long random runs, this machine lets
Hypothesis choose the sequence and, when an invariant breaks, shrink it to the
few steps that break it. The invariants are the sweep's (``check_world``) plus
the restart checks ``World`` makes (breaker never less safe, nothing accepted
before recovery), after every step.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gateway.crashpoints import POINTS
from tests.sim.checks import check_world
from tests.sim.faults import FaultRates
from tests.sim.harness import Agents
from tests.sim.world import AGENTS, World

ARMABLE = [p for p in POINTS if p != "mid_recovery"]


class GatewayMachine(RuleBasedStateMachine):
    """Rules: submit, repeat submit, cancel, market tick, poll, crash and recover."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world: World | None = None
        self.agents: Agents | None = None

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    @property
    def _world(self) -> World:
        assert self.world is not None
        return self.world

    @property
    def _agents(self) -> Agents:
        assert self.agents is not None
        return self.agents

    @initialize(seed=st.integers(0, 2**16))
    def boot(self, seed: int) -> None:
        self.world = World(seed, FaultRates.default())
        self.agents = Agents(self.world, random.Random(f"stateful:{seed}"))
        self._run(self.world.start())

    @rule(agent=st.sampled_from(AGENTS))
    def submit(self, agent: str) -> None:
        intent = self._agents.new_intent(agent)
        result = self._run(self._world.call("submit", lambda s: s.submit(intent)))
        if result.order is not None:
            self._agents.remember(intent)

    @rule()
    def submit_pair(self) -> None:
        legs = self._agents.arb_legs()
        results = self._run(self._world.call("submit_many", lambda s: s.submit_many(legs)))
        for intent, result in zip(legs, results, strict=True):
            if result.order is not None:
                self._agents.remember(intent)

    @precondition(lambda self: self.agents is not None and self.agents.accepted)
    @rule(data=st.data())
    def repeat_submit(self, data: st.DataObject) -> None:
        intent = data.draw(st.sampled_from(self._agents.accepted))
        result = self._run(self._world.call("repeat", lambda s: s.submit(intent)))
        assert result.duplicate and result.client_order_id == intent.client_order_id

    @precondition(lambda self: self.agents is not None and self.agents.accepted)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        intent = data.draw(st.sampled_from(self._agents.accepted))
        self._run(self._world.call("cancel", lambda s: s.cancel(intent.agent_id, intent.intent_id)))

    @rule(ms=st.integers(50, 3000))
    def market_tick(self, ms: int) -> None:
        self._world.advance(ms)
        self._run(self._world.tick_market())

    @rule()
    def poll(self) -> None:
        self._run(self._world.call("poll", lambda s: s.poll()))

    @rule()
    def funding(self) -> None:
        self._run(self._world.funding())

    @precondition(lambda self: self.world is not None and not self.world.armed())
    @rule(point=st.sampled_from(ARMABLE), count=st.integers(1, 3))
    def arm_crash(self, point: str, count: int) -> None:
        self._world.arm_crash(point, count)

    @rule(skip=st.integers(0, 2))
    def arm_power_cut(self, skip: int) -> None:
        self._world.arm_power_cut(skip)

    @rule(power_cut=st.booleans(), recovery_dies=st.booleans())
    def crash_and_recover(self, power_cut: bool, recovery_dies: bool) -> None:
        self._world.crash_next_recovery = recovery_dies
        self._run(self._world.crash_now(power_cut=power_cut))

    @invariant()
    def invariants_hold(self) -> None:
        if self.world is None:
            return
        report = check_world(self.world)
        assert report.violations == [], report.violations
        assert self.world.violations == [], self.world.violations


GatewayMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_gateway_state_machine = GatewayMachine.TestCase
