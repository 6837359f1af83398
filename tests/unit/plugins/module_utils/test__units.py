from __future__ import annotations

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size, parse_size, to_kib

GiB = 1024**3


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("2GiB", "MiB", 2 * GiB),
        ("2G", "MiB", 2 * GiB),
        ("2 gib", "MiB", 2 * GiB),
        ("512M", "MiB", 512 * 1024**2),
        ("1.5G", "MiB", 1536 * 1024**2),
        ("10MB", "MiB", 10_000_000),
        ("1TB", "MiB", 10**12),
        ("4096B", "MiB", 4096),
        ("64k", "MiB", 65536),
        (1024, "MiB", GiB),
        (20, "GiB", 20 * GiB),
        ("0", "MiB", 0),
    ],
)
def test_parse_size(value: object, unit: str, expected: int) -> None:
    assert parse_size(value, unit) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "expected a size such as 512M"),
        ("-1G", "a size cannot be negative"),
        ("2XB", "unknown unit 'XB'"),
        (True, "expected a size"),
        ([1], "expected a size"),
        ("1.0000001K", "not a whole number of bytes"),
    ],
)
def test_parse_size_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)


@pytest.mark.parametrize(
    ("size", "text"),
    [(2 * GiB, "2GiB"), (1536 * 1024**2, "1536MiB"), (1024**4, "1TiB"), (1536, "1536B"), (2048, "2KiB"), (0, "0B")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_to_kib_rounds_up() -> None:
    assert to_kib(1025) == 2 and to_kib(1024) == 1
