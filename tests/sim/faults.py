"""``FaultyVenue``: the ``Exchange`` port around a ``PaperVenue``, with seeded venue faults.

Every fault the real venues show the gateway, drawn from one ``random.Random``
so that a seed replays the same faults in the same places:

- ``lost_ack``: the order IS placed, the caller gets ``RequestTimeout`` (a
  refusal whose answer is lost is a timeout too);
- ``timeout_before_send``: nothing placed, the caller gets ``RequestTimeout``;
- ``reject``: nothing placed, the venue answers ``InvalidOrder`` (a ``DeniedError``);
- ``not_found``: after the create, ``fetch_order`` and ``cancel_order`` by client
  order id answer ``OrderNotFound`` for a delay drawn up to ``not_found_ns``
  (30 s) after the create, or ``not_found_queries`` queries: the venue's
  eventual consistency;
- ``late_fill``: a new trade stays out of ``fetch_my_trades`` for a delay drawn
  up to ``late_fill_ns`` (30 s) after it happened, or ``late_fill_calls``
  calls, then appears with its original timestamp, filtered by ``since`` as
  venues filter. Delays fall on both sides of the gateway's 3 s restart;
- ``duplicate_fill``: a trade delivered before is delivered again;
- ``cancel_lost_ack``: the cancel IS done, the caller gets ``RequestTimeout``.

And one trap, always on: a create for a client order id the venue has seen is
passed through to the paper venue, which (with Binance's rules) accepts it once
the first order is closed. ``counts["resent_create"]`` says the gateway sent a
create twice; the second venue order shows in ``all_orders()``.

A rate of 0 switches a fault off; ``counts`` says how often each one fired.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from core.clock import NS_PER_S, Clock
from core.errors import DeniedError, InvalidOrder, OrderNotFound, RequestTimeout
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
from exchanges.paper.venue import PaperVenue

FAULT_KINDS: Final = (
    "lost_ack",
    "timeout_before_send",
    "reject",
    "not_found",
    "late_fill",
    "duplicate_fill",
    "cancel_lost_ack",
)
"""The switchable faults, in the order their dice are rolled."""

COUNTED: Final = (*FAULT_KINDS, "resent_create")


@dataclass(frozen=True, slots=True)
class FaultRates:
    """How often each fault fires (a probability per chance), and how long the slow ones last."""

    lost_ack: float = 0.0
    timeout_before_send: float = 0.0
    reject: float = 0.0
    not_found: float = 0.0
    late_fill: float = 0.0
    duplicate_fill: float = 0.0
    cancel_lost_ack: float = 0.0
    not_found_queries: int = 1_000_000
    not_found_ns: int = 30 * NS_PER_S
    late_fill_calls: int = 1_000_000
    late_fill_ns: int = 30 * NS_PER_S
    """Each hidden order and late trade draws its delay uniformly up to these: from well
    before the gateway's restart (3 s) to well after it, as real venues report late."""

    @classmethod
    def none(cls) -> FaultRates:
        """Return rates with every fault off."""
        return cls()

    @classmethod
    def default(cls) -> FaultRates:
        """Return the mix the seed sweep runs with: every fault on, none dominant."""
        return cls(
            lost_ack=0.05,
            timeout_before_send=0.03,
            reject=0.03,
            not_found=0.10,
            late_fill=0.10,
            duplicate_fill=0.10,
            cancel_lost_ack=0.05,
        )

    def without(self, kinds: Iterable[str]) -> FaultRates:
        """Return these rates with ``kinds`` switched off."""
        off: dict[str, Any] = dict.fromkeys(kinds, 0.0)
        return replace(self, **off)

    def only(self, kind: str, rate: float = 1.0) -> FaultRates:
        """Return these durations with every fault off except ``kind`` at ``rate``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        off: dict[str, Any] = {name: 0.0 for name in FAULT_KINDS}
        off[kind] = rate
        return replace(self, **off)


@dataclass(slots=True)
class _Hidden:
    queries_left: int
    until_ns: int


@dataclass(slots=True)
class _TradeFate:
    visible_from_call: int
    visible_from_ns: int


@dataclass
class FaultyVenue:
    """An ``Exchange`` that is a ``PaperVenue`` seen through a bad network (see the module doc)."""

    inner: PaperVenue
    clock: Clock
    rng: random.Random
    rates: FaultRates = field(default_factory=FaultRates)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    _hidden: dict[str, _Hidden] = field(default_factory=dict)
    _fates: dict[str, _TradeFate] = field(default_factory=dict)
    _delivered: list[Trade] = field(default_factory=list)
    _delivered_ids: set[str] = field(default_factory=set)
    _trade_calls: int = 0
    _forced: dict[str, int] = field(default_factory=dict)
    queried: dict[str, int] = field(default_factory=dict)
    """How often each client order id was asked about (fetched or canceled by it)."""
    on_call: Callable[[], Awaitable[None]] | None = None
    """Run before each call reaches the venue (the world probes the gateway's readiness
    from inside its recovery with it); not run again for calls made by that probe."""
    _observing: bool = False

    def _asked(self, client_order_id: str | None) -> None:
        if client_order_id is not None:
            self.queried[client_order_id] = self.queried.get(client_order_id, 0) + 1

    async def _observe(self) -> None:
        if self.on_call is None or self._observing:
            return
        self._observing = True
        try:
            await self.on_call()
        finally:
            self._observing = False

    @property
    def venue(self) -> str:
        return self.inner.venue

    def quiesce(self) -> None:
        """Switch every fault off and show everything withheld (the network heals)."""
        self.rates = self.rates.without(FAULT_KINDS)
        self._hidden.clear()
        self._forced.clear()
        for fate in self._fates.values():
            fate.visible_from_call = 0

    def force(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` chances of ``kind`` fire, whatever its rate (targeted tests)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        self._forced[kind] = self._forced.get(kind, 0) + times

    def _roll(self, kind: str) -> bool:
        rate: float = getattr(self.rates, kind)
        hit = self.rng.random() < rate  # always roll: one fault's rate never shifts another's dice
        forced = self._forced.get(kind, 0)
        if forced:
            self._forced[kind] = forced - 1
            hit = True
        if hit:
            self.counts[kind] += 1
        return hit

    # -- ORDERS -----------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> Order:
        """Place ``request`` unless a fault says otherwise (see the module doc)."""
        await self._observe()
        timeout_before = self._roll("timeout_before_send")
        reject = self._roll("reject")
        lost = self._roll("lost_ack")
        hide = self._roll("not_found")
        cid = request.client_order_id
        if timeout_before:
            raise RequestTimeout(
                "simulated: no answer, the request never left", client_order_id=cid
            )
        if reject:
            raise InvalidOrder(f"{self.venue}: simulated rejection of {cid}")
        if self._seen(request.symbol, cid):
            self.counts["resent_create"] += 1
        try:
            order = self.inner.submit(request)
        except DeniedError as exc:
            if lost:
                raise RequestTimeout(f"simulated: the refusal was lost ({exc})") from exc
            raise
        if hide:
            delay = int(self.rng.uniform(0, self.rates.not_found_ns))
            self._hidden[cid] = _Hidden(self.rates.not_found_queries, self.clock.now_ns() + delay)
        if lost:
            raise RequestTimeout(
                "simulated: the order was placed, its ack lost", client_order_id=cid
            )
        return order

    def _seen(self, symbol: str, client_order_id: str) -> bool:
        try:
            self.inner.get_order(symbol, client_order_id=client_order_id)
        except OrderNotFound:
            return False
        return True

    def _hides(self, client_order_id: str | None) -> bool:
        """Count one query of a hidden order; tell whether it is still invisible."""
        hidden = self._hidden.get(client_order_id) if client_order_id else None
        if hidden is None:
            return False
        if hidden.queries_left <= 0 or self.clock.now_ns() >= hidden.until_ns:
            del self._hidden[client_order_id]  # type: ignore[arg-type]
            return False
        hidden.queries_left -= 1
        return True

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel at the venue; a hidden order is not found, a lost ack is a timeout."""
        await self._observe()
        self._asked(client_order_id)
        if id is None and self._hides(client_order_id):
            raise OrderNotFound(f"{self.venue}: simulated: {client_order_id} not visible yet")
        lost = self._roll("cancel_lost_ack")
        order = self.inner.cancel(symbol, id=id, client_order_id=client_order_id)
        if lost:
            raise RequestTimeout("simulated: the cancel was done, its ack lost")
        return order

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Return the order; a hidden one is not found for a while."""
        await self._observe()
        self._asked(client_order_id)
        if id is None and self._hides(client_order_id):
            raise OrderNotFound(f"{self.venue}: simulated: {client_order_id} not visible yet")
        return self.inner.get_order(symbol, id=id, client_order_id=client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        await self._observe()
        return [o for o in self.inner.open_orders(symbol) if o.client_order_id not in self._hidden]

    # -- TRADES -----------------------------------------------------------------

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        """Return the visible trades from ``since`` (ms, inclusive); late ones wait, some repeat."""
        await self._observe()
        self._trade_calls += 1
        call = self._trade_calls
        now = self.clock.now_ns()
        shown: list[Trade] = []
        for trade in self.inner.my_trades(symbol):
            fate = self._fates.get(trade.id)
            if fate is None:
                late = self._roll("late_fill")
                delay = int(self.rng.uniform(0, self.rates.late_fill_ns)) if late else 0
                fate = _TradeFate(
                    call + self.rates.late_fill_calls if late else call,
                    trade.timestamp * 1_000_000 + delay if late else 0,
                )
                self._fates[trade.id] = fate
            if call < fate.visible_from_call and now < fate.visible_from_ns:
                continue
            if since is not None and trade.timestamp < since:
                continue
            shown.append(trade)
        if limit is not None:
            shown = shown[:limit]
        if self._delivered and self._roll("duplicate_fill"):
            again = self._delivered[self.rng.randrange(len(self._delivered))]
            if symbol is None or again.symbol == symbol:
                shown.append(again)
        for trade in shown:
            if trade.id not in self._delivered_ids:
                self._delivered_ids.add(trade.id)
                self._delivered.append(trade)
        return shown

    # -- ACCOUNT AND MARKET DATA (no faults) ----------------------------------------

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        return self.inner.markets()

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        await self._observe()
        return self.inner.positions(symbols)

    async def fetch_balance(self) -> Balances:
        await self._observe()
        return self.inner.balances()

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None
    ) -> dict[str, FundingRate]:
        return self.inner.funding_rates(symbols)

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        return self.inner.order_book(symbol, limit)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._observe()
        return self.inner.ticker(symbol)

    async def close(self) -> None:
        return None
