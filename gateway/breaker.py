"""The circuit breaker: a pure state machine with an explicit transition table.

States, from safest to least safe (``BreakerState.safety``)::

    OPEN (3)      halted; nothing passes; only an operator's reset leads on
    DRAINING (2)  tripped; in-flight orders finish, new ones only reduce-only
    HALF_OPEN (1) after a reset: a configured number of probe orders
    CLOSED (0)    trading

The table (``TRANSITIONS``) is the whole truth::

    CLOSED    --trip-->           DRAINING  drawdown, reconciliation mismatch,
                                            error burst, manual kill
    CLOSED    --halt-->           OPEN      WAL corruption, reconciliation beyond
                                            tolerance, bad credentials, ...
    DRAINING  --halt-->           OPEN
    DRAINING  --drained-->        OPEN      nothing in flight any more
    DRAINING  --drain_timeout-->  OPEN      the clock passed ``drain_timeout_ns``
    OPEN      --reset-->          HALF_OPEN operator (default)
    OPEN      --reset_to_closed-> CLOSED    operator, only if ``reset_to`` is CLOSED
    HALF_OPEN --probes_passed-->  CLOSED    ``probe_orders`` probes succeeded
    HALF_OPEN --probe_failed-->   OPEN
    HALF_OPEN --trip / halt-->    OPEN      anything going wrong while probing

Write-ahead use: ``decide(event)`` is pure and returns the transition that
would happen (or None); the caller appends it to the WAL, commits, and only
then calls ``apply(transition)``. ``record(event)`` is ``decide`` for the two
counted events (``ErrorObserved``, ``ProbeResult``) plus the counting.

Recovery: ``Breaker.restore(logged_transitions)`` applies the logged
transitions from CLOSED (or from a checkpointed state), refusing any that is
not in the table or does not start where the previous one ended. Because a
transition takes effect only after it is logged, the restored state is the
last state the log committed to: a trip that was logged is never lost, and
no state less safe than the logged one can appear. The one transition that
may be "completed" by a restart is a logged reset or probes-passed whose
``apply`` had not run yet: the operator's (or the probes') decision was
durable, so recovery carries it out. Counters are not logged: after a restart
the error window is empty and a HALF_OPEN breaker gets a fresh probe budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, ValidationError

from core.clock import NS_PER_S, Clock
from core.models import Frozen
from gateway.errors import BreakerTransitionRefused

# -- STATES, REASONS, TRIGGERS ------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    DRAINING = "draining"
    OPEN = "open"

    @property
    def safety(self) -> int:
        """Return the rank in the safety order OPEN > DRAINING > HALF_OPEN > CLOSED."""
        return _SAFETY[self]


_SAFETY = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.DRAINING: 2,
    BreakerState.OPEN: 3,
}


class TripReason(StrEnum):
    """Why the breaker trips; a halt-class reason skips DRAINING and opens at once."""

    DRAWDOWN_LIMIT = "drawdown_limit"
    RECONCILIATION_MISMATCH = "reconciliation_mismatch"
    ERROR_BURST = "error_burst"
    MANUAL_KILL = "manual_kill"
    WAL_CORRUPTION = "wal_corruption"
    RECONCILIATION_BEYOND_TOLERANCE = "reconciliation_beyond_tolerance"
    AUTHENTICATION_FAILED = "authentication_failed"
    VENUE_PROTOCOL_ERROR = "venue_protocol_error"
    MANUAL_HALT = "manual_halt"

    @property
    def halts(self) -> bool:
        """Return True if this reason opens the breaker at once (no draining)."""
        return self in _HALT_REASONS


_HALT_REASONS = frozenset(
    {
        TripReason.WAL_CORRUPTION,
        TripReason.RECONCILIATION_BEYOND_TOLERANCE,
        TripReason.AUTHENTICATION_FAILED,
        TripReason.VENUE_PROTOCOL_ERROR,
        TripReason.MANUAL_HALT,
    }
)


class Trigger(StrEnum):
    """What moves the breaker: the second half of a ``TRANSITIONS`` key."""

    TRIP = "trip"
    HALT = "halt"
    DRAINED = "drained"
    DRAIN_TIMEOUT = "drain_timeout"
    RESET = "reset"
    RESET_TO_CLOSED = "reset_to_closed"
    PROBES_PASSED = "probes_passed"
    PROBE_FAILED = "probe_failed"


_S = BreakerState
_T = Trigger
TRANSITIONS: Mapping[tuple[BreakerState, Trigger], BreakerState] = MappingProxyType(
    {
        (_S.CLOSED, _T.TRIP): _S.DRAINING,
        (_S.CLOSED, _T.HALT): _S.OPEN,
        (_S.DRAINING, _T.HALT): _S.OPEN,
        (_S.DRAINING, _T.DRAINED): _S.OPEN,
        (_S.DRAINING, _T.DRAIN_TIMEOUT): _S.OPEN,
        (_S.OPEN, _T.RESET): _S.HALF_OPEN,
        (_S.OPEN, _T.RESET_TO_CLOSED): _S.CLOSED,
        (_S.HALF_OPEN, _T.PROBES_PASSED): _S.CLOSED,
        (_S.HALF_OPEN, _T.PROBE_FAILED): _S.OPEN,
        (_S.HALF_OPEN, _T.TRIP): _S.OPEN,
        (_S.HALF_OPEN, _T.HALT): _S.OPEN,
    }
)
"""Every allowed transition: (from state, trigger) -> to state. Nothing else happens."""


# -- EVENTS (what the gateway tells the breaker) -------------------------------


@dataclass(frozen=True, slots=True)
class Trip:
    """A trip condition: drawdown, mismatch, manual kill, a halt-class fault."""

    reason: TripReason
    detail: str = ""
    actor: str = "gateway"


@dataclass(frozen=True, slots=True)
class ErrorObserved:
    """One error counted toward the burst limit (``record`` counts it)."""

    detail: str = ""
    actor: str = "gateway"


@dataclass(frozen=True, slots=True)
class Drained:
    """No order is in flight any more."""

    actor: str = "gateway"


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: check the drain timeout."""

    actor: str = "gateway"


