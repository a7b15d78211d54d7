"""The sweep's HTML report: score against each parameter, the best run's equity, folds, stress.

One self-contained page, inline SVG only (no network, no CDN); every text is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from backtest.html import COLORS, svg_lines

WIDTH, HEIGHT, PAD = 420, 240, 44


def svg_scatter(points: Sequence[tuple[float, float]], *, title: str, x_label: str) -> str:
    """Return an inline SVG scatter of ``(x, score)`` points (categorical x spread evenly)."""
    esc = html.escape
    if not points:
        return f"<p>{esc(title)}: no data</p>"
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD + (y - y0) / (y1 - y0) * (2 * PAD - HEIGHT)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{esc(title)}">',
        f'<text x="{PAD}" y="16" font-weight="bold">{esc(title)}</text>',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
        'fill="none" stroke="#ccc"/>',
        f'<text x="2" y="{PAD + 4}" font-size="10">{y1:,.4g}</text>',
        f'<text x="2" y="{HEIGHT - PAD}" font-size="10">{y0:,.4g}</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="10">{x0:,.4g}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="end">'
        f"{x1:,.4g}</text>",
        f'<text x="{WIDTH // 2}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle">'
        f"{esc(x_label)}</text>",
    ]
    for x, y in points:
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{COLORS[0]}" '
            f'fill-opacity="0.7"><title>{esc(x_label)}={x:g}: {y:.4f}</title></circle>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _numeric(values: Sequence[Any]) -> list[float] | None:
    """Return the values as numbers, or their ranks when they are not (categories)."""
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        order = sorted({str(v) for v in values})
        return [float(order.index(str(v))) for v in values]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_text(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "–" if value is None else str(value)


def render_html(report: Mapping[str, Any]) -> str:
    """Return the page for a sweep report (``cli.sweep.run_sweep``'s, with ``best_equity``)."""
    esc = html.escape
    trials = report["trials"]
    names = list(report["best"]["params"])
    plots = []
    for name in names:
        xs = _numeric([t["params"][name] for t in trials]) or []
        plots.append(
            svg_scatter(
                list(zip(xs, [float(t["score"]) for t in trials], strict=True)),
                title=f"{report['metric']} vs {name}",
                x_label=name,
            )
        )
    equity = [(int(ts), float(v)) for ts, v in report.get("best_equity", [])]
    folds = _table(
        ["fold", "train", "test", "params", "in-sample", "out-of-sample"],
        [
            [
                f["fold"],
                f"{f['train_start_ns']}..{f['train_end_ns']}",
                f"{f['test_start_ns']}..{f['test_end_ns']}",
                f["params"],
                f["in_sample_score"],
                f["out_of_sample_score"],
            ]
            for f in report["folds"]
        ],
    )
    stress = _table(
        ["scenario", "score", "pnl", "fees", "fills", "orders"],
        [
            [s["scenario"], s["score"], s["pnl"], s["fees"], s["fills"], s["orders"]]
            for s in report["stress"]
        ],
    )
    trial_rows = sorted(trials, key=lambda t: -float(t["score"]))
    table = _table(
        [*names, "score", "pnl", "fees", "fills", "node"],
        [
            [*(t["params"].get(n) for n in names), t["score"], t["pnl"], t["fees"], t["fills"],
             str(t.get("node", ""))[:8]]
            for t in trial_rows
        ],
    )  # fmt: skip
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>sweep {esc(report['agent'])}</title>",
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
            "margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}</style>",
            "</head><body>",
            f"<h1>Sweep of {esc(report['agent'])} ({esc(report['search'])}, "
            f"metric {esc(report['metric'])})</h1>",
            f"<p>{esc(report['note'])}. Data: {esc(report['data_dir'])}. Nodes: "
            f"{len(report['nodes'])}.</p>",
            f"<h2>Best (in-sample)</h2><p>{esc(json.dumps(report['best']['params']))}: "
            f"score {float(report['best']['score']):.4f}</p>",
            *plots,
            svg_lines({"best": equity}, title="equity of the best parameters (base run)"),
            "<h2>Walk-forward</h2>",
            folds,
            "<h2>Stress</h2>",
            stress,
            "<h2>Trials</h2>",
            table,
            "</body></html>",
        ]
    )


def write_html(path: Path, report: Mapping[str, Any]) -> Path:
    """Write the page to ``path`` (its directory created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path
