"""One Ray session for the integration tests (started here, shut down at the end)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    """Start a local Ray for the whole session; yield its namespace."""
    import ray

    # A killed actor's callers learn it quickly (RAY-NOTES.md: 1-2 s by default).
    os.environ.setdefault("RAY_timeout_ms_task_wait_for_death_info", "200")
    namespace = f"swarm-test-{uuid.uuid4().hex[:8]}"
    ray.init(
        namespace=namespace, include_dashboard=False, logging_level="WARNING", log_to_driver=False
    )
    try:
        yield namespace
    finally:
        ray.shutdown()
