"""Lost nodes and actors during a paper run: noticed, counted, and lost agents re-created.

The driver calls ``AgentSupervisor.check`` about twice a second with the feed's
progress. An agent is lost when the node it was placed on is no longer alive (measured:
a push to an agent of a dead node hangs rather than fails while Ray keeps the actor
"restarting", so the node's death is the signal), or when the feed's push to it failed
(``EventPusher``: ``progress()["lost"]``, naming the actor id it lost):

- a lost agent is killed for good and created again under the same name and settings,
  placed over the nodes alive now (``cli.runtime.replace_actor``: its hard affinity was
  to the dead node, so Ray cannot restart it). The new agent rebuilds its account view
  from the gateway, as after any restart; the feed's pusher finds it by name;
- a lost venue is not re-created (a paper venue stands for an exchange: it lives with
  the gateway, so losing it means losing the gateway's node); its batches are skipped;
- a node that was alive at the start and is not now is a node loss.

``LossLedger`` is the pure record (what was lost when, re-created when, deciding again
when) and the summary's rows; ``AgentSupervisor`` is the thin shell.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Loss:
    """One actor lost: when the feed noticed, when it was re-created, when it decided again."""

    key: str  # "agent:<id>" or "venue:<name>"
    lost_at: float  # wall time (time.time())
    error: str
    recreated_at: float | None = None
    deciding_at: float | None = None
    failures: int = 0  # re-creations that failed (tried again at the next check)
    last_failure: str = ""

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(":", 1)[1]


class LossLedger:
    """The record of a run's lost nodes and actors (pure: times are given)."""

    def __init__(self) -> None:
        self.losses: list[Loss] = []
        self.nodes_lost: dict[str, float] = {}  # node id -> wall time it was seen dead
        self.sent_at_first_loss: int | None = None  # the gateway's sends when the first was noticed
        self.sent_at_end: int | None = None

    def note_lost(self, key: str, at: float, error: str) -> Loss | None:
        """Record the loss the feed reported; None when it is one already recorded."""
        if any(loss.key == key and loss.lost_at == at for loss in self.losses):
            return None
        loss = Loss(key, at, error)
        self.losses.append(loss)
        return loss

    def note_nodes(self, started: set[str], alive: set[str], at: float) -> list[str]:
        """Record the nodes alive at the start and not now; return the newly dead ones."""
        new = sorted(n for n in started - alive if n not in self.nodes_lost)
        for node in new:
            self.nodes_lost[node] = at
        return new

    def to_recreate(self) -> list[Loss]:
        """The lost agents not re-created yet."""
        return [x for x in self.losses if x.kind == "agent" and x.recreated_at is None]

    def to_watch(self) -> list[Loss]:
        """The re-created agents that have not decided yet."""
        return [x for x in self.losses if x.recreated_at is not None and x.deciding_at is None]

    def summary(self) -> dict[str, Any]:
        """The summary's ``node_losses`` and ``actors_lost`` (times in wall seconds, and
        ``recovery_s``: from the loss noticed to the re-created agent's first decision)."""
        rows = []
        for loss in self.losses:
            row: dict[str, Any] = {
                "actor": loss.key,
                "lost_at": round(loss.lost_at, 3),
                "error": loss.error,
                "recreated_at": _round(loss.recreated_at),
                "deciding_at": _round(loss.deciding_at),
                "recovery_s": (
                    round(loss.deciding_at - loss.lost_at, 3) if loss.deciding_at else None
                ),
            }
            if loss.failures:
                row["recreate_failures"] = loss.failures
                row["last_failure"] = loss.last_failure
            rows.append(row)
        recovered = [r["recovery_s"] for r in rows if r["recovery_s"] is not None]
        return {
            "node_losses": [
                {"node_id": node, "seen_dead_at": round(at, 3)}
                for node, at in sorted(self.nodes_lost.items())
            ],
            "actors_lost": rows,
            "agents_not_back": sorted(
                r["actor"] for r in rows if r["actor"].startswith("agent:") and not r["deciding_at"]
            ),
            "recovery_max_s": max(recovered) if recovered else None,
            "orders_sent_after_loss": (
                self.sent_at_end - self.sent_at_first_loss
                if self.sent_at_end is not None and self.sent_at_first_loss is not None
                else None
            ),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


Recipe = Callable[..., Any]
"""Creates an agent again: called with ``replacing=<the lost handle>``, returns the new one."""


class AgentSupervisor:
    """Re-create the agents the feed lost; keep the driver's pushers on the live actors."""

    def __init__(
        self,
        pushers: dict[str, Any],
        recipes: Mapping[str, Recipe],
        *,
        nodes: Callable[[], set[str]] | None = None,
        placed_on: Callable[[], Mapping[str, str]] | None = None,
        actor_id: Callable[[Any], str] | None = None,
        pusher: Callable[[str, Any], Any] | None = None,
        stats: Callable[[str, Any], dict[str, Any]] | None = None,
        sent: Callable[[], int] | None = None,
        replaced: Callable[[str, Any], None] | None = None,
        clock: Callable[[], float] = time.time,
        check_every_s: float = 0.5,
    ) -> None:
        """``sent``: the gateway's count of orders sent to the venues (read at the first
        loss and by ``finish``: the summary's ``orders_sent_after_loss``); ``replaced``: tell
        the feed an agent was re-created (its pusher then pushes to the new actor)."""
        from cli.runtime import alive_node_ids

        self.pushers = pushers  # the driver's: replaced in place when an agent is re-created
        self.ledger = LossLedger()
        self._recipes = dict(recipes)
        self._nodes = nodes or alive_node_ids
        self._placed_on = placed_on or _placed_on
        self._actor_id = actor_id or _actor_id
        self._pusher = pusher or _event_pusher
        self._stats = stats or _agent_stats
        self._sent = sent
        self._replaced = replaced
        self._clock = clock
        self._every = check_every_s
        self._next = 0.0
        self._started_nodes = self._nodes()

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def check(self, progress: Mapping[str, Any]) -> None:
        """Record what the feed lost, re-create lost agents, watch re-created ones decide."""
        self._next = time.monotonic() + self._every
        now = self._clock()
        for node in self.ledger.note_nodes(self._started_nodes, self._nodes(), now):
            _say(f"node lost: {node}")
            placed = self._placed_on()
            for name in sorted(self.pushers):
                if placed.get(f"agent:{name}") == node:
                    self._note(f"agent:{name}", now, f"its node {node} was lost")
        for key, row in (progress.get("lost") or {}).items():
            kind, name = key.split(":", 1)
            pusher = self.pushers.get(name) if kind == "agent" else None
            if pusher is not None and row.get("actor_id") != self._actor_id(pusher.handle):
                continue  # an actor already replaced: the feed has not looked the name up yet
            if self._open(key):
                continue  # being re-created already
            self._note(key, float(row["at"]), str(row["error"]))
        for loss in self.ledger.to_recreate():
            self._recreate(loss)
        for loss in self.ledger.to_watch():
            try:
                decisions = int(self._stats(loss.name, self.pushers[loss.name].handle)["decisions"])
            except Exception:  # busy or still starting: asked again at the next check
                continue
            if decisions > 0:
                loss.deciding_at = self._clock()
                _say(
                    f"{loss.key} deciding again, {loss.deciding_at - loss.lost_at:.1f} s "
                    "after its loss was noticed"
                )

    def _open(self, key: str) -> bool:
        return any(x.key == key and x.recreated_at is None for x in self.ledger.losses)

    def _note(self, key: str, at: float, error: str) -> None:
        loss = self.ledger.note_lost(key, at, error)
        if loss is None:
            return
        if self.ledger.sent_at_first_loss is None:
            self.ledger.sent_at_first_loss = self._read_sent()
        what = "re-creating it" if loss.kind == "agent" else "not re-created"
        _say(f"lost: {key} ({loss.error[:120]}): {what}")

    def finish(self) -> dict[str, Any]:
        """The summary's rows, with the orders sent since the first loss (if any)."""
        if self.ledger.losses:
            self.ledger.sent_at_end = self._read_sent()
        return self.ledger.summary()

    def _read_sent(self) -> int | None:
        if self._sent is None:
            return None
        try:
            return self._sent()
        except Exception:  # the gateway is not answering: unknown, not zero
            return None

    def _recreate(self, loss: Loss) -> None:
        recipe = self._recipes.get(loss.name)
        if recipe is None:
            return
        old = self.pushers[loss.name].handle
        try:
            handle = recipe(replacing=old)
        except Exception as exc:  # no node can take it now: tried again at the next check
            loss.failures += 1
            loss.last_failure = f"{type(exc).__name__}: {exc}"[:300]
            return
        self.pushers[loss.name] = self._pusher(loss.name, handle)
        loss.recreated_at = self._clock()
        if self._replaced is not None:
            try:
                self._replaced(loss.name, handle)
            except Exception as exc:  # the feed finds it by name (EventPusher) meanwhile
                _say(f"{loss.key}: the feed was not told of its re-creation: {exc}")
        _say(f"{loss.key} re-created {loss.recreated_at - loss.lost_at:.1f} s after its loss")


def _placed_on() -> Mapping[str, str]:
    from cli.runtime import placed_on

    return placed_on()


def _actor_id(handle: Any) -> str:
    return str(handle._actor_id.hex())


def _event_pusher(name: str, handle: Any) -> Any:
    from exchanges.venue_client import EventPusher

    return EventPusher(name, handle, actor_name=f"agent:{name}")


def _agent_stats(name: str, handle: Any) -> dict[str, Any]:
    from agents.client import AgentClient

    return AgentClient(name, handle, deadline_s=1.0).stats()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
