"""Benchmark: the replay feed's events/s and the paper venue's matching orders/s, each beside its bare baseline.

Prints ONE JSON line. Run from the project root:

    .venv/bin/python -m tests.bench.replay
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import replay_feed, venue_matching  # noqa: E402


def main() -> None:
    feed = replay_feed.measure()
    venue = venue_matching.measure()
    print(
        json.dumps({"benchmark": "replay", "feed": feed, "venue_matching": venue}, sort_keys=True)
    )


if __name__ == "__main__":
    main()
