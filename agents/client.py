"""The typed facade over ``agent:<id>`` actors for the council, the driver and the operator's
controls (their ``.remote()`` lives here).

The sync calls (driver, CLI, cockpit) retry a call Ray says may or may not have
run (``RayActorError``: the agent died or is restarting) until ``deadline_s``:
every one is idempotent on the agent's side (a pause or a resume twice is one;
a flatten under the same control id places its closing orders once). Past the
deadline they raise ``AgentUnavailable``.

An agent lost with its node is re-created under the same name by the driver
(``cli.supervisor``): after a lost call the client looks ``agent:<id>`` up again
and the next call (sync or async) goes to whichever actor holds the name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.errors import RetryableError


class AgentUnavailable(RetryableError):
    """The agent did not answer before the client's deadline (lost, restarting, or busy)."""


def _lost_errors() -> tuple[type[BaseException], ...]:
    from ray.exceptions import ActorUnschedulableError, RayActorError

    return (RayActorError, ActorUnschedulableError)


class AgentClient:
    """Pause, resume, flatten and read one agent actor."""

    def __init__(
        self,
        agent_id: str,
        handle: Any | None = None,
        *,
        namespace: str | None = None,
        deadline_s: float = 30.0,
    ) -> None:
        if handle is None:
            import ray

            handle = ray.get_actor(f"agent:{agent_id}", namespace=namespace)
        self.agent_id = agent_id
        self._namespace = namespace
        self._handle = handle
        self._deadline_s = deadline_s
        self.retries = 0

    @property
    def handle(self) -> Any:
        return self._handle

    # -- SYNC (driver, CLI, cockpit) ---------------------------------------------------

    def _relookup(self) -> None:
        """After a lost call: use whichever actor holds ``agent:<id>`` now (re-created)."""
        import ray

        try:
            self._handle = ray.get_actor(f"agent:{self.agent_id}", namespace=self._namespace)
        except ValueError:  # no actor of that name now: keep the one we had
            pass

    def _call(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import GetTimeoutError

        deadline = time.monotonic() + self._deadline_s
        delay = 0.05
        while True:
            try:
                return ray.get(
                    getattr(self._handle, method).remote(*args),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            except GetTimeoutError as exc:
                raise AgentUnavailable(
                    f"agent {self.agent_id}: no answer to {method} in {self._deadline_s}s"
                ) from exc
            except _lost_errors() as exc:
                if time.monotonic() + delay > deadline:
                    raise AgentUnavailable(
                        f"agent {self.agent_id}: unreachable for {self._deadline_s}s ({method}): "
                        f"{type(exc).__name__}"
                    ) from exc
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                self._relookup()

    def pause(self, reason: str, by: str = "council") -> int:
        """Pause the agent; return how many of its orders it canceled."""
        canceled: int = self._call("pause", reason, by)
        return canceled

    def resume(self, by: str = "council") -> bool:
        """Lift ``by``'s pause; return whether the agent runs now."""
        running: bool = self._call("resume", by)
        return running

    def flatten(self, control_id: str, reason: str) -> dict[str, Any]:
        """Pause, cancel all, close every position reduce-only; return what was sent."""
        result: dict[str, Any] = self._call("flatten", control_id, reason)
        return result

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("stats")
        return stats

    def stop(self) -> None:
        """Stop deciding and cancel the agent's open orders (the end of a run)."""
        self._call("stop")

    def score(self) -> dict[str, Decimal] | None:
        """A shadow's score (None for a fund agent)."""
        score: dict[str, Decimal] | None = self._call("score")
        return score

    # -- ASYNC (the council actor) -------------------------------------------------------

    async def _acall(self, method: str, *args: Any) -> Any:
        """One call; after a lost one, look the name up again for the next (no retry here:
        the council's callers try again at their next decision)."""
        try:
            return await getattr(self._handle, method).remote(*args)
        except _lost_errors():
            self._relookup()
            raise

    async def apause(self, reason: str) -> int:
        canceled: int = await self._acall("pause", reason)
        return canceled

    async def aresume(self) -> None:
        await self._acall("resume")

    async def ascore(self) -> dict[str, Decimal] | None:
        score: dict[str, Decimal] | None = await self._acall("score")
        return score

    async def areconfigure(self, config: Mapping[str, Any]) -> bool:
        changed: bool = await self._acall("reconfigure", dict(config))
        return changed

    async def astats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self._acall("stats")
        return stats
