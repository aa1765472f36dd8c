"""Cluster IPs and node ports for Services, allocated from what the watch cache shows in use.

One API server serializes its own allocations with a lock; the chosen address is then written with
the Service itself, so a restart rebuilds the in-use set from the store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from typing import Any, Iterable

from navarch.api import errors

NODE_PORT_RANGE = (30000, 32767)


class ServiceAllocator:
    def __init__(self, cidr: str = "10.96.0.0/12") -> None:
        self.network = ipaddress.ip_network(cidr)
        self.lock = asyncio.Lock()
        # The first address is the kubernetes Service's; the network address is never used.
        self.reserved = {self.network.network_address, self.network.network_address + 1}

    def kubernetes_ip(self) -> str:
        return str(self.network.network_address + 1)

    def dns_ip(self) -> str:
        return str(self.network.network_address + 10)

    @staticmethod
    def used(services: Iterable[dict[str, Any]]) -> tuple[set[str], set[tuple[int, str]]]:
        ips: set[str] = set()
        ports: set[tuple[int, str]] = set()
        for s in services:
            spec = s.get("spec") or {}
            for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
                ips.add(ip)
            for p in spec.get("ports") or []:
                if p.get("nodePort"):
                    ports.add((p["nodePort"], p.get("protocol", "TCP")))
        return ips, ports

    def assign(self, svc: dict[str, Any], in_use: Iterable[dict[str, Any]],
               old: dict[str, Any] | None = None) -> None:
        """Fill in ``clusterIP(s)`` and ``nodePort``s, or raise 422 on a collision or a bad address."""
        spec = svc.setdefault("spec", {})
        name = svc.get("metadata", {}).get("name", "")
        ips, ports = self.used(s for s in in_use if s.get("metadata", {}).get("uid") !=
                               (old or {}).get("metadata", {}).get("uid", object()))
        stype = spec.get("type", "ClusterIP")
        if stype == "ExternalName":
            for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
                spec.pop(k, None)
        elif old is not None and (old.get("spec") or {}).get("clusterIP"):
            spec.setdefault("clusterIP", old["spec"]["clusterIP"])
            spec.setdefault("clusterIPs", old["spec"].get("clusterIPs") or [old["spec"]["clusterIP"]])
        else:
            wanted = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
            if wanted == "None":
                spec["clusterIP"] = "None"
                spec["clusterIPs"] = ["None"]
            elif wanted:
                try:
                    addr = ipaddress.ip_address(wanted)
                except ValueError:
                    raise errors.invalid("Service", "", name, [errors.field_invalid(
                        "spec.clusterIPs[0]", wanted, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")])
                if addr not in self.network or addr in (self.network.network_address, self.network.broadcast_address):
                    raise errors.invalid("Service", "", name, [errors.field_invalid(
                        "spec.clusterIPs", [wanted],
                        f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. "
                        f"The range of valid IPs is {self.network}")])
                if wanted in ips:
                    raise errors.invalid("Service", "", name, [errors.field_invalid(
                        "spec.clusterIPs", [wanted],
                        f"failed to allocate IP {wanted}: provided IP is already allocated")])
                spec["clusterIP"] = wanted
                spec["clusterIPs"] = [wanted]
            else:
                ip = self._free_ip(ips)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        if stype in ("NodePort", "LoadBalancer"):
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in ((old or {}).get("spec") or {}).get("ports") or []}
            taken = set(ports)
            for i, p in enumerate(spec.get("ports") or []):
                proto = p.get("protocol", "TCP")
                np = p.get("nodePort")
                if not np:
                    np = old_ports.get((p.get("port"), proto)) or self._free_port(taken, proto)
                elif (np, proto) in taken:
                    raise errors.invalid("Service", "", name, [errors.field_invalid(
                        f"spec.ports[{i}].nodePort", np, "provided port is already allocated")])
                elif not NODE_PORT_RANGE[0] <= np <= NODE_PORT_RANGE[1]:
                    raise errors.invalid("Service", "", name, [errors.field_invalid(
                        f"spec.ports[{i}].nodePort", np,
                        f"provided port is not in the valid range. The range of valid ports is "
                        f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}")])
                p["nodePort"] = np
                taken.add((np, proto))
        else:
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)

    def _free_ip(self, used: set[str]) -> str:
        size = self.network.num_addresses
        base = int(self.network.network_address)
        start = random.randrange(2, size - 1)
        for off in range(size - 3):
            cand = ipaddress.ip_address(base + 2 + (start - 2 + off) % (size - 3))
            if str(cand) not in used:
                return str(cand)
        raise errors.StatusError(500, "InternalError", "failed to allocate a serviceIP: range is full")

    @staticmethod
    def _free_port(taken: set[tuple[int, str]], proto: str) -> int:
        lo, hi = NODE_PORT_RANGE
        start = random.randrange(lo, hi + 1)
        for off in range(hi - lo + 1):
            cand = lo + (start - lo + off) % (hi - lo + 1)
            if (cand, proto) not in taken:
                return cand
        raise errors.StatusError(500, "InternalError", "failed to allocate a nodePort: range is full")