@dataclass(frozen=True, slots=True)
class Reset:
    """An operator's reset; only an OPEN breaker accepts it."""

    operator: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe order admitted in HALF_OPEN (``record`` counts it)."""

    ok: bool
    detail: str = ""
    actor: str = "gateway"


BreakerEvent = Trip | ErrorObserved | Drained | Tick | Reset | ProbeResult


# -- TRANSITIONS, CONFIG, ADMISSION -------------------------------------------


class BreakerTransition(Frozen):
    """One state change, logged to the WAL before it takes effect."""

    from_state: BreakerState
    to_state: BreakerState
    trigger: Trigger
    reason: TripReason | None = None
    detail: str = ""
    at_ns: int = Field(ge=0)
    actor: str

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON-safe dict to append to the WAL."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> BreakerTransition:
        """Parse a logged payload; raise ``BreakerTransitionRefused`` if it is not one."""
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise BreakerTransitionRefused(
                str(payload.get("from_state")),
                str(payload.get("to_state")),
                str(payload.get("trigger")),
                f"not a breaker transition: {exc.errors()[0]['msg']}",
            ) from None


class BreakerConfig(Frozen):
    """Limits of the breaker; unknown keys are an error."""

    probe_orders: int = Field(default=3, ge=1)
    error_burst_count: int = Field(default=5, ge=1)
    error_burst_window_ns: int = Field(default=60 * NS_PER_S, gt=0)
    drain_timeout_ns: int = Field(default=30 * NS_PER_S, gt=0)
    reset_to: Literal[BreakerState.HALF_OPEN, BreakerState.CLOSED] = BreakerState.HALF_OPEN


class OrderKind(StrEnum):
    NEW = "new"
    REDUCE_ONLY = "reduce_only"


class Denial(StrEnum):
    """Why the breaker refuses an order: a result to report, not an exception."""

    BREAKER_OPEN = "breaker_open"
    DRAINING_REDUCE_ONLY = "draining_reduce_only"
    PROBE_BUDGET_SPENT = "probe_budget_spent"


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer for one order; truthy when it may pass."""

    allowed: bool
    state: BreakerState
    denial: Denial | None = None
    probe: bool = False

    def __bool__(self) -> bool:
        return self.allowed


