"""Makes the checkout importable as ansible_collections.kvmfleet.kvm and the test helpers as ``kvmtest``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402  (needs the path above)

sys.path.insert(0, str(kvmtest.COLLECTIONS))
