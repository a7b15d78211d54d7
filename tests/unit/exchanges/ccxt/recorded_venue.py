"""A venue that answers ccxt's history requests from recorded rows, as the venue pages them.

ccxt's real exchange classes run; only ``fetch`` is replaced (``ccxt_stub.StubTransport``).
``RecordedVenue.serve`` registers rows for one endpoint: each request is answered with the
rows between its start and end time, oldest first, at most its ``limit`` (what Binance's
klines and fundingRate and Hyperliquid's info API document), in the venue's own format.
Every request is recorded; any request no route answers fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.unit.exchanges.ccxt_stub import (
    SCAFFOLD,
    Sent,
    StubTransport,
    fixture_entry,
    side_routes,
)

ROOT = Path(__file__).resolve().parents[4]
HISTORY_FIXTURES = ROOT / "tests" / "fixtures" / "ccxt_history"
HYPERLIQUID_FUNDING = (
    ROOT / "data" / "hyperliquid-funding-2023" / "fundingHistory_BTC_from_1681923833000.json"
)


class Crash(BaseException):
    """A process killed mid-download (not an ``Exception``: nothing may catch and retry it)."""


Window = Callable[[Sent], tuple[int, int | None, int | None]]


def binance_window(sent: Sent) -> tuple[int, int | None, int | None]:
    q = sent.query
    return (
        int(q["startTime"]),
        int(q["endTime"]) if "endTime" in q else None,
        int(q.get("limit", 500)),
    )


def hyperliquid_window(sent: Sent) -> tuple[int, int | None, int | None]:
    body = sent.json
    req = body.get("req", body)
    end = req.get("endTime")
    return int(req["startTime"]), None if end is None else int(end), None


class RecordedVenue(StubTransport):
    """A stub transport with time-windowed routes over recorded rows."""

    def __init__(self, venue: str) -> None:
        super().__init__()
        self.venue = venue
        self.crash_at: int | None = None  # raise Crash on this request number (1-based)
        self._served: list[
            tuple[str, str, str | None, Sequence[Any], Callable[[Any], int], Window, int]
        ] = []

    def serve(
        self,
        method: str,
        path: str,
        rows: Sequence[Any],
        time_of: Callable[[Any], int],
        window: Window,
        *,
        body_type: str | None = None,
        page_cap: int = 1000,
    ) -> None:
        """Answer requests to ``path`` with the ``rows`` inside their window."""
        self._served.append((method, path, body_type, rows, time_of, window, page_cap))

    def history_requests(self) -> list[Sent]:
        """Return the requests other than market loading."""
        return [s for s in self.sent if "instruments-info" not in s.path]

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
    ) -> Any:
        sent = Sent(method, url, dict(headers or {}), body)
        for verb, path, body_type, rows, time_of, window, cap in self._served:
            if verb != method or not sent.path.endswith(path):
                continue
            if body_type is not None and (sent.json or {}).get("type") != body_type:
                continue
            self.sent.append(sent)
            if self.crash_at is not None and len(self.sent) >= self.crash_at:
                raise Crash(f"killed at request {len(self.sent)}")
            start, end, limit = window(sent)
            inside = [r for r in rows if time_of(r) >= start and (end is None or time_of(r) <= end)]
            inside.sort(key=time_of)
            return self._exchange.parse_json(json.dumps(inside[: min(limit or cap, cap)]))
        return await super().fetch(url, method, headers, body)


def binance_klines(description: str) -> list[Any]:
    return list(fixture_entry("binance", "fetchOHLCV", description)["httpResponse"])


def hyperliquid_funding_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(HYPERLIQUID_FUNDING.read_text(encoding="utf-8"))
    return rows


def binance_funding_doc_example() -> list[dict[str, Any]]:
    path = HISTORY_FIXTURES / "binance_fundingRate_doc_example.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def markets_for(venue: str) -> list[dict[str, Any]]:
    """TEST SCAFFOLDING markets (``ccxt_stub.SCAFFOLD``), with Hyperliquid's coin names."""
    markets = [dict(m) for m in SCAFFOLD[venue]]
    if venue == "hyperliquid":
        for market in markets:
            market["baseName"] = market["base"]
    return markets


def client_factory(
    stub: RecordedVenue, configs: list[dict[str, Any]] | None = None
) -> Callable[[str, dict[str, Any]], Any]:
    """Build ccxt's real class for the venue over ``stub``; record the config it was given."""
    import ccxt.async_support as ccxt_async

    def factory(ccxt_id: str, config: dict[str, Any]) -> Any:
        if configs is not None:
            configs.append(dict(config))
        client = getattr(ccxt_async, ccxt_id)(config)
        client.enableRateLimit = False  # the stub answers at once; the throttle would only wait
        client.timeout_on_exit = 0
        stub.install(client)
        if ccxt_id == "bybit":
            side_routes("bybit", stub)
        else:
            client.set_markets(markets_for(ccxt_id))
        return client

    return factory
