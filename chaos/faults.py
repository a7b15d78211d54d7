"""Venue faults for a running paper system: the pure decision core behind ``VenueActor.set_faults``.

Contract
    ``FaultSpec`` says what to inject (a probability per call for each fault, the
    added latency, an outage's length); ``VenueFaults`` rolls seeded dice for
    each exchange call and tells the venue actor what to do: sleep first, fail
    before doing anything, or do the call and then lose its answer. It imports
    no Ray, reads time only through the injected ``Clock``, and changes no venue
    state itself. Off by default: a venue actor without a spec never calls it.

The faults, as a real venue shows them to the gateway:

- ``latency_ms`` (+ up to ``jitter_ms``): every faulted call answers later;
  past the gateway's ``venue_timeout_s`` it becomes a real timeout;
- ``timeout``: a write never left: nothing placed, ``RequestTimeout``;
- ``server_error``: a 5xx-style answer, nothing done: ``ExchangeUnavailable``;
- ``lost_ack``: the order IS placed (or the cancel done), the answer is lost:
  ``RequestTimeout``;
- ``not_found``: after a create, the next ``not_found_queries`` lookups of
  that client order id (fetch, cancel) answer ``OrderNotFound`` (eventual
  consistency);
- ``reject``: the venue refuses the order: ``InvalidOrder``, nothing placed;
- ``outage_s``: from the moment the spec is set, every faulted call fails with
  ``ExchangeUnavailable`` for that many seconds.

Account reads (balances, positions) and market data are left alone unless
``account_reads`` is set: a missing balance report at a gateway recovery opens
the breaker by design (DESIGN.md "Recovery"), which ends trading until an
operator resets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pydantic import Field

from core.clock import NS_PER_S, Clock
from core.config import ConfigModel
from core.errors import ExchangeUnavailable, InvalidOrder, OrderNotFound, RequestTimeout

FAULT_KINDS: Final = ("timeout", "server_error", "lost_ack", "not_found", "reject")
"""The per-call faults, in the order their dice are rolled on a create."""

WRITES: Final = frozenset({"create_order", "cancel_order"})
ORDER_READS: Final = frozenset({"fetch_order", "fetch_open_orders", "fetch_my_trades"})
ACCOUNT_READS: Final = frozenset({"fetch_balance", "fetch_positions"})


class FaultSpec(ConfigModel):
    """What to inject; every rate is a probability per call in [0, 1]."""

    seed: int = 0
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0.0, ge=0, le=60_000)
    timeout: float = Field(default=0.0, ge=0, le=1)
    server_error: float = Field(default=0.0, ge=0, le=1)
    lost_ack: float = Field(default=0.0, ge=0, le=1)
    not_found: float = Field(default=0.0, ge=0, le=1)
    not_found_queries: int = Field(default=2, ge=1, le=1000)
    reject: float = Field(default=0.0, ge=0, le=1)
    outage_s: float = Field(default=0.0, ge=0, le=3600)
    account_reads: bool = False

    @property
    def active(self) -> bool:
        """Tell whether this spec injects anything at all."""
        return bool(
            self.latency_ms
            or self.jitter_ms
            or self.outage_s
            or any(getattr(self, kind) for kind in FAULT_KINDS)
        )


class Verdict(StrEnum):
    """What the venue actor does with one call."""

    PROCEED = "proceed"
    FAIL = "fail"
    """Raise ``error`` before touching the venue."""
    LOSE_ANSWER = "lose_answer"
    """Do the call, then raise ``error`` instead of returning its answer."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The dice's answer for one call: how long to wait first, and its verdict."""

    delay_s: float
    verdict: Verdict = Verdict.PROCEED
    error: Exception | None = None
    hide: bool = False
    """After a successful create: hide its client order id from the next lookups."""


PROCEED: Final = Decision(0.0)


