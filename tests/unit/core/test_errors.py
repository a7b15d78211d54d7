from __future__ import annotations

import pytest

from core import errors


@pytest.mark.parametrize(
    ("error", "family"),
    [
        (errors.ExchangeUnavailable("down"), errors.RetryableError),
        (errors.RateLimited("slow"), errors.RetryableError),
        (errors.GatewayNotReady("recovering"), errors.RetryableError),
        (errors.RequestTimeout("t", client_order_id="a1"), errors.OutcomeUnknownError),
        (errors.InvalidValue("price", -1, "must be > 0"), errors.DeniedError),
        (errors.UnknownSymbol("XYZ/USDT", "binance"), errors.DeniedError),
        (errors.InsufficientFunds("no"), errors.DeniedError),
        (errors.DuplicateClientOrderId("dup"), errors.DeniedError),
        (errors.AuthenticationFailed("bad key"), errors.HaltError),
        (errors.ExchangeProtocolError("garbage"), errors.HaltError),
    ],
)
def test_error_when_raised_then_belongs_to_one_action_family(
    error: Exception, family: type[Exception]
) -> None:
    families = (
        errors.RetryableError,
        errors.OutcomeUnknownError,
        errors.DeniedError,
        errors.HaltError,
    )
    assert isinstance(error, family)
    assert sum(isinstance(error, f) for f in families) == 1


def test_timeout_when_raised_then_not_a_failure_and_keeps_client_order_id() -> None:
    error = errors.RequestTimeout("no answer", client_order_id="a1")
    assert not isinstance(error, errors.DeniedError)
    assert error.client_order_id == "a1"


def test_data_format_error_when_line_given_then_names_file_and_line() -> None:
    error = errors.DataFormatError("data/x.gz", "not JSON", line=12)
    assert str(error) == "data/x.gz:12: not JSON"
    assert errors.UnknownSymbol("XYZ", "okx").field == "symbol"
