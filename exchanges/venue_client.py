"""The typed facade over a ``venue:<name>`` actor: the one place ``.remote()`` is called for it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import ray

from core.events import MarketEvent
from core.models import (
    Balances,
    FundingRate,
    Market,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    Position,
    Ticker,
    Trade,
)

WAIT_SLICE_S = 0.5
"""How long a pusher waits for an answer before looking whether its actor was replaced."""

LOOKUP_EVERY_S = 0.5
"""How often a pusher whose actor was lost looks its name up again (a re-created actor)."""


def lost_actor_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors that say an actor is gone or cannot be reached (its node died, it is
    restarting, it cannot be scheduled): the call may or may not have run."""
    from ray.exceptions import ActorUnschedulableError, RayActorError

    return (RayActorError, ActorUnschedulableError)


def _actor_id(handle: Any) -> str | None:
    actor_id = getattr(handle, "_actor_id", None)
    return None if actor_id is None else str(actor_id.hex())


class EventPusher:
    """Push market events to an actor's ``on_market_events`` with bounded in-flight batches.

    A lost actor (``lost_actor_errors``, e.g. its node died) is an event, not an error:
    its batches in flight are dropped, the loss is recorded (``lost_at``, ``losses``) and
    later batches are skipped. With ``actor_name`` the pusher looks the name up again
    (every ``LOOKUP_EVERY_S``) and, once a new actor holds it (the driver re-created it),
    pushes to that one; an agent rebuilds its view from the gateway, so what it missed
    is market data only.
    """

    def __init__(self, name: str, handle: Any, *, actor_name: str | None = None) -> None:
        self.name = name
        self.actor_name = actor_name
        self._handle = handle
        self._in_flight: deque[Any] = deque()
        self.lost_at: float | None = None
        """Wall time (``time.time()``) the current loss was noticed; None while reachable."""
        self.losses: list[dict[str, Any]] = []
        """Every loss noticed: ``at``, ``error`` and ``back_at`` (a new actor took the name)."""
        self._next_lookup = 0.0
        self._replacement: Any = None

    @property
    def handle(self) -> Any:
        return self._handle

    def replace(self, handle: Any) -> None:
        """Push to ``handle`` from the next batch on (the driver re-created the actor); a
        wait for the old actor's answer is abandoned (callable from another thread)."""
        self._replacement = handle

    def _take_replacement(self) -> bool:
        handle, self._replacement = self._replacement, None
        if handle is None:
            return False
        self._handle = handle
        self._in_flight.clear()  # the old actor's answers: abandoned
        if self.lost_at is not None:
            self.losses[-1]["back_at"] = time.time()
            self.lost_at = None
        return True

    def push(self, events: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        """Send a batch; wait for the oldest ones while more than ``max_in_flight`` are unacknowledged.

        Return what the venue generated for the batches acknowledged meanwhile (nothing
        while the actor is lost).
        """
        self._take_replacement()
        if self.lost_at is not None and not self._reattach():
            return []
        self._in_flight.append(self._handle.on_market_events.remote(list(events)))
        done: list[list[MarketEvent]] = []
        while len(self._in_flight) > max_in_flight:
            answer = self._settle(self._in_flight.popleft())
            if answer is None:
                break
            done.append(answer)
        return done

    def drain(self) -> list[list[MarketEvent]]:
        """Wait for every batch in flight; return what the venue generated."""
        done: list[list[MarketEvent]] = []
        while self._in_flight:
            answer = self._settle(self._in_flight.popleft())
            if answer is None:
                break
            done.append(answer)
        return done

    def _settle(self, ref: Any) -> list[MarketEvent] | None:
        """The answer of one batch; None when the actor is lost or replaced (then nothing is
        in flight). Waits in slices of ``WAIT_SLICE_S`` so a replacement ends the wait."""
        while not ray.wait([ref], timeout=WAIT_SLICE_S)[0]:
            if self._take_replacement():
                return None
        try:
            answer: list[MarketEvent] = ray.get(ref)
        except lost_actor_errors() as exc:
            self._in_flight.clear()
            at = time.time()
            self._next_lookup = time.monotonic() + LOOKUP_EVERY_S
            self.losses.append(
                {
                    "at": at,
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                    "actor_id": _actor_id(self._handle),
                }
            )
            self.lost_at = at  # after the record: progress() reads both from another thread
            return None
        return answer

    def _reattach(self) -> bool:
        """Tell whether a new actor holds ``actor_name`` now (then push to it)."""
        if self.actor_name is None or time.monotonic() < self._next_lookup:
            return False
        self._next_lookup = time.monotonic() + LOOKUP_EVERY_S
        try:
            handle = ray.get_actor(self.actor_name)
        except ValueError:  # no actor of that name (yet)
            return False
        if handle._actor_id == self._handle._actor_id:
            return False  # the lost actor still holds the name
        self._handle = handle
        self.lost_at = None
        self.losses[-1]["back_at"] = time.time()
        return True

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = ray.get(self._handle.stats.remote())
        return result


class VenueClient(EventPusher):
    """The facade of a ``venue:<name>`` actor for the feed and the driver."""

    def check_conservation(self) -> list[str]:
        result: list[str] = ray.get(self._handle.check_conservation.remote())
        return result


class RemoteVenue:
    """The ``Exchange`` port over a ``venue:<name>`` actor, for the gateway in paper mode.

    A write (create, cancel) that times out or whose actor call fails with a
    ``RayActorError`` may or may not have run: it raises ``OutcomeUnknownError``
    (resolve by asking, never resend). The same on a read is retryable. A venue
    refusal comes back as the venue's own ``core.errors`` type.
    """

    def __init__(self, name: str, handle: Any, *, timeout_s: float = 5.0) -> None:
        self._name = name
        self._handle = handle
        self._timeout_s = timeout_s

    @property
    def venue(self) -> str:
        return self._name

    async def _call(
        self,
        method: str,
        *args: Any,
        write: bool = False,
        client_order_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        import asyncio

        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        from core.errors import ExchangeUnavailable, OutcomeUnknownError, RequestTimeout, SwarmError

        ref = getattr(self._handle, method).remote(*args, **kwargs)
        try:
            return await asyncio.wait_for(ref, self._timeout_s)
        except (TimeoutError, GetTimeoutError) as exc:
            if write:
                raise RequestTimeout(
                    f"{self._name}.{method}: no answer in {self._timeout_s}s",
                    client_order_id=client_order_id,
                ) from exc
            raise ExchangeUnavailable(
                f"{self._name}.{method}: no answer in {self._timeout_s}s"
            ) from exc
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, SwarmError):
                raise cause from None
            raise
        except RayActorError as exc:
            if write:
                raise OutcomeUnknownError(
                    f"{self._name}.{method}: venue actor unavailable: {exc}",
                    client_order_id=client_order_id,
                ) from exc
            raise ExchangeUnavailable(f"{self._name}.{method}: venue actor unavailable") from exc

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        markets: dict[str, Market] = await self._call("load_markets")
        return markets

    async def create_order(self, request: OrderRequest) -> Order:
        order: Order = await self._call(
            "create_order", request, write=True, client_order_id=request.client_order_id
        )
        return order

    async def create_orders(self, requests: Sequence[OrderRequest]) -> list[Order | Exception]:
        """Create a batch in one actor round trip; each answer is an order or an exception."""
        answers: list[Order | Exception] = list(
            await self._call("create_orders", list(requests), write=True)
        )
        return answers

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        order: Order = await self._call(
            "cancel_order", symbol, id, client_order_id, write=True, client_order_id=client_order_id
        )
        return order

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        order: Order = await self._call("fetch_order", symbol, id, client_order_id)
        return order

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        orders: list[Order] = await self._call("fetch_open_orders", symbol)
        return orders

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        trades: list[Trade] = await self._call("fetch_my_trades", symbol, since, limit)
        return trades

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        positions: list[Position] = await self._call("fetch_positions", symbols)
        return positions

    async def fetch_balance(self) -> Balances:
        balances: Balances = await self._call("fetch_balance")
        return balances

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None
    ) -> dict[str, FundingRate]:
        rates: dict[str, FundingRate] = await self._call("fetch_funding_rates", symbols)
        return rates

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        book: OrderBookSnapshot = await self._call("fetch_order_book", symbol, limit)
        return book

    async def fetch_ticker(self, symbol: str) -> Ticker:
        ticker: Ticker = await self._call("fetch_ticker", symbol)
        return ticker

    async def close(self) -> None:
        return None
