"""The ``Exchange`` port is written once: every implementation is checked against it.

The protocol (``exchanges/port.py``) is the one list of methods. The paper venue and
the ccxt adapter implement it; ``RemoteVenue`` forwards it to a ``venue:<name>`` actor
(``VenueActor``), whose methods are the same ones, synchronous, taking by position what
the port takes by keyword (a Ray call passes arguments in order). A method added,
renamed or retyped on one side and not the other fails here.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest

from exchanges.ccxt_adapter import CcxtExchange
from exchanges.paper.venue import PaperVenue
from exchanges.paper_actor import VenueActor
from exchanges.port import BatchCreates, Exchange
from exchanges.venue_client import RemoteVenue


def _port_methods(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(value)
    )


PORT = _port_methods(Exchange)
BATCH = _port_methods(BatchCreates)


def _shape(fn: Callable[..., Any], *, positional: bool = False) -> list[tuple[str, Any, Any, Any]]:
    """Return (name, default, type) per parameter after ``self``; kinds only when not ``positional``."""
    hints = typing.get_type_hints(fn)
    shape = []
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.name.startswith("_ray_"):
            continue  # Ray adds its tracing context to an actor class's methods once wrapped
        kind = None if positional else param.kind
        shape.append((param.name, param.default, hints.get(param.name), kind))
    return shape


def _returns(fn: Callable[..., Any]) -> Any:
    return typing.get_type_hints(fn).get("return")


def test_port_when_read_then_lists_the_methods_the_gateway_calls() -> None:
    assert "create_order" in PORT and "fetch_my_trades" in PORT and len(PORT) == 12
    assert BATCH == ["create_orders"]


@pytest.mark.parametrize("implementation", [PaperVenue, CcxtExchange, RemoteVenue])
@pytest.mark.parametrize("method", PORT)
def test_async_implementation_when_compared_then_same_signature_as_the_port(
    implementation: type, method: str
) -> None:
    port_fn = getattr(Exchange, method)
    fn = getattr(implementation, method, None)
    assert fn is not None, f"{implementation.__name__} lacks {method}"
    assert inspect.iscoroutinefunction(fn), f"{implementation.__name__}.{method} is not async"
    assert _shape(fn) == _shape(port_fn), f"{implementation.__name__}.{method} drifted"
    assert _returns(fn) == _returns(port_fn), f"{implementation.__name__}.{method} returns other"


@pytest.mark.parametrize("method", [m for m in PORT if m != "close"] + BATCH)
def test_venue_actor_when_compared_then_same_methods_synchronous_by_position(method: str) -> None:
    protocol = BatchCreates if method in BATCH else Exchange
    port_fn = getattr(protocol, method)
    fn = getattr(VenueActor, method, None)
    assert fn is not None, f"VenueActor lacks {method}: RemoteVenue would call nothing"
    assert not inspect.iscoroutinefunction(fn)
    ours = _shape(fn, positional=True)
    theirs = _shape(port_fn, positional=True)
    if method == "load_markets":  # the actor reloads nothing: its markets are the rules'
        theirs = [p for p in theirs if p[0] != "reload"]
    assert ours == theirs, f"VenueActor.{method} drifted from the port"
    assert _returns(fn) == _returns(port_fn)


def test_remote_venue_when_checked_then_implements_the_port_and_batch_creates() -> None:
    remote = RemoteVenue("paper", handle=object())
    assert isinstance(remote, Exchange) and isinstance(remote, BatchCreates)
    assert not isinstance(PaperVenue.__new__(PaperVenue), BatchCreates)


def test_drift_check_when_a_parameter_is_renamed_then_it_fails() -> None:
    """The check itself can fail: a copy of a method with one parameter renamed is caught."""

    async def fetch_ticker(self: Any, market: str) -> Any: ...

    assert _shape(fetch_ticker) != _shape(Exchange.fetch_ticker)
