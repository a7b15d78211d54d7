"""The WAL against random appends, commits, checkpoints and power cuts (stateful property)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.disk import SimulatedCrash, SimulatedDisk
from gateway.wal import RecordType
from tests.unit.gateway.support import exact, recovered

INTENT = RecordType.INTENT

# -- WHAT A CRASH MAY KEEP (stateful property) --------------------------------

PAYLOAD = st.fixed_dictionaries(
    {
        "n": st.integers(min_value=0, max_value=10**6),
        "amount": st.decimals(allow_nan=False, allow_infinity=False, places=8),
        "note": st.text(max_size=5),
    }
)


class CrashingWal(RuleBasedStateMachine):
    """Random appends, commits, checkpoints and power cuts against the contract.

    After every crash, replay must yield exactly the committed records, then
    possibly a prefix of the commit that was interrupted — complete records
    only, in order, with exact payloads — and nothing that was only appended.
    """

    def __init__(self) -> None:
        super().__init__()
        self.disk = SimulatedDisk()
        self.wal, _ = recovered(self.disk, segment_bytes=400)
        self.log: list[dict[str, Any]] = []  # every record known in the log, by seq - 1
        self.buffered: list[dict[str, Any]] = []
        self.checkpoint = 0

    @rule(payload=PAYLOAD)
    def append(self, payload: dict[str, Any]) -> None:
        assert self.wal.append(INTENT, payload) == len(self.log) + len(self.buffered) + 1
        self.buffered.append(payload)

    @rule()
    def commit(self) -> None:
        self.wal.commit()
        self.log += self.buffered
        self.buffered = []

    @precondition(lambda self: bool(self.buffered))
    @rule(data=st.data())
    def crash_inside_commit(self, data: st.DataObject) -> None:
        self.disk.crash_at_next_fsync()
        with pytest.raises(SimulatedCrash):
            self.wal.commit()
        unsynced = self.disk.unsynced_bytes()
        keep = data.draw(st.integers(min_value=0, max_value=unsynced) | st.just(unsynced))
        self.disk.crash(keep_bytes=keep)
        self.recover(may_keep=self.buffered)

    @rule(keep=st.integers(min_value=0, max_value=400))
    def crash_between_calls(self, keep: int) -> None:
        self.disk.power_off()
        self.disk.crash(keep_bytes=keep)
        self.recover(may_keep=[])

    @precondition(lambda self: bool(self.log))
    @rule(data=st.data())
    def checkpoint_and_compact(self, data: st.DataObject) -> None:
        upto = data.draw(st.integers(min_value=self.checkpoint, max_value=len(self.log)))
        self.wal.write_checkpoint({"upto": upto}, upto)
        self.checkpoint = upto
        self.wal.compact()

    def recover(self, may_keep: list[dict[str, Any]]) -> None:
        self.wal, records = recovered(self.disk, segment_bytes=400)
        committed = len(self.log)
        payloads = [r.payload for r in records]
        assert [r.seq for r in records] == list(
            range(self.checkpoint + 1, len(records) + self.checkpoint + 1)
        )
        assert exact(payloads[: committed - self.checkpoint]) == exact(self.log[self.checkpoint :])
        extra = payloads[committed - self.checkpoint :]
        assert len(extra) <= len(may_keep)
        assert exact(extra) == exact(may_keep[: len(extra)])
        self.log += extra
        self.buffered = []

    @invariant()
    def sequence_continues(self) -> None:
        assert self.wal.next_seq == len(self.log) + len(self.buffered) + 1
        assert self.wal.committed_seq == len(self.log)


TestCrashingWal = CrashingWal.TestCase
TestCrashingWal.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
