"""Equity series of a paper or live run, rebuilt from its audit store's rows (pure, no duckdb).

Input: the ``fills`` rows (each agent's trades, with fees), the ``funding``
ledger rows and the ``budgets`` rows of ``gateway.audit``. Per agent and
(venue, symbol) the position is carried at average cost: a trade that
reduces it realizes ``(price - average cost) * closed * contract size``.

Marks: the store holds no market prices, so an open position is valued at
the **last fill price of its (venue, symbol) in the run, any agent's, at or
before the sampling time** (at its own average cost before any such fill).
The report says so. A fee in the base asset is valued at its fill's price.

Equity of an agent at time t = its first budget + realized - fees + funding
+ unrealized, sampled on a regular grid of the records' time (``at_ns``: the
gateway's clock, market time in lockstep runs, wall time otherwise) so the
per-period figures of ``backtest.metrics`` apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from backtest.summary import RunSeries
from core.errors import InvalidValue

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class FillRow:
    at_ns: int
    agent_id: str
    venue: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee_cost: Decimal | None
    fee_currency: str | None


@dataclass(frozen=True)
class FundingRow:
    at_ns: int
    agent_id: str
    amount: Decimal


@dataclass
class _Holding:
    contracts: Decimal = ZERO
    average: Decimal = ZERO


@dataclass
class _Book:
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    notional: Decimal = ZERO
    holdings: dict[tuple[str, str], _Holding] = field(default_factory=dict)

    def fill(self, row: FillRow, size: Decimal) -> None:
        signed = row.amount if row.side == "buy" else -row.amount
        holding = self.holdings.setdefault((row.venue, row.symbol), _Holding())
        q = holding.contracts
        if q == 0 or (q > 0) == (signed > 0):  # opening or adding: new average cost
            total = q + signed
            holding.average = (holding.average * abs(q) + row.price * abs(signed)) / abs(total)
            holding.contracts = total
        else:
            closed = min(abs(q), abs(signed))
            direction = ONE if q > 0 else -ONE
            self.realized += (row.price - holding.average) * closed * size * direction
            holding.contracts = q + signed
            if holding.contracts != 0 and (holding.contracts > 0) != (q > 0):  # flipped
                holding.average = row.price
            elif holding.contracts == 0:
                holding.average = ZERO
        self.notional += row.price * row.amount * size
        if row.fee_cost:
            base = row.symbol.partition("/")[0]
            self.fees += row.fee_cost * row.price if row.fee_currency == base else row.fee_cost

    def unrealized(
        self, marks: Mapping[tuple[str, str], Decimal], sizes: Mapping[tuple[str, str], Decimal]
    ) -> Decimal:
        total = ZERO
        for key, h in self.holdings.items():
            if h.contracts:
                mark = marks.get(key, h.average)
                total += (mark - h.average) * h.contracts * sizes.get(key, ONE)
        return total


def grid(start_ns: int, end_ns: int, step_ns: int) -> list[int]:
    """Return ``start, start + step, ...`` and ``end`` (always included)."""
    if step_ns <= 0:
        raise InvalidValue("step_ns", step_ns, "must be > 0")
    times = list(range(start_ns, end_ns, step_ns))
    return [*times, end_ns] if not times or times[-1] != end_ns else times


def equity_from_audit(
    fills: Iterable[FillRow],
    funding: Iterable[FundingRow],
    budgets: Sequence[tuple[int, Mapping[str, Decimal]]],
    *,
    contract_sizes: Mapping[tuple[str, str], Decimal] | None = None,
    samples: int = 200,
    min_step_ns: int = 1_000_000_000,
) -> RunSeries:
    """Return the run's ``RunSeries`` (see the module doc); ``budgets`` as (at_ns, changes)."""
    if not budgets:
        raise InvalidValue("budgets", [], "the run set no budget: no agent to report on")
    sizes = dict(contract_sizes or {})
    starting: dict[str, Decimal] = {}
    for _, change in budgets:
        for agent, amount in change.items():
            starting.setdefault(agent, amount)
    events: list[tuple[int, int, FillRow | FundingRow]] = [
        (f.at_ns, 0, f) for f in fills if f.agent_id in starting
    ]
    events += [(f.at_ns, 1, f) for f in funding if f.agent_id in starting]
    events.sort(key=lambda e: (e[0], e[1]))
    # The first budgets may be stamped before the run's clock started (0 in a lockstep run):
    # the series starts at the first trade or funding, and budgets set earlier apply from there.
    start = events[0][0] if events else budgets[0][0]
    end = max([budgets[-1][0], *(e[0] for e in events)])
    budgets = [(max(ts, start), change) for ts, change in budgets]
    step = max(min_step_ns, (end - start) // max(samples, 1))
    books = {agent: _Book() for agent in starting}
    marks: dict[tuple[str, str], Decimal] = {}
    equity: dict[str, list[tuple[int, Decimal]]] = {agent: [] for agent in starting}
    index = 0
    for t in grid(start, end, step):
        while index < len(events) and events[index][0] <= t:
            row = events[index][2]
            if isinstance(row, FillRow):
                key = (row.venue, row.symbol)
                books[row.agent_id].fill(row, sizes.get(key, ONE))
                marks[key] = row.price
            else:
                books[row.agent_id].funding += row.amount
            index += 1
        for agent, book in books.items():
            value = (
                starting[agent]
                + book.realized
                - book.fees
                + book.funding
                + book.unrealized(marks, sizes)
            )
            equity[agent].append((t, value))
    return RunSeries(
        equity=equity,
        traded_notional={a: b.notional for a, b in books.items()},
        fees={a: b.fees for a, b in books.items()},
        funding={a: b.funding for a, b in books.items()},
        budgets=list(budgets),
    )
