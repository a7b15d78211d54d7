"""The HTML report: one self-contained page with inline SVG plots (pure, no network, no CDN).

``render_html(title, report, equity, notes)`` returns the page: the figures
table (per agent and total, and per fold when there are folds), the equity
curves, the drawdowns and the weight history, each an inline ``<svg>`` drawn
from the given series. Every text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backtest.metrics import EquityPoint, drawdown_series

WIDTH, HEIGHT, PAD = 900, 260, 48
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
FIGURES = (
    ("total_return", "return"),
    ("pnl", "P&L"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("max_drawdown", "max drawdown"),
    ("profit_factor", "profit factor"),
    ("cvar_95", "CVaR 95%"),
    ("turnover", "turnover"),
    ("fees", "fees"),
    ("funding", "funding"),
)

Series = Sequence[tuple[int, float]]


def _time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def svg_lines(series: Mapping[str, Series], *, title: str, percent: bool = False) -> str:
    """Return an inline SVG plot of ``series`` (one polyline each, a legend, axis labels)."""
    points = [p for s in series.values() for p in s]
    esc = html.escape
    if not points:
        return f"<p>{esc(title)}: no data</p>"
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y0 == y1:
        y0, y1 = y0 - 1e-9 - abs(y0) * 0.01, y1 + 1e-9 + abs(y1) * 0.01
    span_x = (x1 - x0) or 1

    def sx(x: int) -> float:
        return PAD + (x - x0) / span_x * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD + (y - y0) / (y1 - y0) * (2 * PAD - HEIGHT)

    def label(y: float) -> str:
        return f"{y:.2%}" if percent else f"{y:,.2f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{esc(title)}">',
        f'<text x="{PAD}" y="18" font-weight="bold">{esc(title)}</text>',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
        'fill="none" stroke="#ccc"/>',
        f'<text x="2" y="{PAD + 4}" font-size="10">{esc(label(y1))}</text>',
        f'<text x="2" y="{HEIGHT - PAD}" font-size="10">{esc(label(y0))}</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="10">{esc(_time(x0))} UTC</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="end">'
        f"{esc(_time(x1))} UTC</text>",
    ]
    for i, (name, data) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in data)
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}">'
            f"<title>{esc(name)}</title></polyline>"
        )
        parts.append(
            f'<text x="{WIDTH - PAD + 4 - 130}" y="{PAD + 14 + 14 * i}" font-size="11" '
            f'fill="{color}">{esc(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _ratio_na(key: str, values: Mapping[str, Any]) -> str | None:
    """Return "n/a" with its reason as a tooltip for a ratio the sample is too short for."""
    note = values.get("ratio_note")
    if key in ("sharpe", "sortino") and values.get(key) is None and note:
        return f'<span title="{html.escape(str(note))}">n/a</span>'
    return None


def figures_table(figures: Mapping[str, Mapping[str, Any]]) -> str:
    """Return an HTML table: one row per name (agents, total), one column per figure."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in FIGURES)
    rows = [f"<tr><th></th>{head}</tr>"]
    for name, values in figures.items():
        cells = "".join(
            f"<td>{_ratio_na(key, values) or _cell(values.get(key))}</td>" for key, _ in FIGURES
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _weights_series(
    weights: Sequence[Mapping[str, Any]], end_ns: int
) -> dict[str, list[tuple[int, float]]]:
    """Step lines: each weight holds until the next change, the last one until ``end_ns``."""
    out: dict[str, list[tuple[int, float]]] = {}
    for i, entry in enumerate(weights):
        ts = int(entry["ts_ns"])
        until = int(weights[i + 1]["ts_ns"]) if i + 1 < len(weights) else max(end_ns, ts)
        for agent, share in entry["weights"].items():
            out.setdefault(agent, []).extend([(ts, float(share)), (until, float(share))])
    return out


def render_html(
    title: str,
    report: Mapping[str, Any],
    equity: Mapping[str, Sequence[EquityPoint]],
    notes: Sequence[str] = (),
) -> str:
    """Return the self-contained report page (see the module doc)."""
    esc = html.escape
    total = {ts: Decimal(0) for points in equity.values() for ts, _ in points}
    for points in equity.values():
        for ts, value in points:
            total[ts] += value
    curves: dict[str, list[tuple[int, float]]] = {
        name: [(ts, float(v)) for ts, v in points] for name, points in sorted(equity.items())
    }
    total_points = sorted(total.items())
    drawdowns = {
        name: [(ts, -dd) for ts, dd in drawdown_series(points)]
        for name, points in [*sorted(equity.items()), ("total", total_points)]
    }
    end_ns = max((p[-1][0] for p in equity.values() if p), default=0)
    figures = {**report["agents"], "total": report["total"]}
    body = [
        f"<h1>{esc(title)}</h1>",
        *(f"<p>{esc(note)}</p>" for note in notes),
        "<h2>Figures</h2>",
        figures_table(figures),
        "<h2>Equity</h2>",
        svg_lines(curves, title="equity per agent (unit of account)"),
        svg_lines({"total": [(ts, float(v)) for ts, v in total_points]}, title="total equity"),
        "<h2>Drawdowns</h2>",
        svg_lines(drawdowns, title="drawdown from the running peak", percent=True),
        "<h2>Weights</h2>",
        svg_lines(
            _weights_series(report.get("weights", []), end_ns),
            title="each agent's share of the budgets",
            percent=True,
        ),
    ]
    for fold in report.get("folds", []):
        body.append(
            f"<h2>Fold {fold['fold']}: {esc(_time(fold['start_ns']))} → "
            f"{esc(_time(fold['end_ns']))} UTC</h2>"
        )
        body.append(figures_table({**fold["agents"], "total": fold["total"]}))
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}svg{display:block;margin:1em 0}"
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{style}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
