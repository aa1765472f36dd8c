from __future__ import annotations

import pytest

from navarch.cloudprovider.ippool import IPPool


@pytest.mark.parametrize("spec,first,last,count", [
    ("127.0.0.2-127.0.0.254", "127.0.0.2", "127.0.0.254", 253),
    ("10.0.0.0/29", "10.0.0.1", "10.0.0.6", 6),
    ("192.0.2.7", "192.0.2.7", "192.0.2.7", 1),
    ("10.0.0.1-10.0.0.2, 10.0.1.5", "10.0.0.1", "10.0.1.5", 3),
    ("fd00::1-fd00::3", "fd00::1", "fd00::3", 3),
], ids=["range", "cidr", "single", "list", "ipv6"])
def test_pool_addresses_in_order(spec: str, first: str, last: str, count: int) -> None:
    ips = list(IPPool(spec))
    assert (ips[0], ips[-1], len(ips)) == (first, last, count)
    assert first in IPPool(spec) and "8.8.8.8" not in IPPool(spec) and "junk" not in IPPool(spec)


def test_first_free_skips_used_and_ends_with_none() -> None:
    pool = IPPool("10.0.0.1-10.0.0.3")
    assert pool.first_free({"10.0.0.1"}) == "10.0.0.2"
    assert pool.first_free({"10.0.0.1", "10.0.0.2", "10.0.0.3"}) is None


@pytest.mark.parametrize("spec", ["", "10.0.0.5-10.0.0.1", "10.0.0.1-fd00::1", "nonsense"],
                         ids=["empty", "backwards", "mixed-family", "garbage"])
def test_bad_pools_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        IPPool(spec)
