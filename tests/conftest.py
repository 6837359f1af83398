"""Makes the checkout importable as ansible_collections.kvmfleet.kvm and the test helpers as ``kvmtest``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402  (needs the path above)

sys.path.insert(0, str(kvmtest.COLLECTIONS))

_LINK = kvmtest.COLLECTIONS / "ansible_collections/kvmfleet/kvm"
if _LINK.resolve() != ROOT:  # a cache shared with another checkout would test that checkout's code
    raise SystemExit(f"{_LINK} points at {_LINK.resolve()}, not at this checkout {ROOT}: run scripts/setup.sh here")
