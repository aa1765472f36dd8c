"""Pod addresses: one subnet per node out of the cluster CIDR, one address per pod out of the node's.

``NodeSubnets`` is what upstream's nodeipam controller does for ``--allocate-node-cidrs``; simulated
nodes assign their own, skipping subnets other Nodes already hold, so several ``sim-nodes``
processes can share a cluster. ``HostLocalIPAM`` is the CNI host-local plugin's job inside a node:
it hands out addresses from the node's subnet, skipping the network address, the gateway (the
first host) and the broadcast address, and reuses released ones last.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import Iterable, Iterator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRExhausted(Exception):
    """No subnet or address left."""


class NodeSubnets:
    """Subnets of ``mask`` bits from ``cluster_cidr``, handed out in order, never two alike."""

    def __init__(self, cluster_cidr: str, mask: int, used: Iterable[str] = ()) -> None:
        self.cluster = ipaddress.ip_network(cluster_cidr)
        if mask < self.cluster.prefixlen or mask > self.cluster.max_prefixlen:
            raise ValueError(f"node CIDR mask /{mask} does not fit in cluster CIDR {cluster_cidr}")
        self.mask = mask
        self._used = {str(ipaddress.ip_network(c)) for c in used}
        self._iter: Iterator[IPNetwork] = self.cluster.subnets(new_prefix=mask)

    @property
    def size(self) -> int:
        """How many subnets the cluster CIDR holds in all."""
        return 2 ** (self.mask - self.cluster.prefixlen)

    def mark_used(self, cidr: str) -> None:
        self._used.add(str(ipaddress.ip_network(cidr)))

    def allocate(self) -> str:
        for net in self._iter:
            text = str(net)
            if text not in self._used:
                self._used.add(text)
                return text
        raise CIDRExhausted(f"no free /{self.mask} subnet left in {self.cluster} ({self.size} in all, "
                            f"{len(self._used)} taken); use a larger --cluster-cidr or a longer --node-cidr-mask-size")


class HostLocalIPAM:
    """Addresses of one node's pod CIDR. Allocation is O(1); released addresses go to the back of
    the line so a just-freed IP is not handed to the next pod at once (host-local does the same,
    avoiding stale connections to the old pod)."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        if self.network.num_addresses < 4:
            raise ValueError(f"pod CIDR {cidr} is too small")
        self.gateway = str(self.network.network_address + 1)
        self._next = 2  # offset of the next never-used address
        self._last = self.network.num_addresses - 2  # the broadcast address is never handed out
        self._released: deque[str] = deque()
        self._in_use: set[str] = set()

    def allocate(self) -> str:
        if self._next <= self._last:
            ip = str(self.network.network_address + self._next)
            self._next += 1
        elif self._released:
            ip = self._released.popleft()
        else:
            raise CIDRExhausted(f"no free address left in {self.network}")
        self._in_use.add(ip)
        return ip

    def release(self, ip: str) -> None:
        if ip in self._in_use:
            self._in_use.discard(ip)
            self._released.append(ip)

    def __contains__(self, ip: str) -> bool:
        return ip in self._in_use

    @property
    def in_use(self) -> int:
        return len(self._in_use)


def nth_address(cidr: str, n: int) -> str:
    """The ``n``-th host address of ``cidr`` (1-based), for stable simulated node IPs."""
    net = ipaddress.ip_network(cidr)
    if n < 1 or n >= net.num_addresses - 1:
        raise CIDRExhausted(f"{cidr} has no host address number {n}")
    return str(net.network_address + n)
