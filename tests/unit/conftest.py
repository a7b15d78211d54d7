"""Unit tests run without Ray: any ``ray.init`` here is a bug in the test or the core."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a pinned dependency
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("ray.init is forbidden in tests/unit: test the pure core instead")

    monkeypatch.setattr(ray, "init", refuse)
