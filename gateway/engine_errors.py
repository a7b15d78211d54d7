"""Errors of the gateway engine, each in one of ``core.errors``' action families.

The engine reports a refused order as a ``Denied`` decision, not an exception;
``error_for_denial`` turns one into the typed error a client facade raises.
Exceptions from the engine itself are HALT-class: they mean a bug, a record
this code never writes, or a venue whose answers contradict each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import DeniedError, GatewayNotReady, HaltError, SwarmError

if TYPE_CHECKING:
    from risk.checks import Denial


class IdempotencyConflict(DeniedError):
    """The intent id is known with different parameters; the first order stands."""

    def __init__(self, client_order_id: str, message: str) -> None:
        super().__init__(f"{client_order_id}: {message}")
        self.client_order_id = client_order_id


class OrderDenied(DeniedError):
    """A pre-trade check, the breaker or a tombstone refused the order; nothing was reserved."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(f"{denial.reason}: {denial.message}")
        self.denial = denial


class OrderTransitionRefused(HaltError):
    """An order status change that is not in the transition table (a bug or a venue contradiction)."""

    def __init__(self, client_order_id: str, source: str, target: str, reason: str) -> None:
        super().__init__(f"order {client_order_id}: {source} -> {target}: {reason}")
        self.client_order_id = client_order_id
        self.source = source
        self.target = target
        self.reason = reason


class RecordRefused(HaltError):
    """A log record the engine cannot apply: malformed, or about an order it never logged."""

    def __init__(self, record_type: str, reason: str) -> None:
        super().__init__(f"{record_type} record refused: {reason}")
        self.record_type = record_type
        self.reason = reason


def error_for_denial(denial: Denial, client_order_id: str | None = None) -> SwarmError:
    """Return the typed error a caller should see for ``denial``."""
    from risk.checks import DenialReason  # risk imports nothing of gateway: no cycle at run time

    if denial.reason is DenialReason.NOT_READY:
        return GatewayNotReady(denial.message)
    if denial.reason is DenialReason.IDEMPOTENCY_CONFLICT:
        return IdempotencyConflict(client_order_id or str(denial.value), denial.message)
    return OrderDenied(denial)
