"""The one place a ccxt exception becomes a ``core.errors`` type, and the retry loop around it.

A ccxt exception is mapped by walking its class's MRO through ``CCXT_TO_CORE``:
the most specific ccxt class wins. Writes (``create_order``, ``cancel_order``)
add one rule on top: an exception that leaves the venue's answer in doubt
(``WRITE_OUTCOME_UNKNOWN``) becomes ``OutcomeUnknownError`` carrying the client
order id, because the order may exist. Only ``RetryableError`` results are
retried, so an unknown outcome is never resent.

Messages pass through a ``Redactor`` so a key, secret or request signature that
a venue or ccxt echoes never reaches a log line or an exception.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from ccxt.base import errors as ccxt_errors

from core.errors import (
    AccountSuspended,
    AuthenticationFailed,
    DeniedError,
    DuplicateClientOrderId,
    ExchangeProtocolError,
    ExchangeUnavailable,
    HaltError,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    OutcomeUnknownError,
    RateLimited,
    RequestTimeout,
    RetryableError,
    SwarmError,
    UnknownSymbol,
)

T = TypeVar("T")

_log = logging.getLogger("swarm.exchanges.ccxt")


class CallKind(enum.Enum):
    """Whether a call only reads, or may change state on the venue."""

    READ = "read"
    WRITE = "write"


# -- THE TABLE ---------------------------------------------------------------

CCXT_TO_CORE: Final[dict[type[ccxt_errors.BaseError], type[SwarmError]]] = {
    ccxt_errors.BaseError: ExchangeProtocolError,
    # -- the venue answered and said no
    ccxt_errors.ExchangeError: DeniedError,
    ccxt_errors.AuthenticationError: AuthenticationFailed,
    ccxt_errors.PermissionDenied: AuthenticationFailed,
    ccxt_errors.AccountNotEnabled: AuthenticationFailed,
    ccxt_errors.AccountSuspended: AccountSuspended,
    ccxt_errors.ArgumentsRequired: NotSupported,
    ccxt_errors.BadRequest: DeniedError,
    ccxt_errors.BadSymbol: UnknownSymbol,
    ccxt_errors.OperationRejected: DeniedError,
    ccxt_errors.NoChange: DeniedError,
    ccxt_errors.MarginModeAlreadySet: DeniedError,
    ccxt_errors.MarketClosed: DeniedError,
    # the account needs a human (accept terms, KYC) or is fenced off: trading cannot go on
    ccxt_errors.ManualInteractionNeeded: HaltError,
    ccxt_errors.RestrictedLocation: HaltError,
    ccxt_errors.InsufficientFunds: InsufficientFunds,
    ccxt_errors.InvalidAddress: DeniedError,
    ccxt_errors.AddressPending: DeniedError,
    ccxt_errors.InvalidOrder: InvalidOrder,
    ccxt_errors.OrderNotFound: OrderNotFound,
    # ccxt's own cache lacks the order: that says nothing about the venue, so it is not OrderNotFound
    ccxt_errors.OrderNotCached: NotSupported,
    ccxt_errors.OrderImmediatelyFillable: InvalidOrder,
    ccxt_errors.OrderNotFillable: InvalidOrder,
    ccxt_errors.DuplicateOrderId: DuplicateClientOrderId,
    ccxt_errors.ContractUnavailable: InvalidOrder,
    ccxt_errors.NotSupported: NotSupported,
    ccxt_errors.InvalidProxySettings: HaltError,
    ccxt_errors.ExchangeClosedByUser: HaltError,
    # -- the request did not get a usable answer
    ccxt_errors.OperationFailed: ExchangeUnavailable,
    ccxt_errors.NetworkError: ExchangeUnavailable,
    ccxt_errors.DDoSProtection: RateLimited,
    ccxt_errors.RateLimitExceeded: RateLimited,
    ccxt_errors.ExchangeNotAvailable: ExchangeUnavailable,
    ccxt_errors.OnMaintenance: ExchangeUnavailable,
    # a stale timestamp or nonce is refused before anything runs; a fresh request fixes it
    ccxt_errors.InvalidNonce: ExchangeUnavailable,
    ccxt_errors.ChecksumError: ExchangeUnavailable,
    ccxt_errors.RequestTimeout: ExchangeUnavailable,
    # ccxt raises these for "execution status unknown" answers (Binance -1006/-1007)
    ccxt_errors.BadResponse: ExchangeUnavailable,
    ccxt_errors.NullResponse: ExchangeUnavailable,
    ccxt_errors.CancelPending: OutcomeUnknownError,
    ccxt_errors.UnsubscribeError: ExchangeProtocolError,
}
"""Every ccxt exception class, and what it means for a read."""

WRITE_OUTCOME_UNKNOWN: Final[frozenset[type[ccxt_errors.BaseError]]] = frozenset(
    {
        ccxt_errors.BaseError,
        ccxt_errors.ExchangeError,  # unclassified ("system error, try again") after a send
        ccxt_errors.OperationFailed,
        ccxt_errors.NetworkError,  # the connection broke: the request may have arrived
        ccxt_errors.ExchangeNotAvailable,  # 5xx: the venue may have run it
        ccxt_errors.RequestTimeout,
        ccxt_errors.BadResponse,
        ccxt_errors.NullResponse,
        ccxt_errors.CancelPending,
    }
)
"""ccxt classes that, matched as the most specific class on a write, leave its outcome unknown.

