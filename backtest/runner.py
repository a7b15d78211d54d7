"""The backtest: the same cores as a paper run, wired in one process on a simulated clock.

Per market instant (a group of events with the same time), in this order: the
paper venues apply the events (books, trades, bars, funding, their model
liquidations), the gateway takes the mids as marks, each agent folds the events
in and decides, and its orders go through the real gateway service (engine,
risk checks, WAL on a simulated disk, reservations) to the paper venue. Fills
are polled from the venues after every instant. Nothing runs concurrently, so a
run is deterministic for its data, config and seed.

    python -m backtest.runner --data data/binance-2024-08-08/hftbacktest/usdm --agent mm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.actions import CancelOrder, PlaceOrder  # noqa: E402
from agents.base import AgentCore, Key, whole_instants  # noqa: E402
from agents.idle import idle_reason_of  # noqa: E402
from agents.registry import build_strategy  # noqa: E402
from backtest.stress import DelayLine, Perturbation  # noqa: E402
from core.clock import SimulatedClock  # noqa: E402
from core.config import AgentSpec, PaperConfig, SwarmConfig, load_config, validate_config  # noqa: E402
from core.events import (  # noqa: E402
    FundingPayment,
    Liquidation,
    MarketEvent,
    TopOfBook,
    VenueEvent,
)
from core.models import Market  # noqa: E402
from council.core import CouncilConfig, CouncilCore, VoteKind  # noqa: E402
from exchanges.feeds.actor import marks_of, without_liquidations  # noqa: E402
from exchanges.feeds.replay import ReplayFeed  # noqa: E402
from exchanges.paper.venue import PaperVenue  # noqa: E402
from gateway.disk import SimulatedDisk  # noqa: E402
from gateway.engine import GatewayEngine  # noqa: E402
from gateway.orders import OrderView  # noqa: E402
from gateway.service import GatewayService  # noqa: E402
from gateway.wal import Wal  # noqa: E402
from risk.limits import RiskLimits, limits_of  # noqa: E402

SAMPLE_NS = 60_000_000_000
"""Equity sampling step of the report (one minute of market time)."""


class EquitySampler:
    """Sample each agent's equity (starting budget + P&L at the gateway's marks) on market time.

    A sample is taken at each step boundary crossed, with the state as it was
    before the market moved past it, and once at the end.
    """

    def __init__(self, agents: Sequence[str], budgets: Mapping[str, Decimal], step_ns: int) -> None:
        if step_ns <= 0:
            raise ValueError(f"sample_ns = {step_ns}: must be > 0")
        self._agents = tuple(agents)
        self._budgets = dict(budgets)
        self._step = step_ns
        self._next: int | None = None
        self.first_ns: int | None = None
        self.points: dict[str, list[tuple[int, Decimal]]] = {a: [] for a in self._agents}

    def _take(self, ts_ns: int, engine: GatewayEngine) -> None:
        for agent in self._agents:
            pnl = engine.ledger.valuation(agent)[3] if agent in engine.ledger.agents else Decimal(0)
            self.points[agent].append((ts_ns, self._budgets[agent] + pnl))

    def before(self, ts_ns: int, engine: GatewayEngine) -> None:
        """Call before the market moves to ``ts_ns``: sample every boundary up to it."""
        if self._next is None:
            self.first_ns = ts_ns
            self._take(ts_ns, engine)
            self._next = ts_ns + self._step
            return
        if ts_ns >= self._next:
            # The state is the same at every boundary crossed in one jump: sample it once.
            self._take(self._next + (ts_ns - self._next) // self._step * self._step, engine)
            self._next += ((ts_ns - self._next) // self._step + 1) * self._step

    def finish(self, ts_ns: int, engine: GatewayEngine) -> None:
        if self._next is None:
            return
        last = self.points[self._agents[0]][-1][0] if self._agents else ts_ns
        if ts_ns > last:
            self._take(ts_ns, engine)
        elif self._agents:  # the final state replaces a sample taken at the same instant
            for agent in self._agents:
                self.points[agent].pop()
            self._take(ts_ns, engine)

    def as_json(self) -> dict[str, list[tuple[int, str]]]:
        return {a: [(ts, str(e)) for ts, e in pts] for a, pts in self.points.items()}


@dataclass
class AgentTrace:
    """What one agent did, for the report."""

    inventory: list[tuple[int, str]] = field(default_factory=list)  # (ts_ns, signed position)
    places: int = 0
    cancels: int = 0
    seen_records: int = -1


def _positions(account: Any) -> dict[Key, Decimal]:
    out: dict[Key, Decimal] = {}
    for key, amount in account.positions.items():
        venue, _, symbol = key.partition("|")
        out[(venue, symbol)] = amount
    return out


async def run_backtest(
    data_dir: Path,
    agents: Mapping[str, AgentSpec],
    paper: PaperConfig,
    limits: RiskLimits,
    *,
    symbols: Sequence[str] | None = None,
    council: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    sample_ns: int = SAMPLE_NS,
    progress: Callable[[int, int], None] | None = None,
    perturbation: Perturbation | None = None,
) -> dict[str, Any]:
    """Replay ``data_dir`` through paper venues, the gateway service and ``agents``; return the report.

    ``start_ns``/``end_ns`` replay only that window (books are sent whole at its
    start); each agent's equity (starting budget + P&L at the gateway's marks) is
    sampled every ``sample_ns`` of market time and at the end; ``progress(events,
    ts_ns)`` is called after each batch. ``perturbation`` replays a stress scenario
    (``backtest.stress``): the venues' fees and slippage, the market's prices and
    funding, the agents' latency.
    """
    scenario = perturbation if perturbation is not None else Perturbation()
    paper = scenario.paper(paper)
    stressed = None if scenario.is_base else scenario.start()
    delay = DelayLine(scenario.latency_ns) if scenario.latency_ns else None
    feed = ReplayFeed(
        data_dir, symbols=symbols, venues=paper.venues, start_ns=start_ns, end_ns=end_ns
    )
    files = feed.files()
    start_ns = min((f.first_ns for f in files if f.first_ns is not None), default=0)
    clock = SimulatedClock(max(start_ns - 1, 0))
    venues: dict[str, PaperVenue] = {
        str(name): PaperVenue.from_paper_config(name, clock, paper) for name in paper.venues
    }
    markets: dict[tuple[str, str], Market] = {
        (name, symbol): m for name, v in venues.items() for symbol, m in v.markets().items()
    }
    engine = GatewayEngine(markets, limits, clock)
    service = GatewayService(
        engine=engine, wal=Wal("wal", disk=SimulatedDisk()), venues=dict(venues), clock=clock
    )
    await service.recover()
    service.set_budgets({agent_id: spec.budget for agent_id, spec in agents.items()})
    cores = {
        agent_id: AgentCore(build_strategy(spec.kind, {"agent_id": agent_id, **spec.config}))
        for agent_id, spec in agents.items()
    }
    traces = {agent_id: AgentTrace() for agent_id in agents}
    board = (
        CouncilCore(validate_config(council, CouncilConfig, "[council.config]"), tuple(agents))
        if council is not None
        else None
    )
    events = 0
    instants = 0
    liquidation_counts = {"model": 0, "recorded": 0}
    sampler = EquitySampler(
        tuple(agents), {a: spec.budget for a, spec in agents.items()}, sample_ns
    )
    began = time.perf_counter()
    fills_seen = {name: venue.fill_count for name, venue in venues.items()}
    quoted_ns: int | None = None  # market time of the last order book replayed
    for group in whole_instants(feed.batches(4096)):
        ts = group[0].ts_ns
        if stressed is not None:
            group = stressed.transform(group)
        sampler.before(ts, service.engine)
        clock.advance_to(max(ts, clock.now_ns()))
        made: list[VenueEvent] = []
        for name, venue in venues.items():
            mine = [e for e in group if e.venue == name]
            if mine:
                made.extend(venue.on_market_events(mine))
        # The venues' funding payments on the account: the gateway splits them among
        # the agents (as the feed does in a paper run); the liquidations go on.
        for payment in (e for e in made if isinstance(e, FundingPayment)):
            service.book_funding(payment)
        generated = [e for e in made if not isinstance(e, FundingPayment)]
        for made_liquidation in (e for e in generated if isinstance(e, Liquidation)):
            liquidation_counts[made_liquidation.source] += 1
        prices = marks_of(group)
        if prices:
            service.mark(prices)
        # The agents get liquidations from the venues only (the model's, or the recorded
        # prints a venue took as the market's), so none is seen twice (issue 11).
        seen = [*generated, *without_liquidations(group)]
        if delay is not None:  # the agents see the market late (a stress scenario)
            delay.push(ts, seen)
            seen = delay.release(ts)
        if seen:
            for agent_id, core in cores.items():
                await _decide(service, core, seen, traces[agent_id])
        await _housekeeping(service, venues, fills_seen)
        if board is not None:
            if any(isinstance(e, TopOfBook) for e in group):
                quoted_ns = ts  # the council decides nothing once the books have ended
            await _council(service, board, cores, ts, quoted_ns)
        events += len(group)
        instants += 1
        if progress is not None and instants % 256 == 0:
            progress(events, clock.now_ns())
    if progress is not None:
        progress(events, clock.now_ns())
    for agent_id, core in cores.items():
        for action in core.stop():
            if isinstance(action, CancelOrder):
                await service.cancel(agent_id, action.intent_id)
    await service.poll()
    sampler.finish(clock.now_ns(), engine)
    elapsed = time.perf_counter() - began
    snapshot = engine.snapshot()
    report: dict[str, Any] = {
        "data_dir": str(data_dir),
        "events": events,
        "instants": instants,
        "model_liquidations": liquidation_counts["model"],
        "recorded_liquidations": liquidation_counts["recorded"],
        "liquidation_source": {name: v.liquidation_source() for name, v in venues.items()},
        "elapsed_s": round(elapsed, 3),
        "scenario": scenario.name,
        "events_per_s": round(events / elapsed) if elapsed else None,
        "breaker": str(snapshot.breaker),
        "gateway_counters": dict(snapshot.counters),
        "venue_conservation_errors": sum(len(v.check_conservation()) for v in venues.values()),
        "agents": {},
        "first_ns": sampler.first_ns,
        "last_ns": clock.now_ns(),
        "starting_budgets": {a: str(spec.budget) for a, spec in agents.items()},
        "equity": sampler.as_json(),
    }
    if board is not None:
        report["council"] = {
            "decisions": len(board.history),
            "history": [d.log_payload() for d in board.history],
        }
    for agent_id, core in cores.items():
        view = snapshot.agents.get(agent_id)
        orders = [o for o in snapshot.orders if o.agent_id == agent_id]
        report["agents"][agent_id] = _agent_report(core, view, orders, traces[agent_id])
    return report


async def _decide(
    service: GatewayService,
    core: AgentCore[Any, Any],
    events: Sequence[MarketEvent],
    trace: AgentTrace,
) -> None:
    if (
        trace.seen_records != service.stats.records
    ):  # the gateway logged something: refresh the view
        account = service.agent_account(
            core.agent_id, [o.intent_id for o in core.account.open_orders]
        )
        core.on_account(
            account.orders, _positions(account), account.budget, account.free, account.breaker
        )
        trace.seen_records = service.stats.records
    for action in core.on_events(events):
        if isinstance(action, PlaceOrder):
            result = await service.submit(action.intent)
            core.on_placed(action, result.order, result.denial.message if result.denial else None)
            trace.places += 1
        else:
            answer = await service.cancel(core.agent_id, action.intent_id)
            core.on_canceled(action, answer if isinstance(answer, OrderView) else None)
            trace.cancels += 1
    position = sum(core.account.positions.values(), Decimal(0))
    if not trace.inventory or trace.inventory[-1][1] != str(position):
        trace.inventory.append((events[-1].ts_ns, str(position)))


async def _housekeeping(
    service: GatewayService, venues: Mapping[str, PaperVenue], fills_seen: dict[str, int]
) -> None:
    """What ``service.poll()`` does after an instant, asking the venues only when it matters.

    The paper venues answer at once and in process, so their trades are fetched only when
    one of them booked a new fill since the last fetch (the fetch re-reads a look-back
    window each time: on every instant it cost more than the whole strategy), and orders
    are asked about only when the gateway holds some it cannot resolve alone. The fills
    are applied at the same instant either way.
    """
    counts = {name: venue.fill_count for name, venue in venues.items()}
    if counts != fills_seen:
        await service.poll_fills()
        fills_seen.update(counts)
    if service.engine.unresolved():
        await service.resolve_unresolved()
    service.tick()


async def _council(
    service: GatewayService,
    board: CouncilCore,
    cores: Mapping[str, AgentCore[Any, Any]],
    ts_ns: int,
    quoted_ns: int | None = None,
) -> None:
    """What the council actor does on a tick, in process: decide, log with the budgets, apply votes."""
    if not board.due(ts_ns, quoted_ns):
        return  # between boundaries (as the actor, it reads the books only when due)
    views = {a: service.engine.agent_view(a) for a in cores}
    pnls = {a: v.pnl for a, v in views.items() if v is not None}
    budgets = {a: v.budget for a, v in views.items() if v is not None}
    decision = board.on_time(ts_ns, pnls, budgets, quoted_ns=quoted_ns)
    if decision is None:
        return
    service.log_council(decision.log_payload(), decision.budgets)
    for vote in decision.votes:
        core = cores[vote.agent_id]
        if vote.kind is VoteKind.PAUSE:
            for action in core.pause(vote.reason):
                if isinstance(action, CancelOrder):
                    answer = await service.cancel(core.agent_id, action.intent_id)
                    core.on_canceled(action, answer if isinstance(answer, OrderView) else None)
        else:
            core.resume()


def _agent_report(
    core: AgentCore[Any, Any], view: Any, orders: list[OrderView], trace: AgentTrace
) -> dict[str, Any]:
    filled = [o for o in orders if o.filled > 0]
    buys = [o for o in filled if o.side == "buy" and o.average_price is not None]
    sells = [o for o in filled if o.side == "sell" and o.average_price is not None]

    def vwap(side: list[OrderView]) -> Decimal | None:
        amount = sum((o.filled for o in side), Decimal(0))
        if not amount:
            return None
        return (
            sum((o.filled * o.average_price for o in side if o.average_price), Decimal(0)) / amount
        )

    buy_px, sell_px = vwap(buys), vwap(sells)
    notional = sum((o.filled * o.average_price for o in filled if o.average_price), Decimal(0))
    inventories = [Decimal(q) for _, q in trace.inventory] or [Decimal(0)]
    return {
        "decisions": core.metrics.decisions,
        "orders": len(orders),
        "cancels": trace.cancels,
        "denied": core.metrics.denied,
        "errors": core.metrics.errors,
        "filled_orders": len(filled),
        "bought": str(sum((o.filled for o in buys), Decimal(0))),
        "sold": str(sum((o.filled for o in sells), Decimal(0))),
        "avg_buy": str(buy_px) if buy_px else None,
        "avg_sell": str(sell_px) if sell_px else None,
        "spread_captured": str(sell_px - buy_px) if buy_px and sell_px else None,
        "inventory_min": str(min(inventories)),
        "inventory_max": str(max(inventories)),
        "inventory_changes": len(trace.inventory),
        "traded_notional": str(notional),
        "fees": {k: str(v) for k, v in view.fees.items()} if view else {},
        "funding": {k: str(v) for k, v in view.funding.items()} if view else {},
        "realized": str(view.realized) if view else "0",
        "unrealized": str(view.unrealized) if view else "0",
        "pnl": str(view.pnl) if view else "0",
        "idle_reason": idle_reason_of(core.stats(), len(orders)),
        **_quote_figures(core.state),
    }


def _quote_figures(state: Any) -> dict[str, Any]:
    """A market maker's last quote figures (bps: fee, adverse selection measured, spread)."""
    figures = getattr(state, "figures", None)
    adverse = getattr(state, "adverse", None)
    if figures is None or adverse is None:
        return {}
    return {
        "quote_figures_bps": {
            "fee": round(figures.fee_bps, 3),
            "adverse_selection": round(figures.adverse_bps, 3),
            "adverse_samples": adverse.samples,
            "edge": round(figures.edge_bps, 3),
            "model_spread": round(figures.model_spread_bps, 3),
            "quoted_spread": round(figures.spread_bps, 3),
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "configs" / "backtest.toml"))
    parser.add_argument("--data", help="data directory (default: the config's paper.data_dir)")
    parser.add_argument(
        "--agent", action="append", help="run only these agents of the config (repeatable)"
    )
    parser.add_argument(
        "--symbols", help="comma-separated symbols or bases to replay (default: all)"
    )
    args = parser.parse_args(argv)
    config = load_config(args.config, SwarmConfig)
    agents = {
        k: v for k, v in config.agents.items() if v.enabled and (not args.agent or k in args.agent)
    }
    data = Path(args.data or config.paper.data_dir)
    if not data.is_absolute() and not data.exists():
        data = ROOT / data
    limits = limits_of(config)
    symbols = args.symbols.split(",") if args.symbols else None
    from exchanges.feeds.replay import ReplayFeed
    from exchanges.feeds.subscriptions import bind_agents

    files = ReplayFeed(data, symbols=symbols).files()
    agents, bindings, unserved = bind_agents(agents, files, config.paper.venues)
    for line in bindings:
        print(f"bound to the data: {line}", file=sys.stderr)
    council = config.council.config if config.council.enabled else None
    report = asyncio.run(
        run_backtest(data, agents, config.paper, limits, symbols=symbols, council=council)
    )
    report["bound_to_data"] = bindings
    for agent_id, reason in unserved.items():  # the data, not the strategy, held these back
        if not report["agents"][agent_id]["orders"]:
            report["agents"][agent_id]["idle_reason"] = reason
    print(json.dumps(report, default=str, sort_keys=True))
    return 0 if report["venue_conservation_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
