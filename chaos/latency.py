"""``python -m chaos.latency --ms 50 [--jitter-ms 20]``: add latency to the venues of a running system.

Contract
    Sets ``latency_ms`` and ``jitter_ms`` in each chosen venue's fault spec
    (``chaos.venue_faults``; the other faults in force are kept unless
    ``--replace``): every order call and order read then answers that much
    later. Past the gateway's ``venue_timeout_s`` (5 s by default) a call
    becomes a real timeout on the gateway's side: an unknown outcome, resolved
    by asking the venue. ``--ms 0`` removes the latency. The venue actor
    serves one call at a time, so latency also holds back the market data
    queued behind a slow call, as on a congested matching engine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from chaos.venue_faults import apply, base_parser, connect, target_venues


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m chaos.latency", __doc__)
    parser.add_argument("--ms", type=float, required=True, help="added latency per call")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="plus up to this, uniform")
    args = parser.parse_args(argv)
    venues = target_venues(args.venues)
    changes: dict[str, float | int] = {"latency_ms": args.ms, "jitter_ms": args.jitter_ms}
    if args.seed is not None:
        changes["seed"] = args.seed
    try:
        connect(args.address, args.namespace)
        for line in apply(venues, changes, namespace=args.namespace, replace=args.replace):
            print(json.dumps(line, default=str))
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
