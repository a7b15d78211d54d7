"""Per-agent accounting in Decimal, and a mirror of each venue account to conserve against.

Two sets of books move together on every fill, funding payment and correction:

- **Agent books** (one per agent, plus ``HOUSE`` for what belongs to no agent:
  the balances adopted at the first reconciliation, corrections, funding
  rounding, fills of orders no agent placed): budget, reservation, cash per
  (venue, asset), positions per (venue, symbol) with their cost basis, fees,
  funding and realized P&L. Cash starts at zero: an agent's cash is the sum of
  its flows, and its capital is its budget.
- **Venue mirrors** (one per venue): cash per asset and one aggregate position
  per perpetual, booked the way the venue books them (realized P&L of the
  aggregate, released basis rounded to ``cash_step``). The mirror's cash is
  what the venue's balance must show, exactly.

Per-agent realized P&L cannot add up to the venue's cash when agents net
against each other in one symbol (one closes what the other opens), but
``cash - signed cost basis`` moves by exactly ``-signed amount x price x
contract size`` on every trade in both books, so per (venue, asset)::

    sum over agents (cash + spot holdings - signed perp basis)
        == mirror cash - signed mirror perp basis

and per perpetual the agents' contracts add up to the mirror's. ``conservation_errors``
checks both.

Every fill is booked once per (venue, trade id); a repeated trade id is a
no-op that reports ``DUPLICATE``. ``prune_trades`` forgets the ids of trades older
than a horizon behind the newest trade booked (the fill cursor: they are never fetched
again), and folds the perp history behind it into one holding per symbol, so neither
grows with the account's age.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final, TypeVar

from core.errors import InvalidValue
from core.models import Frozen, Market, Side
from core.money import ONE, ZERO, Dec

HOUSE: Final = "_house"
"""The book of what belongs to no agent (never a valid agent id: it starts with '_')."""

AssetKey = tuple[str, str]
"""(venue, asset)"""
SymbolKey = tuple[str, str]
"""(venue, symbol)"""
_K = TypeVar("_K", str, tuple[str, str])


class FillOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


# -- A POSITION ---------------------------------------------------------------


@dataclass(slots=True)
class Holding:
    """Signed contracts (spot: base units) and the unsigned cost basis of their size."""

    contracts: Decimal = ZERO
    basis: Decimal = ZERO
    realized: Decimal = ZERO

    @property
    def signed_basis(self) -> Decimal:
        return self.basis if self.contracts >= 0 else -self.basis

    def entry_price(self, contract_size: Decimal) -> Decimal | None:
        if not self.contracts:
            return None
        return self.basis / (abs(self.contracts) * contract_size)

    def trade(
        self, signed_amount: Decimal, price: Decimal, contract_size: Decimal, cash_step: Decimal
    ) -> Decimal:
        """Book a trade of ``signed_amount`` at ``price``; return the realized P&L of what it closes.

        The basis released by a partial close is rounded to ``cash_step`` (as
        venues book it); the P&L is the exit value minus exactly that, so
        ``cash - signed basis`` stays exact.
        """
        amount = abs(signed_amount)
        size = abs(self.contracts)
        buying = signed_amount > 0
        if not size or (self.contracts > 0) == buying:
            self.contracts += signed_amount
            self.basis += price * amount * contract_size
            return ZERO
        closing = amount if amount < size else size
        if closing == size:
            released = self.basis
        else:
            released = (self.basis * closing / size).quantize(cash_step, ROUND_HALF_EVEN)
        exit_value = price * closing * contract_size
        pnl = exit_value - released if self.contracts > 0 else released - exit_value
        self.basis -= released
        self.contracts += closing if buying else -closing
        opening = amount - closing
        if opening:
            self.contracts = opening if buying else -opening
            self.basis = price * opening * contract_size
        self.realized += pnl
        return pnl


def _copy(holding: Holding) -> Holding:
    return Holding(holding.contracts, holding.basis, holding.realized)


def _add(book: dict[_K, Decimal], key: _K, amount: Decimal) -> None:
    if amount:
        book[key] = book.get(key, ZERO) + amount


# -- BOOKS --------------------------------------------------------------------


@dataclass(slots=True)
class AgentBook:
    """One agent's money: budget, reservation, cash, positions, fees, funding, realized P&L."""

    budget: Decimal = ZERO
    reserved: Decimal = ZERO
    cash: dict[AssetKey, Decimal] = field(default_factory=dict)
    positions: dict[SymbolKey, Holding] = field(default_factory=dict)
    fees: dict[AssetKey, Decimal] = field(default_factory=dict)
    funding: dict[AssetKey, Decimal] = field(default_factory=dict)
    realized: dict[AssetKey, Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class VenueMirror:
    """The venue account as the venue books it: cash per asset, aggregate perp positions."""

    cash: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, Holding] = field(default_factory=dict)
    history: dict[str, list[TradeEntry]] = field(default_factory=dict)
    """Per perp symbol, what ``positions`` was built from since ``folded``, in the venue's
    execution order."""
    folded: dict[str, tuple[TradeKey, Holding]] = field(default_factory=dict)
    """Per perp symbol, the aggregate of the trades pruned from ``history`` and the key of
    the last of them (``Ledger.prune_trades``): a rebuild starts from it."""


