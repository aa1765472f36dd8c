"""Address pools for load balancers: ``127.0.0.2-127.0.0.254``, ``10.0.0.0/28``, ``192.0.2.7``, or a
comma-separated list of those (addresses are handed out in the order written)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

# One range: (IP version, first address, last address), addresses as integers so IPv4 and IPv6
# ranges share one comparison.
Range = tuple[int, int, int]


class IPPool:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._ranges: list[Range] = [_parse_range(part.strip()) for part in spec.split(",") if part.strip()]
        if not self._ranges:
            raise ValueError(f"empty address pool {spec!r}")

    def __contains__(self, ip: object) -> bool:
        try:
            addr = ipaddress.ip_address(str(ip))
        except ValueError:
            return False
        return any(v == addr.version and lo <= int(addr) <= hi for v, lo, hi in self._ranges)

    def __iter__(self) -> Iterator[str]:
        for version, lo, hi in self._ranges:
            make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            for n in range(lo, hi + 1):
                yield str(make(n))

    def first_free(self, used: set[str]) -> str | None:
        return next((ip for ip in self if ip not in used), None)


def _parse_range(part: str) -> Range:
    try:
        if "/" in part:
            net = ipaddress.ip_network(part, strict=False)
            if net.num_addresses > 2:  # leave out the network and broadcast addresses
                return net.version, int(net.network_address) + 1, int(net.broadcast_address) - 1
            return net.version, int(net.network_address), int(net.broadcast_address)
        a, sep, b = part.partition("-")
        lo = ipaddress.ip_address(a.strip())
        hi = ipaddress.ip_address(b.strip()) if sep else lo
    except ValueError as e:
        raise ValueError(f"bad address range {part!r}: {e}") from None
    if lo.version != hi.version or int(lo) > int(hi):
        raise ValueError(f"bad address range {part!r}: the first address must not follow the last")
    return lo.version, int(lo), int(hi)
