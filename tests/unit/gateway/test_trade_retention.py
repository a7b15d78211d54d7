"""Trade ids pruned behind the fill cursor: bounded, and never a trade booked twice.

The engine keeps the ids of trades up to ``trade_id_retention_ns`` behind the newest
trade booked (at least the fill cursor's lookback), refuses an older trade as possibly
booked, and folds the perp history behind into one holding. The cursor is durable (the
log's newest trade): a restarted gateway asks from there, and a venue that still sends
an old trade does not get it booked a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from core.clock import NS_PER_S, SimulatedClock
from core.models import Side, Trade
from gateway.checkpoint import Checkpointer, CheckpointSettings, CheckpointStore
from gateway.disk import OsDisk
from gateway.engine import GatewayEngine
from gateway.engine_types import FILL_LOOKBACK_MS, EngineConfig, EventOutcome
from gateway.ledger import Ledger
from gateway.service import GatewayService
from gateway.wal import Wal
from tests.unit.gateway.checkpoint_support import LIMITS, AgreeingVenue, Generator
from tests.unit.gateway.engine_support import (
    MARKETS,
    PERP,
    PERP_MARKET,
    START_NS,
    VENUE,
    D,
    apply,
    intent,
    make_engine,
    trade,
)

PRUNING = EngineConfig(
    terminal_order_retention_ns=60 * NS_PER_S,
    trade_id_retention_ns=60 * NS_PER_S,
)


def _at(base: Trade, trade_id: str, timestamp_ms: int) -> Trade:
    return base.model_copy(update={"id": trade_id, "timestamp": timestamp_ms})


def test_fill_when_older_than_kept_trade_ids_then_refused_not_booked_again() -> None:
    engine, _ = make_engine(config=PRUNING)
    decision = engine.submit(intent("a", amount="0.01"))
    apply(engine, decision.records)  # type: ignore[union-attr]
    first = trade(decision, "t1", "0.004")  # type: ignore[arg-type]
    apply(engine, engine.on_fill(_at(first, "t1", 1_000)).records)
    apply(engine, engine.on_fill(_at(first, "t2", 1_000 + 3 * FILL_LOOKBACK_MS)).records)
    assert engine.ledger.seen_trades == {(VENUE, "t2")}
    again = engine.on_fill(_at(first, "t1", 1_000))
    assert again.outcome is EventOutcome.DUPLICATE and not again.records
    assert engine.order_for("mm", "a").filled == D("0.008")  # type: ignore[union-attr]


def test_fill_when_retention_off_then_every_trade_id_kept() -> None:
    engine, _ = make_engine()
    decision = engine.submit(intent("a", amount="0.01"))
    apply(engine, decision.records)  # type: ignore[union-attr]
    first = trade(decision, "t1", "0.004")  # type: ignore[arg-type]
    apply(engine, engine.on_fill(_at(first, "t1", 1_000)).records)
    apply(engine, engine.on_fill(_at(first, "t2", 10**9)).records)
    assert engine.ledger.seen_trades == {(VENUE, "t1"), (VENUE, "t2")}


def _perp_ledger() -> Ledger:
    return Ledger(MARKETS, Decimal("0.00000001"))


def _book(ledger: Ledger, trades: Sequence[tuple[str, int, str, str]]) -> None:
    for tid, ts, side, price in trades:
        s = Side.BUY if side == "buy" else Side.SELL
        ledger.apply_fill("mm", PERP_MARKET, tid, s, D(price), D("0.3"), D(0), None, ts)


def test_prune_when_perp_history_folded_then_late_fill_books_as_without_pruning() -> None:
    early = [
        ("a", 1_000, "buy", "100.37"),
        ("b", 2_000, "buy", "101.11"),
        ("c", 3_000, "sell", "99.5"),
    ]
    late = [("d", 560_000, "sell", "102.9"), ("e", 600_000, "buy", "98.13")]
    out_of_order = [("f", 580_000, "sell", "103.77")]
    pruned, whole = _perp_ledger(), _perp_ledger()
    for ledger in (pruned, whole):
        _book(ledger, early + late)
    assert pruned.prune_trades(VENUE, FILL_LOOKBACK_MS) == 3
    assert [entry[0][2] for entry in pruned.venues[VENUE].history[PERP]] == ["d", "e"]
    for ledger in (pruned, whole):
        _book(ledger, out_of_order)
    assert pruned.venues[VENUE].positions[PERP] == whole.venues[VENUE].positions[PERP]
    assert pruned.venues[VENUE].cash == whole.venues[VENUE].cash
    assert pruned.seen_trades == {(VENUE, t) for t in "def"}


class ReplayingVenue(AgreeingVenue):
    """Reports every trade it was given whatever ``since`` asks (a venue that re-sends)."""

    def __init__(self, reference: GatewayEngine, trades: list[Trade]) -> None:
        super().__init__(reference, MARKETS)
        self.trades = trades
        self.asked_since: list[int | None] = []

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        self.asked_since.append(since)
        return list(self.trades)


def test_restart_when_trade_ids_pruned_then_refetched_old_trade_not_booked_twice(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(START_NS)
    engine = GatewayEngine(MARKETS, LIMITS, clock, config=PRUNING)
    wal = Wal(tmp_path)
    wal.recover()
    settings = CheckpointSettings(every_records=400, every_s=None, retire="keep")
    store = CheckpointStore(OsDisk(tmp_path))
    generator = Generator(engine, clock, wal, Checkpointer(store, settings, clock))
    booked: list[Trade] = []
    on_fill = engine.on_fill

    def recording(trade: Trade) -> object:
        booked.append(trade)
        return on_fill(trade)

    engine.on_fill = recording  # type: ignore[assignment,method-assign]
    generator.start()
    generator.run(1_500)
    assert store.sequences(), "no checkpoint taken"
    assert len(engine.ledger.seen_trades) < len(booked) // 2  # pruned behind the cursor
    venue = ReplayingVenue(engine, booked)
    restarted = GatewayService(
        engine=GatewayEngine(MARKETS, LIMITS, clock, config=PRUNING),
        wal=Wal(tmp_path),
        venues={VENUE: venue},
        clock=clock,
        checkpoints=Checkpointer(store, settings, clock),
    )
    asyncio.run(restarted.recover())
    assert restarted.stats.recovery["fills"] == 0
    assert restarted.stats.recovery["reconciliation"] == {VENUE: "match"}
    assert venue.asked_since[0] == max(t.timestamp for t in booked) - FILL_LOOKBACK_MS
    assert restarted.engine.ledger.expected_balances(VENUE) == engine.ledger.expected_balances(
        VENUE
    )
    assert restarted.engine.snapshot().agents == engine.snapshot().agents
