"""Helpers shared by the gateway's unit tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.disk import OsDisk, SimulatedDisk
from gateway.wal import Record, Wal


def exact(value: Any) -> Any:
    """Make Decimals compare by digits, exponent and sign (so 1.0 != 1.00, -0 != 0)."""
    if isinstance(value, Decimal):
        return ("D", value.as_tuple())
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [exact(item) for item in value]
    return value


def recovered(disk: SimulatedDisk | OsDisk, **kwargs: Any) -> tuple[Wal, list[Record]]:
    """Open a WAL on ``disk``, replay it fully (as the gateway's recovery does), return both."""
    wal = Wal("unused", disk=disk, **kwargs)
    records = list(wal.replay())
    return wal, records


def intent(n: int) -> dict[str, Any]:
    """Return a small INTENT-like payload numbered ``n``."""
    return {"n": n, "amount": Decimal("0.001"), "price": Decimal("65000.10"), "symbol": "BTC/USDT"}
