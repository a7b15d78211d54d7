"""Reconciliation: compare the gateway's books with what the venue reports, as pure functions.

Each amount the gateway expects (a balance per asset, signed contracts per
perpetual) is compared with the venue's report:

- equal: nothing to do;
- within the tolerance (``ReconcileTolerance``: 1 % relative by default, plus
  an optional absolute dust allowance): a ``Correction`` that moves the
  gateway's books to the venue's figure, logged;
- beyond it: a ``Mismatch``, and the verdict is MISMATCH (the breaker opens);
- **missing from the report while the gateway expects a non-zero amount**: a
  mismatch. A venue that does not mention a position is not saying it is
  flat; it may be failing. Only an explicit zero is zero.

On the very first reconciliation of a venue (``adopt=True``) the gateway
knows nothing yet: whatever the venue reports is adopted as corrections (the
account's deposits), though a missing report is still a mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum

from core.models import Balances, Frozen, Position
from core.money import ZERO, Dec
from risk.limits import ReconcileTolerance


class Verdict(StrEnum):
    MATCH = "match"
    CORRECTED = "corrected"
    MISMATCH = "mismatch"


class DiffKind(StrEnum):
    BALANCE = "balance"
    POSITION = "position"


class Correction(Frozen):
    """Move the gateway's ``key`` (an asset or a symbol) by ``delta`` to match the venue."""

    kind: DiffKind
    key: str
    expected: Dec
    reported: Dec
    delta: Dec


class Mismatch(Frozen):
    kind: DiffKind
    key: str
    expected: Dec
    reported: Dec | None
    """None: the venue's report does not mention it."""
    reason: str


class Reconciliation(Frozen):
    verdict: Verdict
    corrections: tuple[Correction, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()

    def describe(self) -> str:
        """Return one line naming every mismatch (or the number of corrections)."""
        if self.mismatches:
            return "; ".join(f"{m.kind} {m.key}: {m.reason}" for m in self.mismatches)
        return f"{self.verdict}: {len(self.corrections)} correction(s)"


# -- COMPARING ----------------------------------------------------------------


def within_tolerance(expected: Decimal, reported: Decimal, tolerance: ReconcileTolerance) -> bool:
    """Return whether ``reported`` differs from ``expected`` by no more than the tolerance."""
    difference = abs(reported - expected)
    if difference <= tolerance.absolute:
        return True
    scale = max(abs(expected), abs(reported))
    return difference <= scale * tolerance.relative


def compare(
    kind: DiffKind,
    expected: Mapping[str, Decimal],
    reported: Mapping[str, Decimal] | None,
    tolerance: ReconcileTolerance,
    *,
    adopt: bool = False,
) -> Reconciliation:
    """Compare ``expected`` amounts with a venue's ``reported`` ones (None: no report at all)."""
    corrections: list[Correction] = []
    mismatches: list[Mismatch] = []
    keys = sorted(set(expected) | set(reported or {}))
    for key in keys:
        ours = expected.get(key, ZERO)
        theirs = reported.get(key) if reported is not None else None
        if theirs is None:
            if ours:
                mismatches.append(
                    Mismatch(
                        kind=kind,
                        key=key,
                        expected=ours,
                        reported=None,
                        reason=f"expected {ours}, the venue's report does not mention it",
                    )
                )
            continue
        if theirs == ours:
            continue
        if adopt or within_tolerance(ours, theirs, tolerance):
            corrections.append(
                Correction(kind=kind, key=key, expected=ours, reported=theirs, delta=theirs - ours)
            )
        else:
            mismatches.append(
                Mismatch(
                    kind=kind,
                    key=key,
                    expected=ours,
                    reported=theirs,
                    reason=f"expected {ours}, the venue reports {theirs}: beyond tolerance",
                )
            )
    return _verdict(corrections, mismatches)


def _verdict(corrections: list[Correction], mismatches: list[Mismatch]) -> Reconciliation:
    if mismatches:
        verdict = Verdict.MISMATCH
    elif corrections:
        verdict = Verdict.CORRECTED
    else:
        verdict = Verdict.MATCH
    return Reconciliation(
        verdict=verdict, corrections=tuple(corrections), mismatches=tuple(mismatches)
    )


def combine(*parts: Reconciliation) -> Reconciliation:
    """Join several comparisons into one verdict (the worst wins)."""
    corrections = [c for part in parts for c in part.corrections]
    mismatches = [m for part in parts for m in part.mismatches]
    return _verdict(corrections, mismatches)


# -- VENUE REPORTS ------------------------------------------------------------


def reconcile_balances(
    expected: Mapping[str, Decimal],
    reported: Balances | None,
    tolerance: ReconcileTolerance,
    *,
    adopt: bool = False,
) -> Reconciliation:
    """Compare expected totals per asset with a venue's balances (None: the fetch failed)."""
    totals = None if reported is None else {a: b.total for a, b in reported.assets.items()}
    return compare(DiffKind.BALANCE, expected, totals, tolerance, adopt=adopt)


def position_totals(reported: Sequence[Position]) -> dict[str, Decimal]:
    """Return signed contracts per symbol (a hedge-mode long and short add up)."""
    totals: dict[str, Decimal] = {}
    for position in reported:
        totals[position.symbol] = totals.get(position.symbol, ZERO) + position.signed_contracts
    return totals


def reconcile_positions(
    expected: Mapping[str, Decimal],
    reported: Sequence[Position] | None,
    tolerance: ReconcileTolerance,
    *,
    adopt: bool = False,
) -> Reconciliation:
    """Compare expected signed contracts per symbol with a venue's positions (None: fetch failed).

    Venues leave flat positions out of their reports, so a symbol the gateway
    expects flat may be absent; one it expects open may not.
    """
    totals = None if reported is None else position_totals(reported)
    return compare(DiffKind.POSITION, expected, totals, tolerance, adopt=adopt)