@dataclass
class VenueFaults:
    """Roll the dice of ``spec`` for each exchange call (see the module doc)."""

    spec: FaultSpec
    clock: Clock
    venue: str = "venue"
    rng: random.Random = field(init=False)
    counts: dict[str, int] = field(init=False)
    outage_until_ns: int = field(init=False)
    _hidden: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.spec.seed)
        self.counts = dict.fromkeys((*FAULT_KINDS, "outage", "delayed", "hidden_queries"), 0)
        self.outage_until_ns = self.clock.now_ns() + int(self.spec.outage_s * NS_PER_S)

    # -- DECIDING ---------------------------------------------------------------

    def in_outage(self) -> bool:
        return self.clock.now_ns() < self.outage_until_ns

    def faulted(self, method: str) -> bool:
        """Tell whether ``method`` is subject to faults at all."""
        return (
            method in WRITES
            or method in ORDER_READS
            or (self.spec.account_reads and method in ACCOUNT_READS)
        )

    def _roll(self, kind: str) -> bool:
        rate: float = getattr(self.spec, kind)
        hit = self.rng.random() < rate  # always roll: one rate never shifts another fault's dice
        if hit:
            self.counts[kind] += 1
        return hit

    def _delay(self) -> float:
        spec = self.spec
        if not (spec.latency_ms or spec.jitter_ms):
            return 0.0
        self.counts["delayed"] += 1
        return (spec.latency_ms + self.rng.random() * spec.jitter_ms) / 1000.0

    def decide(self, method: str, client_order_id: str | None = None) -> Decision:
        """Decide the fate of one call of ``method`` (for a write: of one order's request)."""
        if not self.faulted(method):
            return PROCEED
        delay = self._delay()
        if self.in_outage():
            self.counts["outage"] += 1
            return Decision(
                delay, Verdict.FAIL, ExchangeUnavailable(f"{self.venue}: simulated outage")
            )
        if method == "create_order":
            return self._decide_create(delay, client_order_id)
        if method == "cancel_order":
            return self._decide_cancel(delay, client_order_id)
        if self._roll("server_error"):
            return Decision(
                delay, Verdict.FAIL, ExchangeUnavailable(f"{self.venue}.{method}: simulated 503")
            )
        return Decision(delay)

    def _decide_create(self, delay: float, cid: str | None) -> Decision:
        timeout = self._roll("timeout")
        server_error = self._roll("server_error")
        reject = self._roll("reject")
        lost = self._roll("lost_ack")
        hide = self._roll("not_found")
        if timeout:
            return Decision(
                delay,
                Verdict.FAIL,
                RequestTimeout(
                    f"{self.venue}: simulated timeout, the order never left", client_order_id=cid
                ),
            )
        if server_error:
            return Decision(
                delay, Verdict.FAIL, ExchangeUnavailable(f"{self.venue}: simulated 503 on create")
            )
        if reject:
            return Decision(
                delay, Verdict.FAIL, InvalidOrder(f"{self.venue}: simulated rejection of {cid}")
            )
        if lost:
            return Decision(
                delay,
                Verdict.LOSE_ANSWER,
                RequestTimeout(
                    f"{self.venue}: simulated: the order was placed, its ack lost",
                    client_order_id=cid,
                ),
                hide=hide,
            )
        return Decision(delay, hide=hide)

    def _decide_cancel(self, delay: float, cid: str | None) -> Decision:
        if cid is not None and self.hides(cid):
            return Decision(
                delay,
                Verdict.FAIL,
                OrderNotFound(f"{self.venue}: simulated: {cid} not visible yet"),
            )
        timeout = self._roll("timeout")
        server_error = self._roll("server_error")
        lost = self._roll("lost_ack")
        if timeout:
            return Decision(
                delay, Verdict.FAIL, RequestTimeout(f"{self.venue}: simulated cancel timeout")
            )
        if server_error:
            return Decision(
                delay, Verdict.FAIL, ExchangeUnavailable(f"{self.venue}: simulated 503 on cancel")
            )
        if lost:
            return Decision(
                delay,
                Verdict.LOSE_ANSWER,
                RequestTimeout(f"{self.venue}: simulated: the cancel was done, its ack lost"),
            )
        return Decision(delay)

    # -- NOT FOUND AFTER CREATE -------------------------------------------------

    def hide(self, client_order_id: str) -> None:
        """Hide a just-created order from the next ``not_found_queries`` lookups."""
        self._hidden[client_order_id] = self.spec.not_found_queries

    def hides(self, client_order_id: str | None) -> bool:
        """Count one lookup of ``client_order_id``; tell whether it is still invisible."""
        if client_order_id is None:
            return False
        left = self._hidden.get(client_order_id)
        if left is None:
            return False
        if left <= 1:
            del self._hidden[client_order_id]
        else:
            self._hidden[client_order_id] = left - 1
        self.counts["hidden_queries"] += 1
        return True

    def hidden(self) -> frozenset[str]:
        """Return the client order ids invisible right now (for open-order listings)."""
        return frozenset(self._hidden)

    def stats(self) -> dict[str, object]:
        """Return the spec and how often each fault fired."""
        return {
            "spec": self.spec.model_dump(),
            "counts": dict(self.counts),
            "in_outage": self.in_outage(),
            "hidden": len(self._hidden),
        }
