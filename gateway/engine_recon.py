"""Funding settlements and reconciliation with the venue: the part of the engine about cash reports.

A layer of ``GatewayEngine`` (kept apart to keep files short): the same rules
hold, decisions return records and only ``apply`` (in ``EngineState``) changes state
(or ``restore_checkpoint``, on a fresh engine, in ``engine_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.models import Balances, Position
from gateway.breaker import Trip, TripReason
from gateway.engine_checkpoint import CheckpointedState
from gateway.engine_records import (
    CorrectionEntry,
    FundingPayload,
    ReconciliationPayload,
    WalRecord,
)
from gateway.engine_types import EventDecision, EventOutcome, ReconcileDecision
from risk.reconcile import (
    DiffKind,
    Mismatch,
    Reconciliation,
    Verdict,
    combine,
    reconcile_balances,
    reconcile_positions,
)


class FundingAndReconciliation(CheckpointedState):
    """``on_funding`` and ``reconcile``: decisions about the venue's cash reports."""

    # -- FUNDING --------------------------------------------------------------

    def on_funding(
        self,
        venue: str,
        symbol: str,
        rate: Decimal,
        mark_price: Decimal,
        funding_timestamp: int,
        *,
        settled: Decimal | None = None,
    ) -> EventDecision:
        """Decide the split of one funding settlement among the agents holding ``symbol``.

        ``settled`` is what the venue booked for the whole account, when known;
        otherwise the engine computes it from its mirror of the venue's position.
        Each settlement (per symbol and funding time) is booked once.
        """
        market = self._markets.get((venue, symbol))
        if market is None or (market.is_spot and settled is None):
            # A spot symbol's "funding" is a venue's interest on a borrowed spot asset
            # (paper spot margin): booked only as the venue settled it.
            return EventDecision(EventOutcome.INVALID, detail=f"{venue} {symbol} is not a perp")
        if not (rate.is_finite() and mark_price.is_finite() and mark_price > 0):
            return EventDecision(EventOutcome.INVALID, detail="rate and mark must be finite")
        last = self._last_funding.get((venue, symbol))
        if last is not None and funding_timestamp <= last:
            return EventDecision(EventOutcome.DUPLICATE)
        payments = self._ledger.funding_payments(venue, symbol, rate, mark_price)
        total = (
            settled
            if settled is not None
            else self._ledger.venue_funding(venue, symbol, rate, mark_price)
        )
        if not payments and not total:
            return EventDecision(EventOutcome.NOOP, detail="nobody holds the symbol")
        payload = FundingPayload(
            venue=venue,
            symbol=symbol,
            asset=market.settle or market.quote,
            rate=rate,
            mark_price=mark_price,
            funding_timestamp=funding_timestamp,
            payments=payments,
            total=total,
            at_ns=self._clock.now_ns(),
        )
        return EventDecision(EventOutcome.RECORD, (payload.to_record(),))

    # -- RECONCILIATION -------------------------------------------------------

    def reconciled(self, venue: str) -> bool:
        """Tell whether ``venue`` was reconciled before (its books adopted): later ones compare."""
        return venue in self._reconciled

    def reconcile(
        self,
        venue: str,
        balances: Balances | None,
        positions: Sequence[Position] | None,
    ) -> ReconcileDecision:
        """Compare the books with the venue's reports (None: that fetch failed); decide the records.

        Within tolerance: corrections, logged. Beyond, or a report missing what
        we hold: a MISMATCH, and the breaker opens. The first reconciliation of
        a venue adopts what it reports as the starting books.
        """
        tolerance = self._limits.reconciliation
        adopt = venue not in self._reconciled
        perps = {s for (v, s), m in self._markets.items() if v == venue and not m.is_spot}
        known: list[Position] | None = None
        stray: list[Mismatch] = []
        if positions is not None:
            known = []
            for position in positions:
                if position.venue != venue:
                    continue
                if position.symbol in perps:
                    known.append(position)
                elif position.contracts:
                    stray.append(_mismatch(DiffKind.POSITION, position.symbol, "not a known perp"))
        if adopt and balances is None:
            stray.append(_mismatch(DiffKind.BALANCE, "*", "no balance report to start from"))
        if adopt and positions is None and perps:
            stray.append(_mismatch(DiffKind.POSITION, "*", "no position report to start from"))
        expected = self._ledger.expected_positions(venue)
        pos = reconcile_positions(expected, known, tolerance, adopt=adopt)
        bal = reconcile_balances(
            self._ledger.expected_balances(venue), balances, tolerance, adopt=adopt
        )
        entries: list[CorrectionEntry] = []
        by_symbol = {p.symbol: p for p in known or ()}
        for correction in pos.corrections:
            reported = by_symbol.get(correction.key)
            price = self._ledger.marks.get((venue, correction.key))
            if reported is not None and reported.entry_price is not None:
                price = reported.entry_price
            if price is None:
                stray.append(_mismatch(DiffKind.POSITION, correction.key, "no price to book at"))
                continue
            entries.append(
                CorrectionEntry(
                    kind="position", key=correction.key, delta=correction.delta, price=price
                )
            )
        entries.extend(
            CorrectionEntry(kind="balance", key=c.key, delta=c.delta) for c in bal.corrections
        )
        # combine() judges the parts anew: only the booked position corrections count.
        booked = tuple(c for c in pos.corrections if _booked(c.key, entries))
        result = combine(
            Reconciliation(verdict=Verdict.MATCH, corrections=booked, mismatches=pos.mismatches),
            bal,
            Reconciliation(verdict=Verdict.MATCH, mismatches=tuple(stray)),
        )
        payload = ReconciliationPayload(
            venue=venue,
            verdict=result.verdict,
            adopted=adopt and result.verdict is not Verdict.MISMATCH,
            corrections=tuple(entries),
            mismatches=tuple(f"{m.kind} {m.key}: {m.reason}" for m in result.mismatches),
            at_ns=self._clock.now_ns(),
        )
        records: tuple[WalRecord, ...] = (payload.to_record(),)
        if result.verdict is Verdict.MISMATCH:
            event = Trip(
                TripReason.RECONCILIATION_BEYOND_TOLERANCE, f"{venue}: {result.describe()}"
            )
            records += self._breaker_records(event)
        return ReconcileDecision(result, records)


def _mismatch(kind: DiffKind, key: str, reason: str) -> Mismatch:
    return Mismatch(kind=kind, key=key, expected=Decimal(0), reported=None, reason=reason)


def _booked(key: str, entries: list[CorrectionEntry]) -> bool:
    return any(e.kind == "position" and e.key == key for e in entries)
