"""Fixtures of the module_utils unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect


@pytest.fixture
def conn() -> Iterator[Any]:
    """A connection to libvirt's test driver (test:///default), an in-memory hypervisor."""
    connection = connect("test:///default")
    yield connection
    connection.close()
