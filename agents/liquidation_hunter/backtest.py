"""Backtest the liquidation hunter on replayed data through one in-process ``PaperVenue``.

``python -m agents.liquidation_hunter.backtest [--data DIR] [--seed N] [--explain] [--no-model]``

Each event of ``ReplayFeed`` goes to the venue first (it rebuilds the book, fills
our resting orders from the bar's range, and its synthetic population emits the
forced liquidations the price path causes); then the perpetual's snapshot (the
feed's quote, the liquidations the venue published, the bar's volume, the open
interest of the latest mark, our position and open orders as the venue reports
them) goes to ``decide``, and its actions are submitted to or cancelled at the same
venue. Fills are read from the venue's ``my_trades``. The run prints one JSON line.

Liquidations: a data set that holds recorded ones (a Bybit ``allLiquidation``
capture, a recorder's ``*.swarm.parquet``) is replayed with the model off (a first
pass counts them); otherwise the model's. ``--explain`` prints, after each detected
cascade, its figures, what the hunter did and the mid's move after it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.explain import describe_cascade, idle_reason
from agents.liquidation_hunter.logic import (
    Cascade,
    HunterSnapshot,
    HunterState,
    OpenOrderView,
    decide,
    initial_state,
)
from core.clock import SimulatedClock
from core.errors import DeniedError
from core.events import Bar, Liquidation, MarkEvent, TopOfBook, TradeTick
from core.models import Trade
from core.money import ZERO
from exchanges.feeds.replay import ReplayFeed
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig
from exchanges.paper.venue import PaperVenue

VENUE = "bybit"
SYMBOL = "BTC/USDT:USDT"
SETTLE = "USDT"
DEFAULT_DATA = Path("data/bybit-btcusdt-2022-12-13")
START_BALANCE = Decimal(100_000)
HORIZONS_MIN = (5, 15, 60)
_NS_PER_MIN = 60_000_000_000

EXPLAIN = """\
What this backtest is. The hunter's pure decide() runs over the data's quotes (and
bars, marks) against an in-process PaperVenue that fills its orders. On the default
data (Bybit BTCUSDT perpetual minute bars and quotes of 2022-12-13 00:00-12:00 UTC,
the hours before that day's US CPI print) no public recording of forced liquidations
exists, so the liquidations the hunter reacts to are MODELLED: a synthetic population
of leveraged positions (exchanges/paper/liquidation_model.py), calibrated to a
published daily average and driven by the real price path, is liquidated when that
path crosses its liquidation prices. Every cascade it produces is a consequence of a
price move that already happened, not a cause of the next one. Data that holds
recorded liquidations (a Bybit allLiquidation capture, main.py record's files) is
replayed with the model off: the recorded prints are the truth.

What it shows. That the mechanics work end to end: detection per side over a window
(liquidation flow against traded notional and touch depth, the price move in sigma
of the window's expected move, the open-interest drop where the data has marks),
the wait for the cascade's exhaustion before a post-only fade, reduce-only
take-profit / stop / time-stop exits that never flip the position, cooldown and cap,
fees and P&L as the venue books them. After each cascade it says what the hunter
did and how the mid moved 5, 15 and 60 minutes later.

What it does not show. Any edge. Whether crypto liquidation cascades revert or
continue at minutes-to-hours horizons is not settled by what we could check (the one
cascade the default data gave on main ran on +52 bp the same way: momentum), which is
why the hunter fades only an exhausted cascade and records every one it let pass.
A handful of cascades on one half-day cannot confirm or refute either; the counts
are far too small for a win rate or a mean return to mean anything, and minute bars
hide the within-minute path where a real cascade's overshoot lives (a bar's low
filling a resting buy assumes our order was reached, with queue position ignored).
Before trusting the strategy, run it on recorded liquidations over many volatile
days and test the forward returns for reversal against momentum with proper
statistics.
"""


def default_config(agent_id: str = "liquidation-hunter") -> LiquidationHunterConfig:
    """Return the configuration the backtest runs with (BTCUSDT perp on Bybit)."""
    return LiquidationHunterConfig(
        agent_id=agent_id,
        venue=VENUE,
        symbol=SYMBOL,
        price_tick=Decimal("0.1"),
        amount_step=Decimal("0.001"),
        order_size=Decimal("0.5"),
        max_position=Decimal("1"),
        min_top_depth=Decimal("0.5"),
    )


def loose_config() -> LiquidationHunterConfig:
    """Return thresholds low enough that most modelled liquidations count (a mechanics check)."""
    return default_config().model_copy(
        update={
            "min_cascade_notional": Decimal(90_000),
            "min_volume_ratio": ZERO,
            "min_depth_ratio": ZERO,
            "min_top_depth": ZERO,
        }
    )


class _Book:
    """The newest quote of the perpetual and the newest feed time."""

    def __init__(self) -> None:
        self.quote: TopOfBook | None = None
        self.mark: MarkEvent | None = None
        self.feed_ts_ns: int | None = None
        self.mid_path: list[tuple[int, Decimal]] = []


def run(
    data_dir: Path = DEFAULT_DATA,
    seed: int = 7,
    config: LiquidationHunterConfig | None = None,
    model: bool = True,
) -> dict[str, object]:
    """Replay ``data_dir`` through the hunter and a paper venue; return the report.

    ``model``: the venue's synthetic liquidations on; off, only recorded ones in the data.
    """
    config = config or default_config()
    clock = SimulatedClock(0)
    recorded = count_recorded_liquidations(data_dir)
    model = model and recorded == 0  # recorded prints are the truth: the model stays off
    venue_config = PaperVenueConfig(liquidation_model=LiquidationModelConfig(enabled=model))
    venue = PaperVenue(
        VENUE, clock, seed=seed, config=venue_config, initial_balances={SETTLE: START_BALANCE}
    )
    state: HunterState = initial_state()
    book = _Book()
    cloid_to_intent: dict[str, tuple[str, bool]] = {}  # cloid -> (intent id, reduce_only)
    rejections = 0
    equity_path: list[Decimal] = []
    feed = ReplayFeed(data_dir, symbols=[SYMBOL], venues=[VENUE])
    for event in feed:
        if event.ts_ns > clock.now_ns():
            clock.advance_to(event.ts_ns)
        made = venue.on_market_event(event)
        if event.symbol != SYMBOL and not made:
            continue
        book.feed_ts_ns = event.ts_ns
        bars: tuple[Bar, ...] = ()
        trades: tuple[TradeTick, ...] = ()
        if isinstance(event, TopOfBook) and event.symbol == SYMBOL:
            book.quote = event
        elif isinstance(event, MarkEvent) and event.symbol == SYMBOL:
            book.mark = event
        elif isinstance(event, Bar) and event.symbol == SYMBOL:
            bars = (event,)
        elif isinstance(event, TradeTick) and event.symbol == SYMBOL:
            trades = (event,)
        # Liquidations come from the venue only: the model's, or the recorded prints it took.
        liquidations = tuple(e for e in made if isinstance(e, Liquidation))
        snapshot = _snapshot(venue, book, event.ts_ns, cloid_to_intent, liquidations, bars, trades)
        if snapshot.best_bid is not None and snapshot.best_ask is not None:
            book.mid_path.append((event.ts_ns, (snapshot.best_bid + snapshot.best_ask) / 2))
        state, actions = decide(state, snapshot, config)
        rejections += _execute(venue, actions, cloid_to_intent)
        equity_path.append(_equity(venue, book))
    fills = venue.my_trades(SYMBOL)
    return _report(state, fills, equity_path, book, rejections, venue, seed, data_dir, config)


def _snapshot(
    venue: PaperVenue,
    book: _Book,
    ts_ns: int,
    cloid_to_intent: dict[str, tuple[str, bool]],
    liquidations: tuple[Liquidation, ...],
    bars: tuple[Bar, ...],
    trades: tuple[TradeTick, ...],
) -> HunterSnapshot:
    position, entry = ZERO, None
    for held in venue.positions([SYMBOL]):
        position, entry = held.signed_contracts, held.entry_price
    open_orders = []
    for order in venue.open_orders(SYMBOL):
        known = cloid_to_intent.get(order.client_order_id or "")
        if known is None:
            continue
        open_orders.append(
            OpenOrderView(
                intent_id=known[0],
                side=order.side,
                price=order.price,
                remaining=order.remaining if order.remaining is not None else order.amount,
                reduce_only=known[1],
            )
        )
    quote = book.quote
    return HunterSnapshot(
        ts_ns=ts_ns,
        best_bid=None if quote is None else quote.bid,
        bid_size=None if quote is None else quote.bid_size,
        best_ask=None if quote is None else quote.ask,
        ask_size=None if quote is None else quote.ask_size,
        feed_ts_ns=book.feed_ts_ns,
        position=position,
        entry_price=entry,
        open_orders=tuple(open_orders),
        liquidations=liquidations,
        bars=bars,
        trades=trades,
        open_interest=None if book.mark is None else book.mark.open_interest,
        open_interest_ts_ns=None if book.mark is None else book.mark.ts_ns,
    )


def _execute(
    venue: PaperVenue, actions: Sequence[Action], cloid_to_intent: dict[str, tuple[str, bool]]
) -> int:
    """Do the actions at the venue; return how many it refused."""
    refused = 0
    by_intent: dict[str, str] = {
        intent_id: cloid for cloid, (intent_id, _) in cloid_to_intent.items()
    }
    for action in actions:
        if isinstance(action, PlaceOrder):
            intent = action.intent
            cloid: str = intent.client_order_id
            cloid_to_intent[cloid] = (intent.intent_id, intent.reduce_only)
            by_intent[intent.intent_id] = cloid
            try:
                venue.submit(intent.to_request(cloid))
            except DeniedError:
                refused += 1
        elif isinstance(action, CancelOrder):
            known = by_intent.get(action.intent_id)
            if known is None:
                continue
            try:
                venue.cancel(SYMBOL, client_order_id=known)
            except DeniedError:
                pass  # filled or already closed: nothing left to cancel
    return refused


def _equity(venue: PaperVenue, book: _Book) -> Decimal:
    cash = venue.balances().total(SETTLE)
    unrealized = sum((p.unrealized_pnl or ZERO for p in venue.positions([SYMBOL])), ZERO)
    return cash + unrealized


def _forward_returns(
    cascades: Sequence[tuple[int, str]], mid_path: Sequence[tuple[int, Decimal]]
) -> dict[str, dict[str, object]]:
    """Return the mean mid return (bps) ``HORIZONS_MIN`` after each cascade, by liquidated side."""
    out: dict[str, dict[str, object]] = {}
    for side, label in (("sell", "long_liquidations"), ("buy", "short_liquidations")):
        chosen = [ts for ts, s in cascades if s == side]
        entry: dict[str, object] = {"count": len(chosen)}
        for minutes in HORIZONS_MIN:
            returns = []
            for ts in chosen:
                start = _mid_at(mid_path, ts)
                end = _mid_at(mid_path, ts + minutes * _NS_PER_MIN)
                if start is not None and end is not None and end[0] >= ts + minutes * _NS_PER_MIN:
                    returns.append(float((end[1] / start[1] - 1) * 10_000))
            entry[f"{minutes}m_mean_bps"] = _mean(returns)
            entry[f"{minutes}m_n"] = len(returns)
        out[label] = entry
    return out


def count_recorded_liquidations(data_dir: Path) -> int:
    """Return how many recorded liquidations of the hunter's market ``data_dir`` holds."""
    feed = ReplayFeed(data_dir, symbols=[SYMBOL], venues=[VENUE])
    return sum(1 for e in feed if isinstance(e, Liquidation) and e.source == "recorded")


def _cascade_entry(cascade: Cascade, mid_path: Sequence[tuple[int, Decimal]]) -> dict[str, object]:
    """Return one cascade's figures, what the hunter did, and the mid's move after it (bps)."""
    after: dict[str, float | None] = {}
    start = _mid_at(mid_path, cascade.detected_ns)
    for minutes in HORIZONS_MIN:
        target = cascade.detected_ns + minutes * _NS_PER_MIN
        end = _mid_at(mid_path, target)
        ok = start is not None and end is not None and end[0] >= target
        after[f"{minutes}m_bps"] = (
            round(float((end[1] / start[1] - 1) * 10_000), 1) if ok and start and end else None
        )
    return {
        "detected_ns": cascade.detected_ns,
        "side": cascade.side,
        "text": describe_cascade(cascade),
        "outcome": cascade.outcome,
        "mid_move_after": after,
    }


def describe_cascades(report: dict[str, object]) -> str:
    """Return, for each detected cascade, what the hunter did and what the mid did after."""
    log = report.get("cascade_log")
    assert isinstance(log, list)
    if not log:
        return f"No cascade detected; the hunter says: {report.get('idle_reason')}"
    lines = ["After each detected cascade:"]
    for entry in log:
        when = datetime.fromtimestamp(entry["detected_ns"] / 1e9, tz=UTC).strftime("%H:%M:%S")
        push = -1 if entry["side"] == "sell" else 1  # the direction the forced orders pushed
        moves = []
        for minutes in HORIZONS_MIN:
            bps = entry["mid_move_after"][f"{minutes}m_bps"]
            if bps is None:
                moves.append(f"{minutes} min n/a")
                continue
            kind = "momentum" if bps * push > 0 else "reversal"
            moves.append(f"{minutes} min {bps:+.1f} bp ({kind})")
        lines.append(f"- {when} UTC {entry['text']}. Then the mid: " + ", ".join(moves) + ".")
    return "\n".join(lines)


def _mid_at(mid_path: Sequence[tuple[int, Decimal]], ts_ns: int) -> tuple[int, Decimal] | None:
    """Return the first mid at or after ``ts_ns``."""
    for point in mid_path:
        if point[0] >= ts_ns:
            return point
    return None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _report(
    state: HunterState,
    fills: Sequence[Trade],
    equity_path: Sequence[Decimal],
    book: _Book,
    rejections: int,
    venue: PaperVenue,
    seed: int,
    data_dir: Path,
    config: LiquidationHunterConfig,
) -> dict[str, object]:
    fees = sum((f.fee.cost for f in fills if f.fee is not None), ZERO)
    round_trips = _round_trips(fills)
    wins = sum(1 for pnl in round_trips if pnl > 0)
    peak, drawdown = None, ZERO
    for equity in equity_path:
        peak = equity if peak is None or equity > peak else peak
        drawdown = max(drawdown, peak - equity)
    final = equity_path[-1] if equity_path else START_BALANCE
    tally = state.tally
    cascades = [(c.detected_ns, c.side) for c in state.cascades]
    return {
        "data": str(data_dir),
        "seed": seed,
        "liquidation_source": venue.liquidation_source(),
        "liquidations_modelled": venue.stats()["model_liquidations"],
        "cascades": {
            "long_liquidations": tally.cascades_long_liquidations,
            "short_liquidations": tally.cascades_short_liquidations,
        },
        "liquidations_counted": tally.liquidations_counted,
        "liquidation_repeats_dropped": tally.repeats_dropped,
        "model_prints_dropped": tally.model_dropped,
        "entries_placed": tally.entries_placed,
        "trades_opened": tally.trades_opened,
        "exits": {str(reason): n for reason, n in tally.exits},
        "fills": len(fills),
        "rejections": rejections,
        "fees": str(fees),
        "pnl": str(final - START_BALANCE),
        "max_drawdown": str(drawdown),
        "round_trips": len(round_trips),
        "win_rate": None if not round_trips else round(wins / len(round_trips), 4),
        "forward_returns": _forward_returns(cascades, book.mid_path),
        "cascade_log": [_cascade_entry(c, book.mid_path) for c in state.cascades],
        "idle_reason": idle_reason(state, config),
    }


def _round_trips(fills: Sequence[Trade]) -> list[Decimal]:
    """Return the net P&L (after fees) of each flat-to-flat sequence of fills."""
    out: list[Decimal] = []
    position, cash = ZERO, ZERO
    for fill in fills:
        signed = fill.amount * fill.side.sign
        cash -= signed * fill.price + (fill.fee.cost if fill.fee is not None else ZERO)
        position += signed
        if position == 0:
            out.append(cash)
            cash = ZERO
    return out


def describe_figures(report: dict[str, object], title: str = "strict gates") -> str:
    """Return what this run's forward returns say, in words, from the report itself."""
    forward = report["forward_returns"]
    assert isinstance(forward, dict)
    lines = [f"What this run's figures say ({title}):"]
    moves = {"long_liquidations": ("down", 1), "short_liquidations": ("up", -1)}
    for label, (pushed, reversal_sign) in moves.items():
        entry = forward[label]
        count = entry["count"]
        if not count:
            lines.append(f"- no {label.replace('_', ' ')} cascade was detected.")
            continue
        parts = []
        for minutes in HORIZONS_MIN:
            mean = entry[f"{minutes}m_mean_bps"]
            if mean is None:
                parts.append(f"{minutes} min: n/a")
                continue
            kind = "reversal" if mean * reversal_sign > 0 else "momentum"
            parts.append(f"{minutes} min: {mean:+.1f} bps ({kind})")
        lines.append(
            f"- {count} {label.replace('_', ' ')} cascade(s) (pushing the price {pushed}); "
            f"mean mid move after: " + "; ".join(parts) + "."
        )
    lines.append(
        f"- entries placed {report['entries_placed']}, trades opened {report['trades_opened']}, "
        f"P&L {report['pnl']} {SETTLE}, win rate {report['win_rate']}."
    )
    lines.append("A handful of events from one morning: anecdotes, not evidence.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the backtest and print its JSON line (or, with ``--explain``, the text too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print what the figures mean")
    parser.add_argument(
        "--no-model", action="store_true", help="use only recorded liquidations in the data"
    )
    args = parser.parse_args(argv)
    model = not args.no_model
    report = run(args.data, args.seed, model=model)
    # A second pass with loose gates exercises entries and exits the strict gates may not reach.
    report["loose_thresholds"] = run(args.data, args.seed, loose_config(), model=model)
    print(json.dumps(report, sort_keys=True))
    if args.explain:
        print(EXPLAIN)
        print(describe_cascades(report))
        print(describe_figures(report))
        loose = report["loose_thresholds"]
        assert isinstance(loose, dict)
        print(describe_figures(loose, "loose gates, a mechanics check"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