# -- THE BREAKER --------------------------------------------------------------


class Breaker:
    """The state machine. Not thread-safe: the gateway owns it."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock,
        *,
        state: BreakerState = BreakerState.CLOSED,
        since_ns: int = 0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._state = state
        self._since_ns = since_ns
        self._errors: deque[int] = deque()
        self._probes_admitted = 0
        self._probes_passed = 0

    @classmethod
    def restore(
        cls,
        transitions: Iterable[BreakerTransition],
        *,
        config: BreakerConfig,
        clock: Clock,
        state: BreakerState = BreakerState.CLOSED,
        since_ns: int = 0,
    ) -> Breaker:
        """Rebuild the breaker from its logged transitions (after ``state`` of a checkpoint).

        Raise ``BreakerTransitionRefused`` on a transition not in the table or
        not starting where the previous one ended: the log then holds a history
        this code never writes, and the gateway must halt.
        """
        breaker = cls(config, clock, state=state, since_ns=since_ns)
        for index, transition in enumerate(transitions):
            try:
                breaker.apply(transition)
            except BreakerTransitionRefused as exc:
                raise BreakerTransitionRefused(
                    exc.source, exc.target, exc.trigger, f"logged transition #{index}: {exc.reason}"
                ) from None
        return breaker

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def since_ns(self) -> int:
        """Return when the current state began (the last transition's ``at_ns``)."""
        return self._since_ns

    @property
    def probes_admitted(self) -> int:
        return self._probes_admitted

    def counters(self) -> tuple[tuple[int, ...], int, int]:
        """Return the volatile counters (error times in the window, probes admitted and passed).

        A checkpoint keeps them so a restart is not less safe than the running gateway was.
        """
        return tuple(self._errors), self._probes_admitted, self._probes_passed

    def load_state(
        self,
        state: BreakerState,
        since_ns: int,
        errors: Iterable[int] = (),
        probes_admitted: int = 0,
        probes_passed: int = 0,
    ) -> None:
        """Take back a checkpoint's state and counters (``state``, ``since_ns``, ``counters()``)."""
        self._state = state
        self._since_ns = since_ns
        self._errors = deque(errors)
        self._probes_admitted = probes_admitted
        self._probes_passed = probes_passed

    @property
    def probes_passed(self) -> int:
        return self._probes_passed

    # -- deciding (pure) ----------------------------------------------------

    def decide(self, event: BreakerEvent) -> BreakerTransition | None:
        """Return the transition ``event`` causes now, or None; change nothing."""
        now = self._clock.now_ns()
        state = self._state
        reason: TripReason | None = None
        detail = ""
        actor = "gateway"
        if isinstance(event, Trip):
            trigger = Trigger.HALT if event.reason.halts else Trigger.TRIP
            reason, detail, actor = event.reason, event.detail, event.actor
        elif isinstance(event, ErrorObserved):
            if self._errors_in_window(now) + 1 < self._config.error_burst_count:
                return None
            trigger, reason, actor = Trigger.TRIP, TripReason.ERROR_BURST, event.actor
            detail = (
                f"{self._config.error_burst_count} errors within "
                f"{self._config.error_burst_window_ns} ns; last: {event.detail}"
            )
        elif isinstance(event, Drained):
            trigger, actor = Trigger.DRAINED, event.actor
        elif isinstance(event, Tick):
            if state is not BreakerState.DRAINING:
                return None
            if now - self._since_ns < self._config.drain_timeout_ns:
                return None
            trigger, actor = Trigger.DRAIN_TIMEOUT, event.actor
            detail = f"still draining after {now - self._since_ns} ns"
        elif isinstance(event, Reset):
            closed = self._config.reset_to is BreakerState.CLOSED
            trigger = Trigger.RESET_TO_CLOSED if closed else Trigger.RESET
            detail, actor = event.detail, event.operator
        else:
            if state is not BreakerState.HALF_OPEN:
                return None
            if event.ok and self._probes_passed + 1 < self._config.probe_orders:
                return None
            trigger = Trigger.PROBES_PASSED if event.ok else Trigger.PROBE_FAILED
            detail, actor = event.detail, event.actor
        target = TRANSITIONS.get((state, trigger))
        if target is None:
            return None
        return BreakerTransition(
            from_state=state,
            to_state=target,
            trigger=trigger,
            reason=reason,
            detail=detail,
            at_ns=now,
            actor=actor,
        )

    def record(self, event: BreakerEvent) -> BreakerTransition | None:
        """Count ``event`` if it is an error or a probe result; return what ``decide`` says.

        The counters are volatile (not logged): the transition they lead to is.
        """
        transition = self.decide(event)
        if isinstance(event, ErrorObserved):
            now = self._clock.now_ns()
            self._errors_in_window(now)
            self._errors.append(now)
        elif isinstance(event, ProbeResult) and event.ok:
            if self._state is BreakerState.HALF_OPEN:
                self._probes_passed += 1
        return transition

    def _errors_in_window(self, now: int) -> int:
        # Dropping expired entries here changes nothing ``decide`` may observe.
        horizon = now - self._config.error_burst_window_ns
        while self._errors and self._errors[0] <= horizon:
            self._errors.popleft()
        return len(self._errors)

    # -- applying (after the WAL commit) ------------------------------------

    def apply(self, transition: BreakerTransition) -> None:
        """Make a logged transition take effect; refuse one not in the table or not from here."""
        key = (transition.from_state, transition.trigger)
        allowed = TRANSITIONS.get(key)
        if allowed is None or allowed != transition.to_state:
            raise BreakerTransitionRefused(
                transition.from_state,
                transition.to_state,
                transition.trigger,
                "not in the transition table",
            )
        if transition.from_state is not self._state:
            raise BreakerTransitionRefused(
                transition.from_state,
                transition.to_state,
                transition.trigger,
                f"the breaker is {self._state}, not {transition.from_state}",
            )
        self._state = transition.to_state
        self._since_ns = transition.at_ns
        # A new state starts with fresh counters: an old burst must not re-trip
        # a reset breaker, and each HALF_OPEN gets the full probe budget.
        self._errors.clear()
        self._probes_admitted = 0
        self._probes_passed = 0

    # -- admission ----------------------------------------------------------

    def admits(self, kind: OrderKind) -> Admission:
        """Return whether a new order of ``kind`` may pass now; change nothing."""
        state = self._state
        if state is BreakerState.CLOSED:
            return Admission(True, state)
        if state is BreakerState.DRAINING:
            if kind is OrderKind.REDUCE_ONLY:
                return Admission(True, state)
            return Admission(False, state, Denial.DRAINING_REDUCE_ONLY)
        if state is BreakerState.HALF_OPEN:
            if self._probes_admitted < self._config.probe_orders:
                return Admission(True, state, probe=True)
            return Admission(False, state, Denial.PROBE_BUDGET_SPENT)
        return Admission(False, state, Denial.BREAKER_OPEN)

    def admit(self, kind: OrderKind) -> Admission:
        """Return ``admits(kind)`` and, for an admitted probe, spend one of the probe budget."""
        admission = self.admits(kind)
        if admission.probe:
            self._probes_admitted += 1
        return admission
