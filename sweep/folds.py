"""Walk-forward folds over a data span: where each fold chooses and where it is scored."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidValue
from sweep.spec import WalkForward

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: parameters chosen on ``[train_start, train_end]``, scored on ``[test_start, test_end]``."""

    index: int
    train_start_ns: int
    train_end_ns: int
    test_start_ns: int
    test_end_ns: int

    def as_json(self) -> dict[str, int]:
        return {
            "fold": self.index,
            "train_start_ns": self.train_start_ns,
            "train_end_ns": self.train_end_ns,
            "test_start_ns": self.test_start_ns,
            "test_end_ns": self.test_end_ns,
        }


def folds_of(start_ns: int, end_ns: int, spec: WalkForward) -> list[Fold]:
    """Return the walk-forward folds of ``[start_ns, end_ns]`` (see ``WalkForward``).

    ``InvalidValue`` when the span is empty or the purge gap eats a whole test block.
    """
    if spec.folds == 0:
        return []
    if end_ns <= start_ns:
        raise InvalidValue("data span", (start_ns, end_ns), "is empty: nothing to fold")
    blocks = spec.folds + 1
    span = end_ns - start_ns
    edges = [start_ns + span * i // blocks for i in range(blocks + 1)]
    purge_ns = round(spec.purge_s * NS_PER_S)
    folds = []
    for i in range(1, blocks):
        test_start = edges[i] + purge_ns
        if test_start >= edges[i + 1]:
            raise InvalidValue(
                "walk_forward.purge_s",
                spec.purge_s,
                f"leaves nothing of a {(edges[i + 1] - edges[i]) / NS_PER_S:.0f} s test block",
            )
        train_start = edges[0] if spec.mode == "anchored" else edges[i - 1]
        folds.append(Fold(i, train_start, edges[i], test_start, edges[i + 1]))
    return folds
