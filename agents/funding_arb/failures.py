"""Failed legs: a cooldown and a daily cap after each unwind, and a disable that waits for its cause.

A unit whose missing leg could not be completed is unwound (``logic.reconcile``).
Re-entering it at once repeats the loop the paper venue showed when it refused a
short-spot leg: 63 round trips in 4 hours. So each unwind starts a cooldown, a unit
unwound ``max_failures_per_day`` times waits for the next UTC day, and one unwound
``disable_after_failures`` times in a row (no successful open between) is disabled
until the configuration of its venues changes (``view.cause_fingerprint``).
"""

from __future__ import annotations

from dataclasses import replace

from agents.funding_arb.config import FundingArbConfig
from agents.funding_arb.model import FailureRecord

DAY_NS = 86_400 * 10**9


def record_failure(
    previous: FailureRecord | None, ts_ns: int, cause: str, config: FundingArbConfig
) -> FailureRecord:
    """Return the record after one more unwind at ``ts_ns``."""
    record = previous or FailureRecord()
    day = ts_ns // DAY_NS
    today = record.today + 1 if record.day == day else 1
    consecutive = record.consecutive + 1
    disabled = cause if consecutive >= config.disable_after_failures else record.disabled_cause
    return FailureRecord(
        day=day,
        today=today,
        consecutive=consecutive,
        cooldown_until_ns=ts_ns + config.failure_cooldown_ns,
        disabled_cause=disabled,
    )


def record_success(previous: FailureRecord | None) -> FailureRecord | None:
    """Return the record after the unit opened fully: the run of failures is broken."""
    if previous is None or previous.consecutive == 0:
        return previous
    return replace(previous, consecutive=0)


def blocked(
    record: FailureRecord | None, ts_ns: int, cause: str, config: FundingArbConfig
) -> str | None:
    """Return why a unit may not be entered now ("cooldown", "daily_cap", "disabled"), or None."""
    if record is None:
        return None
    if record.disabled_cause is not None and record.disabled_cause == cause:
        return "disabled"
    if ts_ns < record.cooldown_until_ns:
        return "cooldown"
    if record.day == ts_ns // DAY_NS and record.today >= config.max_failures_per_day:
        return "daily_cap"
    return None


def enabled_again(record: FailureRecord, cause: str) -> FailureRecord:
    """Return the record with its disable lifted when the cause it was recorded under changed."""
    if record.disabled_cause is not None and record.disabled_cause != cause:
        return replace(record, disabled_cause=None, consecutive=0)
    return record
