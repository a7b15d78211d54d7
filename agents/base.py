"""The lifecycle every strategy agent shares: a pure core the agent's actor drives.

A strategy is small: it turns what the agent knows (``MarketView`` from the feed,
``AccountView`` from the gateway) into its own snapshot, and decides actions
from it (``Strategy``). ``AgentCore`` carries the plumbing the three agents share:

- start, stop, pause (on the council's vote or the operator's control), resume:
  a stopped agent decides
  nothing and its open orders are canceled; a paused agent opens nothing but
  keeps managing what it holds: it goes on deciding, and of its actions only
  cancels and orders that reduce its position on their market (as the gateway
  reports it) pass, capped at the holding and reduce-only on a derivative, so an
  inventory unwind, an exit or a stop cannot open or flip a position (the
  strategies need not know); pausing cancels its opening orders and keeps its
  exits (reduce-only orders, and orders that only reduce a spot holding); the
  council's and the operator's pauses are held apart (``PAUSE_SOURCES``): the
  agent runs again only when neither holds it, so a council resume never lifts
  an operator's pause; ``flatten`` (the operator's) pauses, cancels every open
  order and closes every position with market orders (reduce-only on a
  derivative), under intent ids derived from the control's id;
- budget updates (the gateway enforces budgets; the agent sees its own);
- an exception in the strategy's logic is logged and contained: that decision
  yields no action, the error is counted, the agent goes on with the next event;
- state that survives a restart: the strategy's state starts fresh and the
  account view is rebuilt from the gateway's record of the agent's orders and
  positions, while deterministic intent ids make re-deciding the same market
  event return the same orders instead of doubling them;
- per-agent metrics, and why an agent that placed no order did not
  (``stats()["idle_reason"]``: its strategy's ``idle_reason``, else its counters).

Pure: no Ray, no clock (time is the market events' time), no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from agents.actions import Action, CancelOrder, PlaceOrder
from core.events import Bar, FundingEvent, Liquidation, MarketEvent, MarkEvent, TopOfBook, TradeTick
from core.models import OrderType, Side
from gateway.breaker import BreakerState
from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView

log = logging.getLogger(__name__)

StateT = TypeVar("StateT")
SnapshotT = TypeVar("SnapshotT")

Key = tuple[str, str]
"""(venue, symbol)."""


PAUSE_SOURCES = ("council", "operator")
"""Who may pause an agent; each pause is lifted only by its own source's resume."""


class AgentStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


# -- WHAT THE AGENT KNOWS -------------------------------------------------------


@dataclass
class MarketView:
    """The feed's view: best prices per market, trades since the last decision, funding, liquidations."""

    tops: dict[Key, TopOfBook] = field(default_factory=dict)
    marks: dict[Key, MarkEvent] = field(default_factory=dict)
    bars: dict[Key, Bar] = field(default_factory=dict)
    trades: dict[Key, list[TradeTick]] = field(default_factory=dict)
    funding: list[FundingEvent] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)
    last_ts_ns: int = 0

    def apply(self, events: Iterable[MarketEvent]) -> None:
        """Fold a batch of feed events in (time order)."""
        for event in events:
            key = (event.venue, event.symbol)
            if isinstance(event, TopOfBook):
                self.tops[key] = event
            elif isinstance(event, TradeTick):
                self.trades.setdefault(key, []).append(event)
            elif isinstance(event, Bar):
                self.bars[key] = event
            elif isinstance(event, MarkEvent):
                self.marks[key] = event
            elif isinstance(event, FundingEvent):
                self.funding.append(event)
            elif isinstance(event, Liquidation):
                self.liquidations.append(event)
            if event.ts_ns > self.last_ts_ns:
                self.last_ts_ns = event.ts_ns

    def take_trades(self, key: Key) -> tuple[TradeTick, ...]:
        """Return and forget the trades of ``key`` since the last call."""
        return tuple(self.trades.pop(key, ()))

    def take_funding(self) -> tuple[FundingEvent, ...]:
        taken, self.funding = tuple(self.funding), []
        return taken

    def take_liquidations(self) -> tuple[Liquidation, ...]:
        taken, self.liquidations = tuple(self.liquidations), []
        return taken


