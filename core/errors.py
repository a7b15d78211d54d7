"""The error hierarchy, grouped by what the caller should do.

- ``RetryableError``: the request was fine, the world was not; try again later
  (with backoff). Nothing was changed.
- ``OutcomeUnknownError``: we cannot tell whether the request took effect
  (timeout, lost ack). Never "failed": resolve it by asking the venue, never by
  sending it again blindly.
- ``DeniedError``: the request is wrong or not allowed; do not retry it as is.
  Nothing was reserved or changed.
- ``HaltError``: the system cannot trade safely (bad credentials, corrupt log,
  reconciliation mismatch, a venue answer we cannot understand); stop, trip the
  breaker and call the operator.

Every error carries the fields needed to act on it and says them in its message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SwarmError(Exception):
    """Base of every error Swarm raises on purpose."""


# -- RETRY ------------------------------------------------------------------


class RetryableError(SwarmError):
    """A temporary condition: retry the same request later."""


class ExchangeUnavailable(RetryableError):
    """The venue or the network is down, overloaded or in maintenance."""


class RateLimited(RetryableError):
    """The venue throttled us; back off before the next request."""


class GatewayNotReady(RetryableError):
    """The gateway is still recovering and accepts no order yet."""


# -- UNKNOWN OUTCOME ----------------------------------------------------------


class OutcomeUnknownError(SwarmError):
    """The request may or may not have taken effect: resolve by querying, never resend."""

    def __init__(self, message: str, *, client_order_id: str | None = None) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class RequestTimeout(OutcomeUnknownError):
    """No answer in time; the order may exist on the venue."""


# -- DENY -------------------------------------------------------------------


class DeniedError(SwarmError):
    """The request is invalid or not allowed; do not retry it unchanged."""


class InvalidValue(DeniedError, ValueError):
    """A field holds a value that is not allowed; the message names both."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class UnknownSymbol(InvalidValue):
    """The symbol is not listed on the venue."""

    def __init__(self, symbol: str, venue: str) -> None:
        super().__init__("symbol", symbol, f"not a market of venue {venue!r}")
        self.venue = venue


class InvalidOrder(DeniedError):
    """The venue refused the order as malformed or against its rules."""


class InsufficientFunds(DeniedError):
    """Not enough free balance or margin for the order."""


class OrderNotFound(DeniedError):
    """The venue does not know the order (yet, or any more)."""


class DuplicateClientOrderId(DeniedError):
    """The venue refused a client order id it has already seen."""


class NotSupported(DeniedError):
    """The venue or adapter does not support this operation."""


# -- HALT -------------------------------------------------------------------


class HaltError(SwarmError):
    """Trading cannot go on safely: stop and call the operator."""


class AuthenticationFailed(HaltError):
    """Keys missing, wrong, expired or lacking a permission."""


class AccountSuspended(HaltError):
    """The venue suspended the account."""


class ExchangeProtocolError(HaltError):
    """The venue answered something we cannot interpret safely."""


# -- CONFIGURATION AND DATA -------------------------------------------------


class ConfigError(SwarmError):
    """A configuration file is missing, malformed, or holds a bad value."""

    def __init__(self, path: Path | str, key: str, value: Any, reason: str) -> None:
        where = f"{path}: {key}" if key else str(path)
        shown = "" if value is _MISSING else f" = {value!r}"
        super().__init__(f"{where}{shown}: {reason}")
        self.path = str(path)
        self.key = key
        self.value = value
        self.reason = reason


class SecretMissing(ConfigError):
    """A secret that must come from the environment is not set."""

    def __init__(self, variable: str, purpose: str) -> None:
        super().__init__("environment", variable, _MISSING, f"not set ({purpose})")
        self.variable = variable


class DataFormatError(SwarmError):
    """A recorded data file cannot be read; the message names the file and the place."""

    def __init__(self, path: Path | str, reason: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING: Any = _MISSING