Rate limits, maintenance and nonce errors are absent on purpose: the venue refused
the request before running it, so they stay retryable.
"""


# -- REDACTION ---------------------------------------------------------------

_SIGNATURE_PARAMS = re.compile(r"(?i)((?:signature|sign|apikey|api_key)=)[^&\s\"']+")
_MAX_MESSAGE = 600


class Redactor:
    """Blank out known secret values and request signatures in text meant for humans."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # longest first, so a secret containing another is blanked whole
        found = {s for s in secrets if s and len(s) >= 4}
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def redact(self, text: str, *, shorten: bool = True) -> str:
        """Return ``text`` with every secret and signature replaced by ``***`` (and shortened)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _SIGNATURE_PARAMS.sub(r"\1***", text)
        if shorten and len(text) > _MAX_MESSAGE:
            text = text[:_MAX_MESSAGE] + "…"
        return text

    def scrub(self, error: BaseException) -> None:
        """Redact ``error``'s own message in place, so a printed traceback shows no secret."""
        error.args = tuple(
            self.redact(arg, shorten=False) if isinstance(arg, str) else arg for arg in error.args
        )


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's final message before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self._redactor.redact(message)
        record.args = None
        return True


# -- MAPPING -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What the caller was doing when the exception happened."""

    venue: str
    operation: str
    kind: CallKind
    redactor: Redactor
    client_order_id: str | None = None
    symbol: str | None = None


def core_class_for(error_type: type[BaseException], kind: CallKind) -> type[SwarmError]:
    """Return the core error class for a ccxt exception class, by its most specific ancestor."""
    for ancestor in error_type.__mro__:
        if ancestor in CCXT_TO_CORE:
            if kind is CallKind.WRITE and ancestor in WRITE_OUTCOME_UNKNOWN:
                if ancestor is ccxt_errors.RequestTimeout:
                    return RequestTimeout
                return OutcomeUnknownError
            return CCXT_TO_CORE[ancestor]
    raise TypeError(f"{error_type.__name__} is not a ccxt exception")


def _class_for_foreign(error: BaseException, kind: CallKind) -> type[SwarmError]:
    """Classify an exception that did not come from ccxt's hierarchy (a socket, a parse bug)."""
    if isinstance(error, TimeoutError):
        return RequestTimeout if kind is CallKind.WRITE else ExchangeUnavailable
    if isinstance(error, OSError):
        return OutcomeUnknownError if kind is CallKind.WRITE else ExchangeUnavailable
    # ccxt failed on an answer it could not parse: after a write the order may still exist
    return OutcomeUnknownError if kind is CallKind.WRITE else ExchangeProtocolError


def map_ccxt_error(error: BaseException, context: ErrorContext) -> SwarmError:
    """Return the ``core.errors`` instance for ``error``; a ``SwarmError`` is returned unchanged."""
    if isinstance(error, SwarmError):
        return error
    if isinstance(error, ccxt_errors.BaseError):
        target = core_class_for(type(error), context.kind)
    else:
        target = _class_for_foreign(error, context.kind)
    detail = context.redactor.redact(str(error)) or "(no message)"
    message = f"{context.venue} {context.operation}: {type(error).__name__}: {detail}"
    if issubclass(target, OutcomeUnknownError):
        if context.client_order_id is not None:
            message += (
                f" [client order id {context.client_order_id}: outcome unknown,"
                " resolve by querying, never by resending]"
            )
        return target(message, client_order_id=context.client_order_id)
    if target is UnknownSymbol:
        if context.symbol is not None:
            return UnknownSymbol(context.symbol, context.venue)
        return DeniedError(message)
    return target(message)


# -- RETRY -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff: ``attempts`` tries in all, delays doubling up to ``max_delay``."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts={self.attempts}: must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")

    def delay(self, retry_number: int) -> float:
        """Return the pause before retry ``retry_number`` (1 for the first retry)."""
        return float(min(self.max_delay, self.base_delay * self.multiplier ** (retry_number - 1)))


Sleep = Callable[[float], Awaitable[None]]


async def call_mapped(
    call: Callable[[], Awaitable[T]],
    context: ErrorContext,
    policy: RetryPolicy,
    sleep: Sleep,
) -> T:
    """Await ``call()``; map any failure to ``core.errors`` and retry only ``RetryableError``.

    The mapped error is raised ``from`` the original exception.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            mapped = map_ccxt_error(exc, context)
            if not isinstance(mapped, RetryableError) or attempt >= policy.attempts:
                if mapped is exc:
                    raise
                # the original stays chained as the cause; its message must not leak keys either
                context.redactor.scrub(exc)
                raise mapped from exc
            delay = policy.delay(attempt)
            _log.warning(
                "%s %s: attempt %d/%d failed (%s); retrying in %.2fs",
                context.venue,
                context.operation,
                attempt,
                policy.attempts,
                type(mapped).__name__,
                delay,
            )
            attempt += 1
            await sleep(delay)
