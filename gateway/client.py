"""``GatewayClient``: the typed facade over the ``gateway`` actor; the one place its ``.remote()`` is called.

Every call is idempotent on the gateway's side, so the client retries the SAME
call when the actor is restarting (``RayActorError``: the call may or may not
have run) or still recovering (``GatewayNotReady``), with capped backoff until a
deadline. A retried submit returns the order the first attempt created, never a
second one. Denials come back as values (``SubmitResult.denial``), not errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from core.errors import GatewayNotReady, RetryableError, SwarmError
from core.events import FundingPayment
from gateway.engine_types import EngineSnapshot
from gateway.intents import OrderIntent
from gateway.orders import OrderView
from gateway.service import AgentAccount, SubmitResult
from risk.checks import Denial

GATEWAY_NAME = "gateway"


class GatewayUnavailable(RetryableError):
    """The gateway did not answer before the client's deadline."""


def _unwrap(exc: BaseException) -> BaseException:
    """Return the core error a Ray task error carries, else ``exc``."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError) and isinstance(exc.cause, SwarmError):
        return exc.cause
    return exc


def _retryable(exc: BaseException) -> bool:
    from ray.exceptions import RayActorError

    return isinstance(exc, RayActorError | GatewayNotReady)


class GatewayClient:
    """Call the gateway actor; retry what is safe to retry (everything: the gateway is idempotent)."""

    def __init__(
        self, handle: Any | None = None, *, namespace: str | None = None, deadline_s: float = 60.0
    ) -> None:
        if handle is None:
            import ray

            handle = ray.get_actor(GATEWAY_NAME, namespace=namespace)
        self._handle = handle
        self._deadline_s = deadline_s
        self.retries = 0

    @property
    def handle(self) -> Any:
        return self._handle

    # -- SYNC (the driver, tests, threaded actors) -------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        deadline = time.monotonic() + self._deadline_s
        delay = 0.05
        while True:
            try:
                return ray.get(
                    getattr(self._handle, method).remote(*args),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            except Exception as exc:
                error = _unwrap(exc)
                if isinstance(error, TimeoutError):  # Ray's GetTimeoutError: past the deadline
                    raise GatewayUnavailable(
                        f"gateway.{method}: no answer in {self._deadline_s}s"
                    ) from exc
                if not _retryable(error) or time.monotonic() + delay > deadline:
                    if _retryable(error):
                        raise GatewayUnavailable(f"gateway.{method}: {error}") from exc
                    raise error from None
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def submit(self, intent: OrderIntent) -> SubmitResult:
        result: SubmitResult = self._call("submit", intent)
        return result

    def submit_many(self, intents: Sequence[OrderIntent]) -> list[SubmitResult]:
        results: list[SubmitResult] = self._call("submit_many", list(intents))
        return results

    def cancel(self, agent_id: str, intent_id: str) -> OrderView | Denial | None:
        result: OrderView | Denial | None = self._call("cancel", agent_id, intent_id)
        return result

    def set_budgets(self, budgets: Mapping[str, Decimal]) -> None:
        self._call("set_budgets", dict(budgets))

    def mark(self, prices: Mapping[tuple[str, str], Decimal], ts_ns: int | None = None) -> None:
        self._call("mark", dict(prices), ts_ns)

    def kill(self, operator: str, detail: str = "") -> str:
        state: str = self._call("kill", operator, detail)
        return state

    def reset(self, operator: str, detail: str = "") -> str:
        state: str = self._call("reset", operator, detail)
        return state

    def set_time(self, ts_ns: int) -> None:
        self._call("set_time", ts_ns)

    def poll(self) -> dict[str, int]:
        counts: dict[str, int] = self._call("poll")
        return counts

    def snapshot(self) -> EngineSnapshot:
        snapshot: EngineSnapshot = self._call("snapshot")
        return snapshot

    def order(self, agent_id: str, intent_id: str) -> OrderView | None:
        view: OrderView | None = self._call("order", agent_id, intent_id)
        return view

    def agent_account(self, agent_id: str, intent_ids: Sequence[str] = ()) -> AgentAccount:
        account: AgentAccount = self._call("agent_account", agent_id, list(intent_ids))
        return account

    def book_funding(self, payment: FundingPayment) -> str:
        """Book a venue's funding payment (``core.events.FundingPayment``) on the agents' positions."""
        outcome: str = self._call("book_funding", payment)
        return outcome

    def log_council(
        self, decision: Mapping[str, Any], budgets: Mapping[str, Decimal] | None = None
    ) -> None:
        """Log a council record (a decision, or an operator's control: ``agents.controls``)."""
        self._call("log_council", dict(decision), dict(budgets) if budgets else None)

    def council_log(self, since: int = 0) -> list[dict[str, Any]]:
        """The council's logged decisions, oldest first (from index ``since``)."""
        log: list[dict[str, Any]] = self._call("council_log", since)
        return log

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self._call("status")
        return status

    def arm_crash(self, spec: str) -> None:
        self._call("arm_crash", spec)

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Block until the gateway has recovered and accepts orders; return its status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status()
            if status["ready"]:
                return status
            if status["error"]:
                raise GatewayUnavailable(f"gateway halted: {status['error']}")
            if time.monotonic() > deadline:
                raise GatewayUnavailable("gateway did not finish recovery in time")
            time.sleep(0.05)

    # -- ASYNC (agent actors) ------------------------------------------------------

    async def _acall(self, method: str, *args: Any) -> Any:
        deadline = time.monotonic() + self._deadline_s
        delay = 0.05
        while True:
            try:
                return await getattr(self._handle, method).remote(*args)
            except Exception as exc:
                error = _unwrap(exc)
                if isinstance(error, TimeoutError):  # Ray's GetTimeoutError: past the deadline
                    raise GatewayUnavailable(
                        f"gateway.{method}: no answer in {self._deadline_s}s"
                    ) from exc
                if not _retryable(error) or time.monotonic() + delay > deadline:
                    if _retryable(error):
                        raise GatewayUnavailable(f"gateway.{method}: {error}") from exc
                    raise error from None
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def asubmit(self, intent: OrderIntent) -> SubmitResult:
        result: SubmitResult = await self._acall("submit", intent)
        return result

    async def asubmit_many(self, intents: Sequence[OrderIntent]) -> list[SubmitResult]:
        results: list[SubmitResult] = await self._acall("submit_many", list(intents))
        return results

    async def aagent_account(self, agent_id: str, intent_ids: Sequence[str] = ()) -> AgentAccount:
        account: AgentAccount = await self._acall("agent_account", agent_id, list(intent_ids))
        return account

    async def asnapshot(self) -> EngineSnapshot:
        snapshot: EngineSnapshot = await self._acall("snapshot")
        return snapshot

    async def alog_council(
        self, decision: Mapping[str, Any], budgets: Mapping[str, Decimal] | None
    ) -> None:
        await self._acall("log_council", dict(decision), dict(budgets) if budgets else None)

    async def acouncil_log(self, since: int = 0) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = await self._acall("council_log", since)
        return log

    async def acancel(self, agent_id: str, intent_id: str) -> OrderView | Denial | None:
        result: OrderView | Denial | None = await self._acall("cancel", agent_id, intent_id)
        return result
