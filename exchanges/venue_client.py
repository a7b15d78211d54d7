"""The typed facade over a ``venue:<name>`` actor: the one place ``.remote()`` is called for it."""

from __future__ import annotations

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


class EventPusher:
    """Push market events to an actor's ``on_market_events`` with bounded in-flight batches."""

    def __init__(self, name: str, handle: Any) -> None:
        self.name = name
        self._handle = handle
        self._in_flight: deque[Any] = deque()

    @property
    def handle(self) -> Any:
        return self._handle

    def push(self, events: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        """Send a batch; wait for the oldest ones while more than ``max_in_flight`` are unacknowledged.

        Return what the venue generated for the batches acknowledged meanwhile.
        """
        self._in_flight.append(self._handle.on_market_events.remote(list(events)))
        done: list[list[MarketEvent]] = []
        while len(self._in_flight) > max_in_flight:
            done.append(ray.get(self._in_flight.popleft()))
        return done

    def drain(self) -> list[list[MarketEvent]]:
        """Wait for every batch in flight; return what the venue generated."""
        done = [ray.get(ref) for ref in self._in_flight]
        self._in_flight.clear()
        return done

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
