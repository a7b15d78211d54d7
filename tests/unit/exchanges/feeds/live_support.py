"""Shared scaffolding of the LiveFeed tests: recorded ccxt responses, fake exchanges, a sleep.

Real ccxt classes get their HTTP layer replaced by recorded responses; ``FakeExchange``
and ``Script`` stand in for watch methods and faults. ``refuse_network`` is what each
test module's autouse guard calls, so no test can open a socket.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from core.clock import SimulatedClock
from core.events import MarketEvent
from exchanges.feeds.live import LiveFeed, LiveFeedConfig

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "ccxt"
START_NS = 1_800_000_000_000_000_000


def refuse_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every connect attempt raise: the body of each test module's autouse guard."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a test tried to reach the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# -- TEST SCAFFOLDING: minimal ccxt market dicts (hand-written, not recorded) ------------
# The real classes need markets to parse; these carry only the fields the fixture
# methods read. The responses they parse are ccxt's own recorded ones.


def scaffold_market(symbol: str, market_id: str) -> dict[str, Any]:
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    swap = bool(settle)
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle or None,
        "type": "swap" if swap else "spot",
        "spot": not swap,
        "swap": swap,
        "future": False,
        "option": False,
        "margin": False,
        "contract": swap,
        "linear": True if swap else None,
        "inverse": False if swap else None,
        "contractSize": 1 if swap else None,
        "active": True,
        "precision": {"amount": 1e-8, "price": 1e-8},
        "limits": {},
    }


def recorded(venue: str, method: str, *inputs: Any) -> Any:
    """Return ccxt's recorded raw HTTP response for ``method`` called with ``inputs``."""
    data = json.loads((FIXTURES / f"{venue}.json").read_text())
    for entry in data["methods"][method]:
        if list(entry["input"][: len(inputs)]) == list(inputs):
            return entry["httpResponse"]
    raise LookupError(f"no recorded {venue}.{method}{inputs}")


def real_exchange(venue: str, markets: dict[str, str], routes: dict[str, list[Any]]) -> Any:
    """Build the real ccxt async class with its HTTP layer replaced by ``routes`` (URL -> replies).

    A reply that is a ``str`` is an error body: the real class's own error handler
    turns it into its ccxt exception, as it would for a live answer.
    """
    exchange = getattr(ccxt_async, venue)({"enableRateLimit": False, "timeout_on_exit": 0})
    exchange.set_markets([scaffold_market(s, i) for s, i in markets.items()])

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        replies = routes.get(url)
        if not replies:
            raise AssertionError(f"unexpected request {method} {url}")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, str):
            exchange.handle_errors(
                400, "Bad Request", url, method, {}, reply, json.loads(reply), {}, None
            )
            exchange.handle_http_status_code(400, "Bad Request", url, method, reply)
            raise AssertionError(f"the error body {reply} raised nothing")
        return reply

    exchange.fetch = fetch
    return exchange


class RecordingSleep:
    """An injected sleep: remember the delays, let other tasks run, never wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def collect(
    feed: LiveFeed, done: Callable[[list[MarketEvent]], bool], limit: int = 200
) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    async with aclosing(feed.events()) as stream:
        async for event in stream:
            events.append(event)
            if done(events) or len(events) >= limit:
                break
    return events


def has_all(expected: list[MarketEvent]) -> Callable[[list[MarketEvent]], bool]:
    return lambda events: all(e in events for e in expected)


# -- FAKE EXCHANGE OBJECTS: watch methods and faults -------------------------------------


class Script:
    """An async method that returns (or raises) scripted outcomes, then waits like a quiet socket."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.outcomes:
            await asyncio.Event().wait()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class FakeExchange:
    """A ccxt-shaped exchange object: ``has``, ``markets``, and scripted stream methods."""

    def __init__(self, markets: dict[str, dict[str, Any]] | None = None, **methods: Script) -> None:
        self.markets = (
            markets
            if markets is not None
            else {"BTC/USDT": {"symbol": "BTC/USDT", "contract": False}}
        )
        self.has: dict[str, bool] = {}
        self.closed = 0
        for name, script in methods.items():
            setattr(self, name, script)
            camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
            self.has[camel.replace("Ohlcv", "OHLCV")] = True

    async def load_markets(self, reload: bool = False) -> Any:
        return self.markets

    async def close(self) -> None:
        self.closed += 1


def ob(
    bids: list[list[float]],
    asks: list[list[float]],
    ts: int | None = None,
    nonce: int | None = None,
) -> dict[str, Any]:
    return {"bids": bids, "asks": asks, "timestamp": ts, "nonce": nonce, "symbol": "BTC/USDT"}


def trade(
    trade_id: str | None, ts: int, price: float = 100.5, side: str | None = "sell"
) -> dict[str, Any]:
    return {
        "id": trade_id,
        "timestamp": ts,
        "price": price,
        "amount": 0.25,
        "side": side,
        "symbol": "BTC/USDT",
    }


def fake_feed(
    exchange: FakeExchange, sleep: RecordingSleep | None = None, **config: Any
) -> LiveFeed:
    return LiveFeed(
        [("fake", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(**config),
        exchange_factory=lambda venue: exchange,
        sleep=sleep or RecordingSleep(),
    )