@dataclass
class AccountView:
    """The gateway's view of this agent: its orders by intent id, positions, budget, breaker."""

    orders: dict[str, OrderView] = field(default_factory=dict)
    positions: dict[Key, Decimal] = field(default_factory=dict)
    budget: Decimal = Decimal(0)
    free: Decimal = Decimal(0)
    breaker: BreakerState = BreakerState.CLOSED
    _open: dict[str, None] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Intent ids whose latest view is not terminal, in placing order: a decision reads the
    open orders at every market event, and an agent's history only grows."""

    def __post_init__(self) -> None:
        self.replace_orders(self.orders.values())

    @property
    def open_orders(self) -> tuple[OrderView, ...]:
        return tuple(self.orders[intent_id] for intent_id in self._open)

    def record(self, order: OrderView) -> None:
        self.orders[order.intent_id] = order
        if order.state.is_terminal:
            self._open.pop(order.intent_id, None)
        else:
            self._open[order.intent_id] = None

    def replace_orders(self, orders: Iterable[OrderView]) -> None:
        """Forget every order and record ``orders`` (a restart's view from the gateway)."""
        self.orders = {}
        self._open = {}
        for order in orders:
            self.record(order)


# -- THE STRATEGY PLUG-IN -------------------------------------------------------


class Strategy(Protocol[StateT, SnapshotT]):
    """What a concrete agent provides; everything else is ``AgentCore``'s."""

    agent_id: str

    def initial_state(self) -> StateT: ...

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> SnapshotT: ...

    def decide(self, state: StateT, snapshot: SnapshotT) -> tuple[StateT, Sequence[Action]]: ...

    def wants(self, event: MarketEvent) -> bool:
        """Return whether ``event`` calls for a decision (other events only update the views)."""
        ...

    def idle_reason(self, state: StateT) -> str | None:
        """Return, in one line with numbers, what held the agent back from placing orders.

        Computed from what ``decide`` recorded in ``state``; None when it has nothing to say.
        """
        ...


def split_by_time(events: Sequence[MarketEvent]) -> list[Sequence[MarketEvent]]:
    """Split a time-ordered batch into groups of equal ``ts_ns``: one decision per market instant."""
    groups: list[Sequence[MarketEvent]] = []
    start = 0
    for i in range(1, len(events) + 1):
        if i == len(events) or events[i].ts_ns != events[start].ts_ns:
            groups.append(events[start:i])
            start = i
    return groups


def whole_instants(
    batches: Iterable[Sequence[MarketEvent]],
) -> Iterator[Sequence[MarketEvent]]:
    """Yield the market instants of time-ordered ``batches``, each whole across batch edges.

    A feed cuts batches by count, so one instant's events (a spot and a perp bar of the
    same minute) can end one batch and start the next; deciding on the first half would
    let an agent quote before the venue has seen the rest of that instant. The backtest
    and the lockstep paper run both step through these, so they stay equal.
    """
    pending: list[MarketEvent] = []
    for batch in batches:
        if not batch:
            continue
        if pending and batch[0].ts_ns != pending[0].ts_ns:
            yield pending
            pending = []
        groups = split_by_time(batch)
        if pending:
            pending.extend(groups[0])
            groups = groups[1:]
            if not groups:
                continue
            yield pending
            pending = []
        yield from groups[:-1]
        pending = list(groups[-1])
    if pending:
        yield pending


@dataclass
class AgentMetrics:
    events: int = 0
    decisions: int = 0
    places: int = 0
    cancels: int = 0
    accepted: int = 0
    denied: int = 0
    errors: int = 0
    held_back: int = 0
    """Orders a paused agent's strategy wanted that would have opened a position."""
    last_error: str | None = None
    last_denial: str | None = None


# -- MANAGING WHAT A PAUSED AGENT HOLDS --------------------------------------------


def is_derivative(symbol: str) -> bool:
    """Whether ``symbol`` (ccxt unified) is a derivative: ``BASE/QUOTE:SETTLE``."""
    return ":" in symbol


def reducing_only(
    intent: OrderIntent, positions: Mapping[Key, Decimal], open_orders: Iterable[OrderView]
) -> OrderIntent | None:
    """Return ``intent`` as an order that only reduces its market's position, or None.

    The position is the gateway's (signed; spot: base units). An order on the side
    that reduces it passes with its amount capped at the position less what the
    agent's other open orders on that side already reduce, and ``reduce_only`` set on
    a derivative (the venue then refuses a flip too); anything else would open.
    """
    key = (intent.venue, intent.symbol)
    position = positions.get(key, Decimal(0))
    if position == 0 or (position > 0) == (intent.side is Side.BUY):
        return None
    pending = sum(
        (
            o.amount - o.filled
            for o in open_orders
            if (o.venue, o.symbol) == key and o.side is intent.side
            if o.intent_id != intent.intent_id
        ),
        Decimal(0),
    )
    room = abs(position) - pending
    if room <= 0:
        return None
    update: dict[str, Any] = {}
    if intent.amount > room:
        update["amount"] = room
    if is_derivative(intent.symbol) and not intent.reduce_only:
        update["reduce_only"] = True
    return intent.model_copy(update=update) if update else intent


