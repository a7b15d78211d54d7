"""``python -m chaos.check``: DESIGN.md's invariants over a paper system's WAL, audit store and venues.

Contract
    Reads, never writes: the gateway's WAL is copied to a temp folder and
    replayed there into the pure ``GatewayEngine`` (a torn tail is cut in the
    copy only); the audit store is opened read-only (a copy of it when the
    running gateway holds duckdb's lock); each ``venue:<name>`` actor is asked
    for its record (``all_orders``, ``my_trades``, ``check_conservation``,
    ``account``). Prints one line per invariant (``chaos.invariants``) and
    exits 1 on any violation, 2 when the record cannot be read.

Usage::

    python -m chaos.check                       # the running system (ray address auto, namespace swarm)
    python -m chaos.check --state-dir var/paper/run-... --final
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from chaos.invariants import AuditRecord, Evidence, InvariantResult, VenueRecord, check
from core.clock import SimulatedClock
from gateway.checkpoint import replay_with_archive
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig
from gateway.wal_format import RecordType
from risk.limits import RiskLimits

# -- READING THE RECORD -----------------------------------------------------------


def read_wal(wal_dir: Path) -> list[tuple[int, RecordType, dict[str, Any]]]:
    """Replay a copy of the WAL in ``wal_dir`` from sequence 1 (the live log is never touched).

    Segments the gateway's checkpoints retired are read from ``wal-archive`` beside it.
    """
    with tempfile.TemporaryDirectory(prefix="chaos-wal-") as tmp:
        copy = Path(tmp) / "wal"
        shutil.copytree(wal_dir, copy)
        archive = wal_dir.parent / "wal-archive"
        return [(r.seq, r.type, r.payload) for r in replay_with_archive(copy, archive)]


def rebuild_engine(
    records: Sequence[tuple[int, RecordType, Any]], markets: dict[tuple[str, str], Any]
) -> GatewayEngine:
    """Apply the WAL's records to a fresh pure engine: the gateway's state as its WAL says."""
    engine = GatewayEngine(markets, RiskLimits(), SimulatedClock(), config=EngineConfig())
    for _, kind, payload in records:
        engine.apply(kind, payload)
    return engine


def read_audit(db_path: Path) -> AuditRecord | None:
    """Read the audit store read-only (from a copy when a writer holds it); None if absent."""
    import duckdb

    if not db_path.exists():
        return None
    try:
        return _audit_from(duckdb.connect(str(db_path), read_only=True))
    except duckdb.Error:
        with tempfile.TemporaryDirectory(prefix="chaos-audit-") as tmp:
            copy = Path(tmp) / db_path.name
            shutil.copy2(db_path, copy)
            sidecar = db_path.with_name(db_path.name + ".wal")
            if sidecar.exists():
                shutil.copy2(sidecar, copy.with_name(copy.name + ".wal"))
            return _audit_from(duckdb.connect(str(copy)))


def _audit_from(con: Any) -> AuditRecord:
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        orders = dict(con.execute("SELECT client_order_id, intent_seq FROM orders").fetchall())
        fills = [
            (str(v), str(t), int(s))
            for v, t, s in con.execute("SELECT venue, trade_id, seq FROM fills").fetchall()
        ]
        records = int(con.execute("SELECT count(*) FROM wal_records").fetchone()[0])
        return AuditRecord(int(meta.get("last_seq", 0)), orders, fills, records)
    finally:
        con.close()


def read_venue(handle: Any) -> tuple[VenueRecord, dict[str, Any]]:
    """Ask one ``venue:<name>`` actor for its record; return it with the venue's markets."""
    import ray

    orders, trades, errors, (balances, positions), markets, ledger = ray.get(
        [
            handle.all_orders.remote(),
            handle.my_trades.remote(),
            handle.check_conservation.remote(),
            handle.account.remote(),
            handle.load_markets.remote(),
            handle.ledger_by_kind.remote(),
        ]
    )
    record = VenueRecord(
        orders=orders,
        trades=trades,
        conservation_errors=errors,
        balances={asset: b.total for asset, b in balances.assets.items()},
        positions={p.symbol: Decimal(p.signed_contracts) for p in positions if p.contracts},
        ledger=ledger,
    )
    return record, markets


def gather(
    state_dir: Path,
    venues: Sequence[str],
    *,
    namespace: str | None = None,
    live_breaker: str | None = None,
    final: bool = False,
) -> Evidence:
    """Collect the evidence of one run (Ray connected; venue actors named ``venue:<name>``)."""
    import ray

    records = read_wal(state_dir / "wal")
    venue_records: dict[str, VenueRecord] = {}
    markets: dict[tuple[str, str], Any] = {}
    for name in venues:
        record, venue_markets = read_venue(ray.get_actor(f"venue:{name}", namespace=namespace))
        venue_records[name] = record
        markets.update({(name, symbol): m for symbol, m in venue_markets.items()})
    return Evidence(
        records=records,
        engine=rebuild_engine(records, markets),
        venues=venue_records,
        audit=read_audit(state_dir / "audit.duckdb"),
        live_breaker=live_breaker,
        final=final,
    )


def report(results: Sequence[InvariantResult]) -> dict[str, int]:
    """Print one line per invariant; return the violation count of each."""
    for result in results:
        print(result.line())
    return {r.name: len(r.violations) for r in results}


# -- CLI ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.check", description=__doc__)
    parser.add_argument("--address", default="auto", help="the Ray cluster (default: auto)")
    parser.add_argument("--namespace", default="swarm")
    parser.add_argument("--state-dir", type=Path, help="the run's folder (default: the gateway's)")
    parser.add_argument("--venues", default=None, help="comma-separated (default: configs/paper)")
    parser.add_argument("--final", action="store_true", help="the run is over: all settled")
    parser.add_argument("--json", action="store_true", help="also print one JSON line of counts")
    args = parser.parse_args(argv)
    import ray

    from core.config import SwarmConfig, load_config

    venues = (
        args.venues.split(",")
        if args.venues
        else list(load_config("configs/paper.toml", SwarmConfig).paper.venues)
    )
    try:
        ray.init(address=args.address, namespace=args.namespace, logging_level=logging.ERROR)
        breaker: str | None = None
        state_dir = args.state_dir
        try:
            from gateway.client import GatewayClient

            status = GatewayClient(deadline_s=10).status()
            breaker = status.get("breaker")
            state_dir = state_dir or Path(status["state_dir"])
        except ValueError:  # no gateway running: the state dir must be given
            if state_dir is None:
                print("error: no gateway running; pass --state-dir", file=sys.stderr)
                return 2
        evidence = gather(state_dir, venues, live_breaker=breaker, final=args.final)
    except Exception as exc:
        print(f"error: cannot read the record: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    counts = report(check(evidence))
    if args.json:
        print(json.dumps({"state_dir": str(state_dir), "violations": counts}, sort_keys=True))
    return 1 if any(counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
