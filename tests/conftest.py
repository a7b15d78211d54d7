"""Shared test setup: the project root on sys.path (Swarm runs from its root, not site-packages)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "data"
FIXTURES = ROOT / "tests" / "fixtures"
