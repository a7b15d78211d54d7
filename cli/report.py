"""``python main.py report``: the backtest's figures for a paper or live run, from its audit store.

Opens ``audit.duckdb`` read-only (the latest ``run-*`` under the config's
``state.dir`` by default; ``--run DIR`` or ``--db FILE`` to choose), rebuilds
each agent's equity from the ``fills``, ``ledger`` (funding) and ``budgets``
rows (``backtest.audit_equity``: open positions valued at the last fill price
of their symbol, said in the report) and prints the same figures as the
backtest report: per agent and in total, return, Sharpe, Sortino, max
drawdown, profit factor, CVaR 95%, turnover, fees and funding; the weight
history (budget shares at each change) and the council's decisions (the
COUNCIL records of ``wal_records``: budgets, weights, reason, votes).
``--html FILE`` writes the same page as the backtest's.

A store the gateway is still writing may be locked by duckdb: the error says
so; ``python -m gateway.audit rebuild`` builds a copy from the WAL.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.controls import controls_of, is_control
from backtest.audit_equity import FillRow, FundingRow, equity_from_audit
from backtest.summary import performance_report
from core.config import SwarmConfig
from core.errors import InvalidValue

ROOT = Path(__file__).resolve().parent.parent
MARKS_NOTE = (
    "open positions valued at the last fill price of their venue and symbol in the run "
    "(the audit store holds no market prices); times are the gateway's record times"
)


def find_store(config: SwarmConfig, run: str | None, db: str | None) -> Path:
    """Return the audit store to read: ``--db``, ``--run``'s, or the latest run's."""
    if db:
        path = Path(db)
    else:
        if run:
            run_dir = Path(run)
        else:
            state = Path(config.state.dir)
            state = state if state.is_absolute() else ROOT / state
            runs = sorted(p for p in state.glob("run-*") if (p / "audit.duckdb").exists())
            if not runs and (state / "audit.duckdb").exists():
                runs = [state]
            if not runs:
                raise InvalidValue("state.dir", str(state), "holds no run with an audit store")
            run_dir = runs[-1]
        path = run_dir / "audit.duckdb"
    if not path.is_file():
        raise InvalidValue("--db", str(path), "no audit store there")
    return path


def read_store(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Read the tables the report needs, read-only."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        raise InvalidValue(
            "--db", str(path), f"cannot open read-only (is the gateway still writing it?): {exc}"
        ) from None
    try:
        return {
            "fills": con.execute(
                "SELECT at_ns, agent_id, venue, symbol, side, price, amount, fee_cost, fee_currency"
                " FROM fills ORDER BY seq, venue, trade_id"
            ).fetchall(),
            "funding": con.execute(
                "SELECT at_ns, agent_id, amount FROM ledger WHERE kind = 'funding' ORDER BY seq, line"
            ).fetchall(),
            "budgets": con.execute(
                "SELECT seq, at_ns, agent_id, amount FROM budgets ORDER BY seq, agent_id"
            ).fetchall(),
            "council": con.execute(
                "SELECT seq, at_ns, payload FROM wal_records WHERE type = 'COUNCIL' ORDER BY seq"
            ).fetchall(),
            "breaker": con.execute(
                "SELECT to_state FROM breaker_history ORDER BY seq DESC LIMIT 1"
            ).fetchall(),
        }
    finally:
        con.close()


def budgets_by_commit(rows: list[tuple[Any, ...]]) -> list[tuple[int, dict[str, Decimal]]]:
    out: dict[int, tuple[int, dict[str, Decimal]]] = {}
    for seq, at_ns, agent, amount in rows:
        out.setdefault(int(seq), (int(at_ns), {}))[1][str(agent)] = Decimal(amount)
    return [out[seq] for seq in sorted(out)]


def council_history(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The council's decisions: time, budgets, the allocator's weights and reason, the votes."""
    history = []
    for seq, at_ns, payload in rows:
        decision: Mapping[str, Any] = json.loads(payload)
        if is_control(decision):
            continue  # an operator's control (agents.controls): see operator_controls
        allocation = decision.get("allocation") or {}
        history.append(
            {
                "seq": seq,
                "ts_ns": decision.get("ts_ns", at_ns),
                "budgets": decision.get("budgets"),
                "weights": allocation.get("weights"),
                "reason": allocation.get("reason"),
                "votes": decision.get("votes", []),
            }
        )
    return history


def operator_controls(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The operator's pause, resume and flatten controls logged with the council's records."""
    return [
        dict(c, seq=seq) for seq, _, payload in rows for c in controls_of([json.loads(payload)])
    ]


def contract_sizes(config: SwarmConfig) -> dict[tuple[str, str], Decimal]:
    """Contract sizes of the configured paper venues' markets (1 where unknown)."""
    from core.clock import SimulatedClock
    from exchanges.paper.venue import PaperVenue

    sizes: dict[tuple[str, str], Decimal] = {}
    for name in config.paper.venues:
        venue = PaperVenue.from_paper_config(name, SimulatedClock(), config.paper)
        for symbol, market in venue.markets().items():
            sizes[(name, symbol)] = market.contract_size
    return sizes


def audit_report(path: Path, config: SwarmConfig, *, folds: int = 0) -> tuple[dict[str, Any], Any]:
    """Return (the report, its RunSeries) for the store at ``path``."""
    tables = read_store(path)
    fills = [
        FillRow(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            str(r[4]),
            Decimal(r[5]),
            Decimal(r[6]),
            None if r[7] is None else Decimal(r[7]),
            r[8],
        )
        for r in tables["fills"]
    ]
    funding = [FundingRow(int(r[0]), r[1], Decimal(r[2])) for r in tables["funding"]]
    budgets = budgets_by_commit(tables["budgets"])
    series = equity_from_audit(fills, funding, budgets, contract_sizes=contract_sizes(config))
    figures = performance_report(series, folds=folds)
    report = {
        "mode": "report",
        "db": str(path),
        "run_dir": str(path.parent),
        "fills": len(fills),
        "funding_payments": len(funding),
        "breaker": tables["breaker"][0][0] if tables["breaker"] else "closed",
        "marks": MARKS_NOTE,
        **figures,
        "council": council_history(tables["council"]),
        "controls": operator_controls(tables["council"]),
    }
    return report, series


def run_report_command(args: Any, config: SwarmConfig) -> int:
    """``main.py report``: print the figures (``--json``: one JSON line), optionally the HTML."""
    from cli.backtest import print_table

    path = find_store(config, args.run, args.db)
    report, series = audit_report(path, config, folds=args.walk_forward or 0)
    if args.html:
        from backtest.html import render_html

        page = render_html(f"Swarm run {path.parent.name}", report, series.equity, [MARKS_NOTE])
        Path(args.html).parent.mkdir(parents=True, exist_ok=True)
        Path(args.html).write_text(page, encoding="utf-8")
        report["html"] = args.html
    if args.json:
        print(json.dumps(report, default=str, sort_keys=True))
    else:
        print_table(report)
        print(f"{len(report['council'])} council decisions; {MARKS_NOTE}", file=sys.stderr)
    return 0
