"""The ``Exchange`` port: the async subset of ccxt's unified API the gateway needs.

Two adapters implement it: ``CcxtExchange`` (a real venue through
``ccxt.async_support``) and ``PaperVenue`` (the simulated exchange). Both return
core models and raise only ``core.errors`` types, so the gateway never sees a
ccxt dict or a ccxt exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Exchange(Protocol):
    """One venue account. Every method may raise a ``core.errors`` type and nothing else."""

    @property
    def venue(self) -> str: ...

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        """Return the venue's markets by unified symbol."""
        ...

    async def create_order(self, request: OrderRequest) -> Order:
        """Place ``request`` under its client order id.

        A timeout or lost answer raises ``OutcomeUnknownError``: the order may exist.
        """
        ...

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel by venue id or client order id; ``OrderNotFound`` if the venue does not know it."""
        ...

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Return one order by venue id or client order id; ``OrderNotFound`` if unknown."""
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]: ...

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]: ...

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]: ...

    async def fetch_balance(self) -> Balances: ...

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None
    ) -> dict[str, FundingRate]: ...

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None
    ) -> OrderBookSnapshot: ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class BatchCreates(Protocol):
    """An ``Exchange`` that can place several orders in one round trip (the paper venue actor).

    Each answer is the order or the ``core.errors`` exception raised for that one order;
    a round trip that fails as a whole raises (then every order's outcome is unknown).
    The gateway's outbox sends a crowd of creates this way; a venue without it gets
    them concurrently, one call each.
    """

    async def create_orders(self, requests: Sequence[OrderRequest]) -> list[Order | Exception]:
        """Place ``requests`` in order, in one round trip; one answer per request."""
        ...
