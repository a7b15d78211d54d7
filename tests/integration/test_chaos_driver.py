"""The driver dies mid-run (SIGKILL) and a new one reattaches to the detached actors; the checker passes.

Runs against its own Ray cluster (``ray start --head`` on loopback, its own
ports and temp dir, stopped at the end), never the shared ``ray_session``:
driver 1 (``python -m chaos.driver start``) builds a paper system whose actors
are all detached and kills actors while it replays; the test SIGKILLs it once
its kills have begun; driver 2 (``chaos.driver resume``) reattaches by name,
waits for the replay, finishes and checks every invariant.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"no Ray head listening on 127.0.0.1:{port}")


@pytest.fixture
def cluster() -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head of our own (``ray start --head --block`` in its own session), ended by its pid.

    Never ``ray stop``: it would end every Ray on the machine, the shared session's too.
    """
    temp = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: Ray's socket paths have a limit
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_timeout_ms_task_wait_for_death_info": "200",
    }
    port = _free_port()
    # Worker ports: below the ephemeral range the other ports come from (32768+), and above
    # the first ports of Ray's default range (10002+) that the test session's Ray takes.
    low = 11_000 + (port % 8_000)
    start = [
        RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--num-cpus", "2", "--include-dashboard", "false", "--temp-dir", temp,
        "--node-manager-port", str(_free_port()), "--object-manager-port", str(_free_port()),
        "--dashboard-agent-listen-port", str(_free_port()),
        "--dashboard-agent-grpc-port", str(_free_port()),
        "--metrics-export-port", str(_free_port()), "--runtime-env-agent-port", str(_free_port()),
        "--min-worker-port", str(low), "--max-worker-port", str(low + 400),
        "--disable-usage-stats",
    ]  # fmt: skip
    head = subprocess.Popen(
        start, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_listening(port, 120)
        time.sleep(2)  # the raylet registers after the GCS listens
        yield f"127.0.0.1:{port}", env
    finally:
        head.send_signal(signal.SIGTERM)  # --block: ray start ends the processes it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
        try:
            os.killpg(head.pid, signal.SIGKILL)  # anything left in the head's own session
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


def test_driver_when_killed_mid_run_then_new_driver_reattaches_and_checker_passes(
    cluster: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = cluster
    namespace = f"swarm-driver-{uuid.uuid4().hex[:6]}"
    common = ["--address", address, "--namespace", namespace, "--state-dir", str(tmp_path)]
    first = subprocess.Popen(
        [sys.executable, "-m", "chaos.driver", "start", "--minutes", "0.5", *common],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert first.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = first.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum('"kill"' in item for item in lines) >= 3:
            break
    assert any('"started"' in item for item in lines), lines
    assert sum('"kill"' in item for item in lines) >= 3, lines
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    second = subprocess.run(
        [sys.executable, "-m", "chaos.driver", "resume", *common],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert second.stdout.strip(), second.stderr[-3000:]
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["driver"] == "resume"
    assert summary["stopped_by"] == "end of data"
    assert summary["orders"] > 0
    assert summary["violations"] == 0, second.stdout
    assert second.returncode == 0
