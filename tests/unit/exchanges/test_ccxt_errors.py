"""The ccxt → core.errors mapping, table-driven over every class ccxt 4.5.90 defines, and the retry loop."""

from __future__ import annotations

import inspect
import logging
import traceback

import pytest
from ccxt.base import errors as ccxt_errors

from core import errors as core
from exchanges.ccxt_errors import (
    CCXT_TO_CORE,
    CallKind,
    ErrorContext,
    RedactingFilter,
    Redactor,
    RetryPolicy,
    call_mapped,
    core_class_for,
    map_ccxt_error,
)

ALL_CCXT_CLASSES = sorted(
    (
        c
        for _, c in inspect.getmembers(ccxt_errors, inspect.isclass)
        if issubclass(c, ccxt_errors.BaseError)
    ),
    key=lambda c: c.__name__,
)

R, W = CallKind.READ, CallKind.WRITE
UNKNOWN = core.OutcomeUnknownError

# ccxt class name -> (core class on a read, core class on a write). Written out by hand
# from the meaning of each class, not derived from the table under test.
EXPECTED: dict[str, tuple[type[core.SwarmError], type[core.SwarmError]]] = {
    "BaseError": (core.ExchangeProtocolError, UNKNOWN),
    "ExchangeError": (core.DeniedError, UNKNOWN),
    "AuthenticationError": (core.AuthenticationFailed, core.AuthenticationFailed),
    "PermissionDenied": (core.AuthenticationFailed, core.AuthenticationFailed),
    "AccountNotEnabled": (core.AuthenticationFailed, core.AuthenticationFailed),
    "AccountSuspended": (core.AccountSuspended, core.AccountSuspended),
    "ArgumentsRequired": (core.NotSupported, core.NotSupported),
    "BadRequest": (core.DeniedError, core.DeniedError),
    "BadSymbol": (core.UnknownSymbol, core.UnknownSymbol),
    "OperationRejected": (core.DeniedError, core.DeniedError),
    "NoChange": (core.DeniedError, core.DeniedError),
    "MarginModeAlreadySet": (core.DeniedError, core.DeniedError),
    "MarketClosed": (core.DeniedError, core.DeniedError),
    "ManualInteractionNeeded": (core.HaltError, core.HaltError),
    "RestrictedLocation": (core.HaltError, core.HaltError),
    "InsufficientFunds": (core.InsufficientFunds, core.InsufficientFunds),
    "InvalidAddress": (core.DeniedError, core.DeniedError),
    "AddressPending": (core.DeniedError, core.DeniedError),
    "InvalidOrder": (core.InvalidOrder, core.InvalidOrder),
    "OrderNotFound": (core.OrderNotFound, core.OrderNotFound),
    "OrderNotCached": (core.NotSupported, core.NotSupported),
    "OrderImmediatelyFillable": (core.InvalidOrder, core.InvalidOrder),
    "OrderNotFillable": (core.InvalidOrder, core.InvalidOrder),
    "DuplicateOrderId": (core.DuplicateClientOrderId, core.DuplicateClientOrderId),
    "ContractUnavailable": (core.InvalidOrder, core.InvalidOrder),
    "NotSupported": (core.NotSupported, core.NotSupported),
    "InvalidProxySettings": (core.HaltError, core.HaltError),
    "ExchangeClosedByUser": (core.HaltError, core.HaltError),
    "OperationFailed": (core.ExchangeUnavailable, UNKNOWN),
    "NetworkError": (core.ExchangeUnavailable, UNKNOWN),
    "DDoSProtection": (core.RateLimited, core.RateLimited),
    "RateLimitExceeded": (core.RateLimited, core.RateLimited),
    "ExchangeNotAvailable": (core.ExchangeUnavailable, UNKNOWN),
    "OnMaintenance": (core.ExchangeUnavailable, core.ExchangeUnavailable),
    "InvalidNonce": (core.ExchangeUnavailable, core.ExchangeUnavailable),
    "ChecksumError": (core.ExchangeUnavailable, core.ExchangeUnavailable),
    "RequestTimeout": (core.ExchangeUnavailable, core.RequestTimeout),
    "BadResponse": (core.ExchangeUnavailable, UNKNOWN),
    "NullResponse": (core.ExchangeUnavailable, UNKNOWN),
    "CancelPending": (UNKNOWN, UNKNOWN),
    "UnsubscribeError": (core.ExchangeProtocolError, core.ExchangeProtocolError),
}


def context(kind: CallKind, **kwargs: str) -> ErrorContext:
    return ErrorContext(
        venue="binance", operation="op", kind=kind, redactor=Redactor(["SUPERSECRETKEY"]), **kwargs
    )


def test_expected_table_when_ccxt_installed_then_names_every_ccxt_exception_class() -> None:
    assert sorted(EXPECTED) == sorted(c.__name__ for c in ALL_CCXT_CLASSES)
    assert set(CCXT_TO_CORE) == set(ALL_CCXT_CLASSES)


@pytest.mark.parametrize("ccxt_class", ALL_CCXT_CLASSES, ids=lambda c: c.__name__)
def test_map_when_ccxt_raises_then_most_specific_core_class_and_chained(
    ccxt_class: type[ccxt_errors.BaseError],
) -> None:
    read_class, write_class = EXPECTED[ccxt_class.__name__]
    for kind, expected in ((R, read_class), (W, write_class)):
        error = ccxt_class("binance boom")
        mapped = map_ccxt_error(error, context(kind, client_order_id="abc123", symbol="BTC/USDT"))
        assert type(mapped) is expected, f"{ccxt_class.__name__} on {kind.value}"
        assert core_class_for(ccxt_class, kind) is expected
        if isinstance(mapped, core.OutcomeUnknownError):
            assert mapped.client_order_id == "abc123"
            assert "abc123" in str(mapped)


