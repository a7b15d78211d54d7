"""GatewayClient without Ray: a call that gets no answer before the deadline is typed."""

from __future__ import annotations

from typing import Any

import pytest
import ray
from ray.exceptions import GetTimeoutError

from gateway.client import GatewayClient, GatewayUnavailable


class _Method:
    def remote(self, *args: Any) -> str:
        return "ref"


class _Handle:
    status = _Method()


def test_call_when_gateway_does_not_answer_by_deadline_then_gateway_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A gateway whose node is gone stays "restarting": Ray's get times out at the deadline.
    def never(ref: Any, timeout: float | None = None) -> Any:
        raise GetTimeoutError("Get timed out")

    monkeypatch.setattr(ray, "get", never)
    with pytest.raises(GatewayUnavailable, match=r"no answer in 0\.2s"):
        GatewayClient(_Handle(), deadline_s=0.2).status()
