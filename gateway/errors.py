"""The gateway's own errors, each placed in one of ``core.errors``' action families.

- A damaged write-ahead log (``WalCorruption``, ``WalSequenceGap``) or a failed
  write to it (``WalWriteFailed``) is a HALT: the gateway trips the breaker OPEN
  and calls the operator; nothing it holds in memory can be trusted to match
  the disk any more.
- Appending before recovery has finished (``WalNotRecovered``) is the
  gateway-not-ready case: try again once recovery is done.
- A breaker transition that is not in the table (``BreakerTransitionRefused``)
  is a HALT when it comes from the log, because the log then describes a
  history this code cannot have written.
"""

from __future__ import annotations

from core.errors import GatewayNotReady, HaltError

# -- WRITE-AHEAD LOG ----------------------------------------------------------


class WalCorruption(HaltError):
    """A record that is not the torn tail is unreadable; the message names file, byte and sequence."""

    def __init__(self, path: str, offset: int, sequence: int | None, reason: str) -> None:
        at_seq = f" (sequence {sequence})" if sequence is not None else ""
        super().__init__(f"{path} at byte {offset}{at_seq}: {reason}")
        self.path = path
        self.offset = offset
        self.sequence = sequence
        self.reason = reason


class WalSequenceGap(WalCorruption):
    """A record's sequence number is not the previous one plus one: records are missing."""

    def __init__(self, path: str, offset: int, expected: int, found: int) -> None:
        super().__init__(
            path, offset, expected, f"sequence gap: expected {expected}, found {found}"
        )
        self.expected = expected
        self.found = found


class WalWriteFailed(HaltError):
    """A write or fsync of the log failed; the log refuses every later write.

    After a failed fsync the kernel may have dropped the dirty pages and cleared
    the error, so a retry that "succeeds" proves nothing: only a restart that
    replays the file from disk knows what is durable.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class WalNotRecovered(GatewayNotReady):
    """The log was asked to append before a full replay told it where the durable log ends."""


# -- CIRCUIT BREAKER ----------------------------------------------------------


class BreakerTransitionRefused(HaltError):
    """A transition is not in the breaker's table, or does not start from the current state."""

    def __init__(self, source: str, target: str, trigger: str, reason: str) -> None:
        super().__init__(f"breaker transition {source} -> {target} on {trigger}: {reason}")
        self.source = source
        self.target = target
        self.trigger = trigger
        self.reason = reason