def test_map_when_subclass_of_a_mapped_class_then_nearest_ancestor_wins() -> None:
    class VenueSpecificMaintenance(ccxt_errors.OnMaintenance):  # type: ignore[misc]
        pass

    mapped = map_ccxt_error(VenueSpecificMaintenance("later"), context(W))
    assert type(mapped) is core.ExchangeUnavailable


def test_map_when_bad_symbol_without_symbol_then_plain_denial() -> None:
    mapped = map_ccxt_error(ccxt_errors.BadSymbol("nope"), context(R))
    assert type(mapped) is core.DeniedError


def test_map_when_bad_symbol_then_unknown_symbol_names_symbol_and_venue() -> None:
    mapped = map_ccxt_error(ccxt_errors.BadSymbol("nope"), context(R, symbol="FOO/BAR"))
    assert isinstance(mapped, core.UnknownSymbol)
    assert (mapped.value, mapped.venue) == ("FOO/BAR", "binance")


@pytest.mark.parametrize(
    ("error", "kind", "expected"),
    [
        (TimeoutError(), W, core.RequestTimeout),
        (TimeoutError(), R, core.ExchangeUnavailable),
        (ConnectionResetError(), W, core.OutcomeUnknownError),
        (ConnectionResetError(), R, core.ExchangeUnavailable),
        (KeyError("result"), W, core.OutcomeUnknownError),
        (KeyError("result"), R, core.ExchangeProtocolError),
    ],
    ids=lambda v: getattr(v, "value", type(v).__name__),
)
def test_map_when_not_a_ccxt_exception_then_classified_by_kind(
    error: Exception, kind: CallKind, expected: type[core.SwarmError]
) -> None:
    assert type(map_ccxt_error(error, context(kind))) is expected


def test_map_when_swarm_error_then_unchanged() -> None:
    error = core.OrderNotFound("gone")
    assert map_ccxt_error(error, context(R)) is error


def test_map_when_message_holds_secret_or_signature_then_redacted() -> None:
    error = ccxt_errors.AuthenticationError(
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&signature=deadbeef01"
        " 401 key SUPERSECRETKEY rejected"
    )
    message = str(map_ccxt_error(error, context(R)))
    assert "SUPERSECRETKEY" not in message
    assert "deadbeef01" not in message
    assert "signature=***" in message


def test_redacting_filter_when_record_has_secret_args_then_message_redacted() -> None:
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1, "headers %s", ({"X-KEY": "SUPERSECRETKEY"},), None
    )
    RedactingFilter(Redactor(["SUPERSECRETKEY"])).filter(record)
    assert "SUPERSECRETKEY" not in record.getMessage()
    assert "***" in record.getMessage()


def test_redactor_when_repr_then_no_secret() -> None:
    assert "SUPERSECRETKEY" not in repr(Redactor(["SUPERSECRETKEY"]))


# -- RETRY -------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.mark.asyncio
@pytest.mark.parametrize("ccxt_class", ALL_CCXT_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", [R, W], ids=lambda k: k.value)
async def test_call_mapped_when_error_then_only_retryable_results_are_retried(
    ccxt_class: type[ccxt_errors.BaseError], kind: CallKind
) -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ccxt_class("fail")

    recorder = Recorder()
    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.5)
    expected = EXPECTED[ccxt_class.__name__][0 if kind is R else 1]
    with pytest.raises(core.SwarmError) as caught:
        await call_mapped(
            failing,
            context(kind, client_order_id="abc123", symbol="BTC/USDT"),
            policy,
            recorder.sleep,
        )
    assert type(caught.value) is expected
    assert isinstance(caught.value.__cause__, ccxt_class)
    if issubclass(expected, core.RetryableError):
        assert calls == 4
        assert recorder.sleeps == [0.5, 1.0, 1.5]
    else:
        assert calls == 1
        assert recorder.sleeps == []


@pytest.mark.asyncio
async def test_call_mapped_when_temporary_error_then_success_after_retry() -> None:
    answers: list[object] = [ccxt_errors.RateLimitExceeded("slow down"), "ok"]

    async def call() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    recorder = Recorder()
    result = await call_mapped(call, context(R), RetryPolicy(attempts=3), recorder.sleep)
    assert result == "ok"
    assert recorder.sleeps == [0.5]


@pytest.mark.asyncio
async def test_call_mapped_when_error_echoes_secret_then_chained_cause_scrubbed_too() -> None:
    echoed = 'binance {"msg": "key SUPERSECRETKEY rejected"}'

    async def failing() -> None:
        raise ccxt_errors.AuthenticationError(echoed)  # the printed source line holds no key

    with pytest.raises(core.AuthenticationFailed) as caught:
        await call_mapped(failing, context(R), RetryPolicy(), Recorder().sleep)
    assert isinstance(caught.value.__cause__, ccxt_errors.AuthenticationError)
    printed = "".join(traceback.format_exception(caught.value))
    assert "SUPERSECRETKEY" not in printed and "rejected" in printed


def test_retry_policy_when_attempts_below_one_then_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