TradeKey = tuple[int, int, str]
"""Venue execution order of a trade: (timestamp ms, trade id length, trade id) — numeric ids sort numerically."""
TradeEntry = tuple[TradeKey, Decimal, Decimal]
"""(order key, signed contracts, price)."""


def trade_key(timestamp_ms: int, trade_id: str) -> TradeKey:
    return (timestamp_ms, len(trade_id), trade_id)


def _book_aggregate(
    mirror: VenueMirror,
    market: Market,
    key: TradeKey | None,
    signed: Decimal,
    price: Decimal,
    step: Decimal,
) -> None:
    """Book a perp trade into the venue's aggregate position the way the venue does: in execution order.

    Realized P&L depends on the order trades hit a position, and the venue books
    them in the order it executed them. A fill that reaches us late (older than
    one booked already) rebuilds the aggregate from the history, and the cash
    moves by the difference in realized P&L. ``key`` None books at the end (a
    reconciliation correction, known as of now).
    """
    symbol = market.symbol
    settle = market.settle or market.quote
    cs = market.contract_size
    history = mirror.history.setdefault(symbol, [])
    aggregate = mirror.positions.get(symbol)
    if aggregate is None:
        aggregate = mirror.positions[symbol] = Holding()
    floor = mirror.folded.get(symbol)
    if key is None:
        key = history[-1][0] if history else (floor[0] if floor is not None else (0, 0, ""))
    if floor is not None and key < floor[0]:
        # Older than the folded trades (only a fill decided before the horizon moved):
        # booked right after them; a reconciliation corrects the rounding this may leave.
        key = floor[0]
    if not history or history[-1][0] <= key:
        history.append((key, signed, price))
        _add(mirror.cash, settle, aggregate.trade(signed, price, cs, step))
        return
    insort(history, (key, signed, price), key=lambda entry: entry[0])
    rebuilt = _copy(floor[1]) if floor is not None else Holding()
    for _, amount, at in history:
        rebuilt.trade(amount, at, cs, step)
    _add(mirror.cash, settle, rebuilt.realized - aggregate.realized)
    mirror.positions[symbol] = rebuilt


def _fold(
    mirror: VenueMirror,
    symbol: str,
    history: list[TradeEntry],
    horizon_ms: int,
    contract_size: Decimal,
    step: Decimal,
) -> None:
    """Fold ``symbol``'s history older than ``horizon_ms`` into ``mirror.folded``."""
    end = bisect_left(history, horizon_ms, key=lambda entry: entry[0][0])
    if not end:
        return
    floor = mirror.folded.get(symbol)
    base = _copy(floor[1]) if floor is not None else Holding()
    for _, amount, at in history[:end]:
        base.trade(amount, at, contract_size, step)
    mirror.folded[symbol] = (history[end - 1][0], base)
    del history[:end]


# -- VIEWS --------------------------------------------------------------------


class PositionView(Frozen):
    venue: str
    symbol: str
    contracts: Dec
    entry_price: Dec | None
    basis: Dec
    realized: Dec
    mark: Dec | None
    unrealized: Dec