def is_exit(order: OrderView, positions: Mapping[Key, Decimal]) -> bool:
    """Whether an open order only reduces what the agent holds (it may rest while paused)."""
    if order.reduce_only:
        return True
    position = positions.get((order.venue, order.symbol), Decimal(0))
    reduces = position != 0 and (position > 0) != (order.side is Side.BUY)
    return (
        reduces and not is_derivative(order.symbol) and order.amount - order.filled <= abs(position)
    )


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


class AgentCore(Generic[StateT, SnapshotT]):
    """Drive one strategy: events in, actions out, with the shared lifecycle (see the module doc)."""

    def __init__(self, strategy: Strategy[StateT, SnapshotT]) -> None:
        self.strategy = strategy
        self.agent_id = strategy.agent_id
        self.state: StateT = strategy.initial_state()
        self.market = MarketView()
        self.account = AccountView()
        self.status = AgentStatus.RUNNING
        self.metrics = AgentMetrics()
        self.paused_at_ns: int | None = None
        self.pause_reason = ""
        self.holds: dict[str, tuple[int, str]] = {}
        """Who holds the agent paused (``PAUSE_SOURCES``): market time of the pause, reason."""

    # -- lifecycle ----------------------------------------------------------

    def pause(self, reason: str = "", by: str = "council") -> list[Action]:
        """Stop opening (the council's vote, or ``by="operator"``); return the cancels of the
        orders that could open.

        Idempotent: pausing again keeps the first pause's time and cancels what opens since.
        """
        if by not in PAUSE_SOURCES:
            raise ValueError(f"by = {by!r}: expected one of {PAUSE_SOURCES}")
        log.info("agent %s paused by the %s: %s", self.agent_id, by, reason)
        if by not in self.holds:
            self.holds[by] = (self.market.last_ts_ns, reason)
        if self.status is AgentStatus.RUNNING:
            self.status = AgentStatus.PAUSED
            self.paused_at_ns = self.market.last_ts_ns
            self.pause_reason = reason
        if self.status is AgentStatus.STOPPED:
            return self.cancel_all()
        return self._cancel_openers(())

    def resume(self, by: str = "council") -> bool:
        """Lift ``by``'s pause; return whether the agent runs (no other pause holds it)."""
        if by not in PAUSE_SOURCES:
            raise ValueError(f"by = {by!r}: expected one of {PAUSE_SOURCES}")
        self.holds.pop(by, None)
        if self.status is AgentStatus.PAUSED and not self.holds:
            self.status = AgentStatus.RUNNING
            self.paused_at_ns = None
            self.pause_reason = ""
        elif self.status is AgentStatus.PAUSED:
            self.paused_at_ns, self.pause_reason = next(iter(self.holds.values()))
        return self.status is AgentStatus.RUNNING

    def flatten(self, control_id: str, reason: str = "") -> list[Action]:
        """Pause (the operator's), cancel every open order and close every position.

        The closing orders are market orders, reduce-only on a derivative, one per
        market held, with intent id ``flatten.<control_id>.<venue>.<symbol>``: the same
        control sent again gives the same intents (the gateway answers them once).
        """
        self.pause(reason or "flatten", by="operator")
        actions: list[Action] = [*self.cancel_all()]
        for (venue, symbol), position in sorted(self.account.positions.items()):
            if position == 0:
                continue
            intent = OrderIntent(
                agent_id=self.agent_id,
                intent_id=f"flatten.{control_id}.{venue}.{symbol}",
                venue=venue,
                symbol=symbol,
                side=Side.SELL if position > 0 else Side.BUY,
                type=OrderType.MARKET,
                amount=abs(position),
                reduce_only=is_derivative(symbol),
            )
            actions.append(PlaceOrder(intent=intent))
        return actions

    def stop(self) -> list[Action]:
        """Stop for good (shutdown): no new order from now on; return the cancels of open orders."""
        self.status = AgentStatus.STOPPED
        return self.cancel_all()

    def set_budget(self, budget: Decimal, free: Decimal | None = None) -> None:
        self.account.budget = budget
        if free is not None:
            self.account.free = free

    def rebuild(self, orders: Iterable[OrderView], positions: Mapping[Key, Decimal]) -> None:
        """Restore the account view after a restart from the gateway's record of this agent."""
        self.account.replace_orders(o for o in orders if o.agent_id == self.agent_id)
        self.account.positions = dict(positions)

    # -- deciding -----------------------------------------------------------

    def on_events(self, events: Sequence[MarketEvent]) -> list[Action]:
        """Fold ``events`` (one market instant) in and decide if one of them calls for it.

        Return the actions to send; none when the agent is stopped, only those that
        manage what it holds when it is paused.
        """
        self.market.apply(events)
        self.metrics.events += len(events)
        if self.status is AgentStatus.STOPPED or not events:
            return []
        if not any(self.strategy.wants(event) for event in events):
            return []
        actions = self.decide_now(self.market.last_ts_ns)
        if self.status is AgentStatus.PAUSED:
            return self._manage_only(actions)
        return actions

    def decide_now(self, now_ns: int) -> list[Action]:
        """Take a decision at market time ``now_ns``; a failing strategy yields nothing and is counted."""
        try:
            snapshot = self.strategy.snapshot(self.market, self.account, now_ns)
            state, actions = self.strategy.decide(self.state, snapshot)
        except Exception as exc:  # contained: one bad decision must not take the agent down
            self.metrics.errors += 1
            self.metrics.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("agent %s: decide failed; no action taken", self.agent_id)
            return []
        self.state = state
        self.metrics.decisions += 1
        return list(actions)

    # -- what the gateway answered --------------------------------------------

    def on_placed(self, action: PlaceOrder, order: OrderView | None, denial: str | None) -> None:
        self.metrics.places += 1
        if order is not None:
            self.metrics.accepted += 1
            self.account.record(order)
        else:
            self.metrics.denied += 1
            self.metrics.last_denial = denial

    def on_canceled(self, action: CancelOrder, order: OrderView | None) -> None:
        self.metrics.cancels += 1
        if order is not None:
            self.account.record(order)

    def on_account(
        self,
        orders: Iterable[OrderView],
        positions: Mapping[Key, Decimal],
        budget: Decimal,
        free: Decimal,
        breaker: BreakerState,
    ) -> None:
        """Refresh the account view from the gateway (fills land here)."""
        for order in orders:
            self.account.record(order)
        self.account.positions = dict(positions)
        self.account.budget = budget
        self.account.free = free
        self.account.breaker = breaker

    def cancel_all(self) -> list[Action]:
        """Return the cancels of every open order (a stop, a change of settings)."""
        return [CancelOrder(intent_id=o.intent_id) for o in self.account.open_orders]

    def _cancel_openers(self, canceled: Iterable[str]) -> list[Action]:
        """Cancel each open order that is not an exit (and not already being canceled)."""
        skip = set(canceled)
        positions = self.account.positions
        return [
            CancelOrder(intent_id=o.intent_id)
            for o in self.account.open_orders
            if o.intent_id not in skip and not is_exit(o, positions)
        ]

    def _manage_only(self, actions: Sequence[Action]) -> list[Action]:
        """A paused agent's actions: cancels, and orders that only reduce what it holds."""
        kept: list[Action] = []
        canceled: list[str] = []
        for action in actions:
            if isinstance(action, CancelOrder):
                kept.append(action)
                canceled.append(action.intent_id)
                continue
            reduced = reducing_only(action.intent, self.account.positions, self._resting(canceled))
            if reduced is None:
                self.metrics.held_back += 1
            else:
                kept.append(PlaceOrder(intent=reduced))
        return [*self._cancel_openers(canceled), *kept]

    def _resting(self, canceled: Sequence[str]) -> list[OrderView]:
        return [o for o in self.account.open_orders if o.intent_id not in canceled]

    def idle_reason(self) -> str | None:
        """Why the agent has placed no order (None once it has): its strategy's, else counters."""
        if self.metrics.places:
            return None
        method = getattr(self.strategy, "idle_reason", None)
        if method is not None:
            try:
                reason = method(self.state)
            except Exception:  # a failing strategy must not break the stats
                log.exception("agent %s: idle_reason failed", self.agent_id)
            else:
                if reason:
                    return str(reason)
        if self.status is AgentStatus.PAUSED:
            since = _utc(self.paused_at_ns) if self.paused_at_ns else "its start"
            why = f" ({self.pause_reason})" if self.pause_reason else ""
            by = " and the ".join(sorted(self.holds)) or "council"
            return f"paused by the {by} since {since}{why}"
        if self.metrics.errors and not self.metrics.decisions:
            return f"its strategy failed {self.metrics.errors} times: {self.metrics.last_error}"
        if not self.metrics.decisions:
            return f"no decision: none of its {self.metrics.events} events called for one"
        return None

    def stats(self) -> dict[str, Any]:
        """Per-agent metrics, the account as last seen, and why no order (``idle_reason``)."""
        open_orders = self.account.open_orders
        return {
            "agent_id": self.agent_id,
            "status": str(self.status),
            **vars(self.metrics),
            "open_orders": len(open_orders),
            "filled_orders": sum(
                1 for o in self.account.orders.values() if o.state is OrderState.FILLED
            ),
            "positions": {f"{v}:{s}": str(q) for (v, s), q in self.account.positions.items() if q},
            "budget": str(self.account.budget),
            "idle_reason": self.idle_reason(),
            "paused_by": {by: reason for by, (_, reason) in sorted(self.holds.items())},
        }
