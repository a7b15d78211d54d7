"""``python main.py live``: the gate in front of live trading; paper stays the default everywhere.

A live run is refused unless every condition holds, checked in this order,
each refusal naming the condition that failed:

1. the config says ``mode = "live"``;
2. ``SWARM_<VENUE>_API_KEY`` and ``_SECRET`` are set for every configured venue;
3. ``[live] account`` is set and ``SWARM_LIVE_ACK`` names exactly that account;
4. ``doctor`` passes (``cli.doctor``: in live, checks that cannot pass fail);
5. the operator confirms by typing the account name (or ``--confirm ACCOUNT``).

Keys are read from the environment only, never printed (only the variable
names are), and never passed as actor arguments.

Not wired yet: the live order path itself (a gateway holding ``CcxtExchange``
venues, the live feed driving the agents). When every condition holds the
command says so and exits 3 without sending anything.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cli.doctor import Check
from core.config import SwarmConfig, api_credentials
from core.errors import SecretMissing

ACK_VARIABLE = "SWARM_LIVE_ACK"
NOT_WIRED = 3


@dataclass(frozen=True)
class Refusal:
    """Why live trading was refused: the condition and the message for the operator."""

    condition: str
    message: str


def live_gate(
    config: SwarmConfig,
    config_path: str,
    *,
    environ: Mapping[str, str],
    doctor: Callable[[], Sequence[Check]],
    confirm: str | None,
    ask: Callable[[str], str] | None,
) -> Refusal | None:
    """Return the first condition that fails (see the module doc), or None when armed.

    ``doctor`` runs only once the cheaper conditions hold; ``ask`` prompts the
    operator (None: not interactive, so ``confirm`` is required).
    """
    if config.mode != "live":
        return Refusal(
            "mode",
            f'{config_path}: mode = {config.mode!r}: live trading needs mode = "live" '
            "(copy configs/live.example.toml)",
        )
    for venue in config.paper.venues:
        try:
            api_credentials(venue, environ)
        except SecretMissing as exc:
            return Refusal("keys", f"{exc} (keys come from the environment only)")
    account = config.live.account
    if not account:
        return Refusal("account", f"{config_path}: [live] account is not set")
    ack = environ.get(ACK_VARIABLE)
    if ack != account:
        said = "is not set" if ack is None else f"is {ack!r}"
        return Refusal(
            "acknowledgement", f"{ACK_VARIABLE} {said}: it must name the account {account!r}"
        )
    failed = [c for c in doctor() if c.status == "fail"]
    if failed:
        lines = "; ".join(f"{c.name}: {c.reason}" for c in failed)
        return Refusal("doctor", f"doctor failed {len(failed)} checks: {lines}")
    if confirm is None:
        if ask is None:
            return Refusal(
                "confirmation",
                "no operator confirmation: stdin is not a terminal; pass --confirm ACCOUNT",
            )
        confirm = ask(f"Type the account name ({account}) to trade live with real money: ")
    if confirm.strip() != account:
        return Refusal("confirmation", f"the operator did not confirm the account {account!r}")
    return None


class CcxtProbe:
    """``VenueProbe`` over ``CcxtExchange`` with the environment's keys (network: live only)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def reachable(self, venue: str) -> str:
        from exchanges.ccxt_adapter import CcxtExchange

        async def load() -> int:
            exchange = CcxtExchange(venue, api_credentials(venue, self._environ))
            try:
                return len(await exchange.load_markets())
            finally:
                await exchange.close()

        return f"{asyncio.run(load())} markets"

    def can_withdraw(self, venue: str) -> bool | None:
        # ccxt has no unified call for a key's permissions: the venue cannot tell through it.
        return None


def run_live_command(args: Any, config: SwarmConfig, config_path: str) -> int:
    """``main.py live``: refuse with the failed condition (exit 2), or say the path is not wired."""
    from cli.doctor import connect_cluster, print_checks, run_checks

    address = args.address or config.ray.address

    def doctor() -> Sequence[Check]:
        def cluster() -> tuple[Any, Any, Any]:
            return connect_cluster(address, config.ray.namespace, config.paper.venues)

        checks = run_checks(
            config,
            config_path,
            mode="live",
            probe=CcxtProbe(os.environ),
            cluster=cluster if address else None,
        )
        print_checks(checks)
        return checks

    ask = input if sys.stdin.isatty() else None
    refusal = live_gate(
        config, config_path, environ=os.environ, doctor=doctor, confirm=args.confirm, ask=ask
    )
    if refusal is not None:
        print(f"live refused ({refusal.condition}): {refusal.message}", file=sys.stderr)
        return 2
    print(
        "live: every condition holds, but the live order path is not wired in this build "
        "(no gateway with ccxt venues yet): nothing was sent",
        file=sys.stderr,
    )
    return NOT_WIRED