class AgentView(Frozen):
    """One agent's books. Money keys are ``"venue:asset"``; totals are in the unit of account."""

    agent_id: str
    budget: Dec
    reserved: Dec
    used: Dec
    free: Dec
    cash: dict[str, Dec]
    positions: tuple[PositionView, ...]
    fees: dict[str, Dec]
    funding: dict[str, Dec]
    realized: Dec
    unrealized: Dec
    pnl: Dec
    """Mark-to-market result since the start: cash plus holdings plus unrealized."""
    equity: Dec
    """Budget plus P&L."""


class VenueView(Frozen):
    venue: str
    balances: dict[str, Dec]
    positions: dict[str, Dec]


def _key(key: AssetKey) -> str:
    return f"{key[0]}:{key[1]}"


# -- THE LEDGER ---------------------------------------------------------------


class Ledger:
    """Agent books and venue mirrors; changed only by the engine's ``apply``."""

    def __init__(self, markets: Mapping[SymbolKey, Market], cash_step: Decimal) -> None:
        self._markets = markets
        self._cash_step = cash_step
        self.agents: dict[str, AgentBook] = {}
        self.venues: dict[str, VenueMirror] = {}
        self._trades: set[tuple[str, str]] = set()
        self.trade_times: dict[str, list[tuple[int, str]]] = {}
        """Per venue, a heap of (timestamp ms, trade id) of the ids in the dedup set."""
        self.trade_newest: dict[str, int] = {}
        """Per venue, the newest trade's timestamp (ms) booked: where the fill cursor trails."""
        self.trade_horizon: dict[str, int] = {}
        """Per venue, trades older than this (ms) have their ids forgotten (``prune_trades``)."""
        self.marks: dict[SymbolKey, Decimal] = {}
        self._quote_assets: dict[str, set[str]] = {}
        for (venue, _), market in markets.items():
            quotes = self._quote_assets.setdefault(venue, set())
            quotes.add(market.quote)
            if market.settle:
                quotes.add(market.settle)

    def book(self, agent: str) -> AgentBook:
        """Return ``agent``'s book, creating an empty one on first use."""
        found = self.agents.get(agent)
        if found is None:
            found = self.agents[agent] = AgentBook()
        return found

    def mirror(self, venue: str) -> VenueMirror:
        found = self.venues.get(venue)
        if found is None:
            found = self.venues[venue] = VenueMirror()
        return found

    # -- budgets and reservations ---------------------------------------------

    def set_budget(self, agent: str, amount: Decimal) -> None:
        if amount < 0:
            raise InvalidValue("budget", amount, f"of {agent} must be >= 0")
        self.book(agent).budget = amount

    def reserve(self, agent: str, amount: Decimal) -> None:
        self.book(agent).reserved += amount

    def release(self, agent: str, amount: Decimal) -> None:
        self.book(agent).reserved -= amount

    # -- fills ----------------------------------------------------------------

    @property
    def seen_trades(self) -> set[tuple[str, str]]:
        """Return the (venue, trade id) of every fill booked: the dedup set (a checkpoint keeps it)."""
        return self._trades

    def has_trade(self, venue: str, trade_id: str) -> bool:
        return (venue, trade_id) in self._trades

    def behind_horizon(self, venue: str, timestamp_ms: int) -> bool:
        """Tell whether a trade this old may have had its id forgotten (``prune_trades``)."""
        horizon = self.trade_horizon.get(venue)
        return horizon is not None and timestamp_ms < horizon

    def prune_trades(self, venue: str, keep_ms: int) -> int:
        """Forget the ids of ``venue``'s trades older than ``keep_ms`` behind its newest; return how many.

        The caller guarantees such trades are never offered again (the fill cursor
        trails the newest trade by less than ``keep_ms``) and refuses any that is
        (``behind_horizon``). The perp history behind the horizon is folded into one
        holding per symbol: a late trade can no longer land before it.
        """
        newest = self.trade_newest.get(venue)
        if newest is None:
            return 0
        horizon = newest - keep_ms
        if horizon <= self.trade_horizon.get(venue, horizon - 1):
            return 0
        self.trade_horizon[venue] = horizon
        heap = self.trade_times.get(venue, [])
        pruned = 0
        while heap and heap[0][0] < horizon:
            _, trade_id = heapq.heappop(heap)
            self._trades.discard((venue, trade_id))
            pruned += 1
        mirror = self.venues.get(venue)
        if mirror is not None:
            for symbol, history in mirror.history.items():
                cs = self._markets[(venue, symbol)].contract_size
                _fold(mirror, symbol, history, horizon, cs, self._cash_step)
        return pruned

    def apply_fill(
        self,
        agent: str,
        market: Market,
        trade_id: str,
        side: Side,
        price: Decimal,
        amount: Decimal,
        fee_cost: Decimal,
        fee_currency: str | None,
        timestamp_ms: int | None = None,
    ) -> FillOutcome:
        """Book one fill for ``agent`` and in the venue mirror, once per (venue, trade id).

        ``timestamp_ms`` (the venue's execution time) orders perp fills in the
        mirror as the venue booked them; None books it as the latest.
        """
        venue = market.venue
        if (venue, trade_id) in self._trades:
            return FillOutcome.DUPLICATE
        self._trades.add((venue, trade_id))
        if timestamp_ms is not None:
            heapq.heappush(self.trade_times.setdefault(venue, []), (timestamp_ms, trade_id))
            if timestamp_ms > self.trade_newest.get(venue, timestamp_ms - 1):
                self.trade_newest[venue] = timestamp_ms
        book = self.book(agent)
        mirror = self.mirror(venue)
        step = self._cash_step
        signed = amount if side == Side.BUY else -amount
        cs = market.contract_size
        holding = book.positions.get((venue, market.symbol))
        if holding is None:
            holding = book.positions[(venue, market.symbol)] = Holding()
        pnl = holding.trade(signed, price, cs, step)
        if market.is_spot:
            cost = price * amount * cs
            flow = -cost if side == Side.BUY else cost
            _add(book.cash, (venue, market.quote), flow)
            _add(book.realized, (venue, market.quote), pnl)  # informational: cash moved as flow
            _add(mirror.cash, market.quote, flow)
            _add(mirror.cash, market.base, signed)
        else:
            settle = market.settle or market.quote
            _add(book.cash, (venue, settle), pnl)
            _add(book.realized, (venue, settle), pnl)
            key = trade_key(timestamp_ms, trade_id) if timestamp_ms is not None else None
            _book_aggregate(mirror, market, key, signed, price, step)
        if fee_cost:
            currency = fee_currency or market.settle or market.quote
            _add(book.cash, (venue, currency), -fee_cost)
            _add(book.fees, (venue, currency), fee_cost)
            _add(mirror.cash, currency, -fee_cost)
        return FillOutcome.APPLIED

    # -- funding and corrections ----------------------------------------------

    def funding_payments(
        self, venue: str, symbol: str, rate: Decimal, mark: Decimal
    ) -> dict[str, Decimal]:
        """Return what each holder of ``symbol`` receives (negative: pays) at ``rate`` and ``mark``.

        Longs pay shorts when the rate is positive; each payment is rounded to
        ``cash_step`` the way a venue rounds its one payment. On a spot symbol the
        "rate" is minus a borrow rate (paper spot margin) and only short holdings pay.
        """
        market = self._markets[(venue, symbol)]
        payments: dict[str, Decimal] = {}
        for agent in sorted(self.agents):
            holding = self.agents[agent].positions.get((venue, symbol))
            if holding is None or not holding.contracts:
                continue
            if market.is_spot and holding.contracts > 0:
                continue  # spot interest: only a short (borrowed) holding pays it
            payment = -holding.contracts * market.contract_size * mark * rate
            payments[agent] = payment.quantize(self._cash_step, ROUND_HALF_EVEN)
        return payments

    def venue_funding(self, venue: str, symbol: str, rate: Decimal, mark: Decimal) -> Decimal:
        """Return the one payment the venue books for its aggregate position."""
        market = self._markets[(venue, symbol)]
        aggregate = self.mirror(venue).positions.get(symbol)
        if aggregate is None or not aggregate.contracts:
            return ZERO
        payment = -aggregate.contracts * market.contract_size * mark * rate
        return payment.quantize(self._cash_step, ROUND_HALF_EVEN)

    def apply_funding(
        self, venue: str, asset: str, payments: Mapping[str, Decimal], total: Decimal
    ) -> None:
        """Book the venue's ``total`` payment: each agent its share, the rounding to ``HOUSE``."""
        for agent, amount in payments.items():
            book = self.book(agent)
            _add(book.cash, (venue, asset), amount)
            _add(book.funding, (venue, asset), amount)
        rest = total - sum(payments.values(), ZERO)
        house = self.book(HOUSE)
        _add(house.cash, (venue, asset), rest)
        _add(house.funding, (venue, asset), rest)
        _add(self.mirror(venue).cash, asset, total)

    def correct_balance(self, venue: str, asset: str, delta: Decimal) -> None:
        """Move ``asset`` on ``venue`` by ``delta`` in the mirror and the house book."""
        _add(self.mirror(venue).cash, asset, delta)
        _add(self.book(HOUSE).cash, (venue, asset), delta)

    def correct_position(self, venue: str, symbol: str, delta: Decimal, price: Decimal) -> None:
        """Move a perp position by ``delta`` contracts at ``price`` in the mirror and the house book.

        Booked like a fee-less trade on both sides, so conservation holds.
        """
        market = self._markets[(venue, symbol)]
        settle = market.settle or market.quote
        cs, step = market.contract_size, self._cash_step
        house = self.book(HOUSE)
        holding = house.positions.get((venue, symbol))
        if holding is None:
            holding = house.positions[(venue, symbol)] = Holding()
        pnl = holding.trade(delta, price, cs, step)
        _add(house.cash, (venue, settle), pnl)
        _add(house.realized, (venue, settle), pnl)
        _book_aggregate(self.mirror(venue), market, None, delta, price, step)

    # -- reading --------------------------------------------------------------

    def position(self, agent: str, venue: str, symbol: str) -> Decimal:
        book = self.agents.get(agent)
        holding = book.positions.get((venue, symbol)) if book is not None else None
        return holding.contracts if holding is not None else ZERO

    def unit_price(self, venue: str, asset: str) -> Decimal:
        """Return ``asset``'s value in the unit of account (quotes at par, bases at a mark; else 0)."""
        if asset in self._quote_assets.get(venue, ()):
            return ONE
        best: Decimal | None = None
        for (mv, symbol), market in sorted(self._markets.items()):
            if mv == venue and market.base == asset:
                mark = self.marks.get((venue, symbol))
                if mark is not None and (best is None or market.is_spot):
                    best = mark
        return best if best is not None else ZERO

    def _mark(self, key: SymbolKey, holding: Holding, market: Market) -> Decimal | None:
        mark = self.marks.get(key)
        return mark if mark is not None else holding.entry_price(market.contract_size)

    def valuation(self, agent: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Return ``(used, realized, unrealized, pnl)`` of ``agent`` in the unit of account.

        ``used`` is the capital the agent has committed at cost: perp basis at
        1x plus everything its cash flows have spent (spot bought, fees, losses); a
        short spot holding (borrowed) counts at cost and its proceeds are not free.
        Without a mark a holding is valued at its entry price.
        """
        book = self.agents.get(agent)
        if book is None:
            return ZERO, ZERO, ZERO, ZERO
        cash_value = sum(
            (amount * self.unit_price(v, a) for (v, a), amount in book.cash.items()), ZERO
        )
        realized = sum(
            (amount * self.unit_price(v, a) for (v, a), amount in book.realized.items()), ZERO
        )
        perp_basis = unrealized = holdings_value = perp_unrealized = ZERO
        for key, holding in book.positions.items():
            if not holding.contracts:
                continue
            market = self._markets[key]
            mark = self._mark(key, holding, market) or ZERO
            value = holding.contracts * market.contract_size * mark
            gain = value - holding.signed_basis
            unrealized += gain
            if market.is_spot:
                holdings_value += value
                if holding.contracts < 0:
                    # A borrowed short (spot margin): its proceeds collateralize the loan,
                    # they are not free cash, and the short counts at cost like a perp.
                    perp_basis += 2 * holding.basis
            else:
                perp_basis += holding.basis
                perp_unrealized += gain
        pnl = cash_value + holdings_value + perp_unrealized
        return perp_basis - cash_value, realized, unrealized, pnl

    def free(self, agent: str) -> Decimal:
        """Return ``budget - reserved - used``: what new exposure may still take."""
        book = self.agents.get(agent)
        if book is None:
            return ZERO
        used, _, _, _ = self.valuation(agent)
        return book.budget - book.reserved - used

    def view(self, agent: str) -> AgentView:
        book = self.book(agent) if agent in self.agents else AgentBook()
        used, realized, unrealized, pnl = self.valuation(agent)
        positions = []
        for (venue, symbol), holding in sorted(book.positions.items()):
            market = self._markets[(venue, symbol)]
            mark = self.marks.get((venue, symbol))
            value_mark = mark if mark is not None else holding.entry_price(market.contract_size)
            value = holding.contracts * market.contract_size * (value_mark or ZERO)
            positions.append(
                PositionView(
                    venue=venue,
                    symbol=symbol,
                    contracts=holding.contracts,
                    entry_price=holding.entry_price(market.contract_size),
                    basis=holding.basis,
                    realized=holding.realized,
                    mark=mark,
                    unrealized=value - holding.signed_basis if holding.contracts else ZERO,
                )
            )
        return AgentView(
            agent_id=agent,
            budget=book.budget,
            reserved=book.reserved,
            used=used,
            free=book.budget - book.reserved - used,
            cash={_key(k): v for k, v in sorted(book.cash.items())},
            positions=tuple(positions),
            fees={_key(k): v for k, v in sorted(book.fees.items())},
            funding={_key(k): v for k, v in sorted(book.funding.items())},
            realized=realized,
            unrealized=unrealized,
            pnl=pnl,
            equity=book.budget + pnl,
        )

    def venue_view(self, venue: str) -> VenueView:
        mirror = self.venues.get(venue) or VenueMirror()
        return VenueView(
            venue=venue,
            balances=dict(sorted(mirror.cash.items())),
            positions={s: h.contracts for s, h in sorted(mirror.positions.items()) if h.contracts},
        )

    def expected_balances(self, venue: str) -> dict[str, Decimal]:
        """Return the cash per asset the venue's balance must show (the mirror's)."""
        mirror = self.venues.get(venue)
        return dict(mirror.cash) if mirror is not None else {}

    def expected_positions(self, venue: str) -> dict[str, Decimal]:
        """Return the signed contracts per perpetual the venue must report (the mirror's)."""
        mirror = self.venues.get(venue)
        if mirror is None:
            return {}
        return {symbol: h.contracts for symbol, h in mirror.positions.items() if h.contracts}

    # -- conservation ---------------------------------------------------------

    def conservation_errors(self, venues: Iterable[str] | None = None) -> list[str]:
        """Return every place the agent books and the venue mirrors disagree (empty: conserved)."""
        agent_side: dict[AssetKey, Decimal] = {}
        agent_contracts: dict[SymbolKey, Decimal] = {}
        for book in self.agents.values():
            for key, amount in book.cash.items():
                _add(agent_side, key, amount)
            for (venue, symbol), holding in book.positions.items():
                market = self._markets[(venue, symbol)]
                if market.is_spot:
                    _add(agent_side, (venue, market.base), holding.contracts)
                else:
                    settle = market.settle or market.quote
                    _add(agent_side, (venue, settle), -holding.signed_basis)
                    _add(agent_contracts, (venue, symbol), holding.contracts)
        mirror_side: dict[AssetKey, Decimal] = {}
        mirror_contracts: dict[SymbolKey, Decimal] = {}
        for venue, mirror in self.venues.items():
            for asset, amount in mirror.cash.items():
                _add(mirror_side, (venue, asset), amount)
            for symbol, holding in mirror.positions.items():
                market = self._markets[(venue, symbol)]
                _add(mirror_side, (venue, market.settle or market.quote), -holding.signed_basis)
                _add(mirror_contracts, (venue, symbol), holding.contracts)
        wanted = set(venues) if venues is not None else None
        errors = []
        for key in sorted(set(agent_side) | set(mirror_side)):
            if wanted is not None and key[0] not in wanted:
                continue
            ours, theirs = agent_side.get(key, ZERO), mirror_side.get(key, ZERO)
            if ours != theirs:
                errors.append(f"{_key(key)}: agents book {ours}, the venue account {theirs}")
        for key in sorted(set(agent_contracts) | set(mirror_contracts)):
            if wanted is not None and key[0] not in wanted:
                continue
            ours, theirs = agent_contracts.get(key, ZERO), mirror_contracts.get(key, ZERO)
            if ours != theirs:
                errors.append(f"{_key(key)}: agents hold {ours} contracts, the venue {theirs}")
        return errors
