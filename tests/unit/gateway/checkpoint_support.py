"""A WAL written through the engine (orders, results, fills, cancels, funding), and a venue
that agrees with it: for the checkpoint tests and ``tests.bench.recovery``.

``generate`` drives a ``GatewayEngine`` the way the service does — decide, append the
decision's records to the WAL, apply them — without a venue round trip or an fsync per
order (one commit per batch), so a million records take a minute, not an hour.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.clock import NS_PER_S, SimulatedClock
from core.errors import OrderNotFound
from core.models import (
    Balance,
    Balances,
    Market,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    PositionSide,
    Side,
    Ticker,
    Trade,
)
from gateway.checkpoint import Checkpointer
from gateway.engine import GatewayEngine
from gateway.engine_records import WalRecord
from gateway.engine_types import Send
from gateway.wal import Wal
from risk.limits import RiskLimits
from tests.unit.gateway.engine_support import MID, PERP, SPOT, TIMEOUT, VENUE, D, intent

COMMIT_EVERY = 2_000
LIMITS = RiskLimits(max_position_notional=Decimal(10) ** 12, max_orders_per_window=10**6)
"""Caps out of the way: the generator's agents trade for months."""
BUDGET = Decimal(10) ** 9
AGENTS = ("mm", "arb")


class Generator:
    """Drives an engine through the order path and logs every record it decides."""

    def __init__(
        self,
        engine: GatewayEngine,
        clock: SimulatedClock,
        wal: Wal,
        checkpoints: Checkpointer | None = None,
        seed: int = 0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.wal = wal
        self.checkpoints = checkpoints
        self.rng = random.Random(seed)
        self.records = 0
        self._uncommitted = 0
        self._n = 0
        self._trade = 0
        self._marked_ns = -1

    def log(self, records: Sequence[WalRecord]) -> None:
        if not records:
            return
        self.wal.append_many(records, commit=False)
        self.engine.apply_all(records)
        self.records += len(records)
        self._uncommitted += len(records)
        if self._uncommitted >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        self.wal.commit()
        if self.checkpoints is not None and self._uncommitted:
            self.checkpoints.note(self._uncommitted, self.engine, self.wal)
        self._uncommitted = 0

    def start(self, budget: Decimal = BUDGET) -> None:
        self.log(self.engine.set_budgets(dict.fromkeys(AGENTS, budget)).records)
        self._mark()
        self.engine.finish_recovery()

    def _mark(self) -> None:
        now = self.clock.now_ns()
        if now - self._marked_ns >= 5 * NS_PER_S:
            self._marked_ns = now
            self.log(self.engine.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID}).records)

    def _fill(self, send: Send, amount: Decimal) -> None:
        self._trade += 1
        request = send.request
        price = request.price or MID
        trade = Trade(
            venue=VENUE,
            id=f"t{self._trade}",
            order_id=f"v-{send.client_order_id}",
            client_order_id=send.client_order_id,
            symbol=request.symbol,
            side=request.side,
            price=price,
            amount=amount,
            cost=price * amount,
            timestamp=self.clock.now_ms(),
        )
        self.log(self.engine.on_fill(trade).records)

    def one_order(self) -> None:
        """One order's life: sent, answered, then filled, partly filled and canceled, or canceled."""
        self.clock.advance(NS_PER_S)
        self._mark()
        self._n += 1
        n = self._n
        symbol = PERP if n % 4 else SPOT
        side = Side.BUY if symbol == SPOT or (n // 4) % 2 == 0 else Side.SELL
        agent = AGENTS[n % 3 % 2]
        price = "59990" if side is Side.BUY else "60010"
        decision = self.engine.submit(
            intent(f"o{n}", agent=agent, symbol=symbol, side=side, amount="0.01", price=price)
        )
        if not isinstance(decision, Send):
            raise AssertionError(f"order {n} not sent: {decision}")
        self.log(decision.records)
        self.engine.claim_send(decision.client_order_id)
        accepted = _order(decision.request, OrderStatus.OPEN, D(0))
        self.log(self.engine.on_result(decision.client_order_id, accepted).records)
        fate = self.rng.random()
        if fate < 0.5:
            self._fill(decision, D("0.01"))
        elif fate < 0.8:
            self._fill(decision, D("0.004"))
            self._cancel(decision, agent, f"o{n}", D("0.004"))
        else:
            self._cancel(decision, agent, f"o{n}", D(0))
        if n % 500 == 0:
            ts = self.clock.now_ms()
            self.log(self.engine.on_funding(VENUE, PERP, D("0.0001"), MID, ts).records)

    def _cancel(self, send: Send, agent: str, intent_id: str, filled: Decimal) -> None:
        cancel = self.engine.cancel(agent, intent_id)
        self.log(cancel.records)
        answer = _order(send.request, OrderStatus.CANCELED, filled)
        self.log(self.engine.on_cancel_result(send.client_order_id, answer).records)

    def in_flight(self, count: int) -> list[Send]:
        """Leave ``count`` orders unanswered: PENDING (sent, no answer) and UNKNOWN (a timeout)."""
        sends = []
        for k in range(count):
            self.clock.advance(NS_PER_S)
            self._n += 1
            decision = self.engine.submit(intent(f"f{self._n}", symbol=SPOT, price="59990"))
            assert isinstance(decision, Send), decision
            self.log(decision.records)
            if k % 2:
                self.log(self.engine.on_result(decision.client_order_id, TIMEOUT).records)
            sends.append(decision)
        return sends

    def run(self, records: int) -> None:
        while self.records < records:
            self.one_order()
        self.commit()


def _order(request: OrderRequest, status: OrderStatus, filled: Decimal) -> Order:
    return Order(
        venue=VENUE,
        id=f"v-{request.client_order_id}",
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        status=status,
        amount=request.amount,
        filled=filled,
        price=request.price,
    )


class AgreeingVenue:
    """An exchange whose account reports are the reference engine's mirror: reconciliation matches.

    Orders it is asked about are not found (those left in flight were never placed);
    it reports no new trades. Enough for recovery to run its whole path.
    """

    def __init__(
        self,
        reference: GatewayEngine | None,
        markets: dict[tuple[str, str], Market],
        *,
        books: tuple[dict[str, Decimal], dict[str, Decimal]] | None = None,
    ) -> None:
        """``books`` (balances, positions) stand for ``reference``'s mirror (another process)."""
        self.reference = reference
        self._books = books
        self._markets = {symbol: m for (_, symbol), m in markets.items()}
        self.queried: list[str] = []

    def books(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        if self._books is not None:
            return self._books
        assert self.reference is not None
        ledger = self.reference.ledger
        return ledger.expected_balances(VENUE), ledger.expected_positions(VENUE)

    @property
    def venue(self) -> str:
        return VENUE

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        return dict(self._markets)

    async def create_order(self, request: OrderRequest) -> Order:
        return _order(request, OrderStatus.OPEN, D(0))

    async def fetch_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        self.queried.append(client_order_id or "")
        raise OrderNotFound(f"client_order_id={client_order_id!r}: not found")

    async def cancel_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        raise OrderNotFound(f"client_order_id={client_order_id!r}: not found")

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        return []

    async def fetch_balance(self) -> Balances:
        cash = self.books()[0]
        return Balances(
            venue=VENUE,
            assets={a: Balance(currency=a, free=v, used=D(0), total=v) for a, v in cash.items()},
        )

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        found = []
        for symbol, contracts in self.books()[1].items():
            side = PositionSide.LONG if contracts > 0 else PositionSide.SHORT
            found.append(Position(venue=VENUE, symbol=symbol, side=side, contracts=abs(contracts)))
        return found

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return Ticker(venue=VENUE, symbol=symbol, bid=MID - 1, ask=MID + 1)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"AgreeingVenue does not do {name}")
