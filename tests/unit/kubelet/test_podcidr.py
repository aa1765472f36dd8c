"""Per-node subnets and per-pod addresses."""

from __future__ import annotations

import pytest

from navarch.kubelet.podcidr import (
    CIDRExhausted,
    HostLocalIPAM,
    NodeSubnets,
    nth_address,
)


def test_node_subnets_in_order_skipping_used_ones() -> None:
    s = NodeSubnets("10.42.0.0/16", 24, used=["10.42.1.0/24"])
    assert [s.allocate() for _ in range(3)] == ["10.42.0.0/24", "10.42.2.0/24", "10.42.3.0/24"]
    assert s.size == 256


def test_node_subnets_run_out_with_a_clear_error() -> None:
    s = NodeSubnets("10.42.0.0/23", 24)
    s.allocate()
    s.allocate()
    with pytest.raises(CIDRExhausted, match="cluster-cidr"):
        s.allocate()


def test_mask_must_fit_the_cluster_cidr() -> None:
    with pytest.raises(ValueError):
        NodeSubnets("10.42.0.0/16", 8)


def test_host_local_skips_network_gateway_and_broadcast() -> None:
    ipam = HostLocalIPAM("10.42.3.0/29")
    got = [ipam.allocate() for _ in range(5)]
    assert got == ["10.42.3.2", "10.42.3.3", "10.42.3.4", "10.42.3.5", "10.42.3.6"]
    with pytest.raises(CIDRExhausted):
        ipam.allocate()


def test_released_addresses_are_reused_last() -> None:
    ipam = HostLocalIPAM("10.42.3.0/29")
    first = ipam.allocate()
    ipam.release(first)
    assert ipam.allocate() != first
    for _ in range(3):
        ipam.allocate()
    assert ipam.allocate() == first, "freed addresses come back once fresh ones run out"
    assert ipam.in_use == 5


def test_nth_address() -> None:
    assert nth_address("172.20.0.0/16", 1) == "172.20.0.1"
    assert nth_address("172.20.0.0/16", 256) == "172.20.1.0"
    with pytest.raises(CIDRExhausted):
        nth_address("172.20.0.0/30", 3)
