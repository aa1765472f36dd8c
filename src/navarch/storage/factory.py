"""Open a store from the `--datastore` style spec: ``memory:``, ``sqlite:PATH`` or ``etcd:URL[,URL...]``."""

from __future__ import annotations

from navarch.storage.interface import Store


def open_store(spec: str) -> Store:
    """Build (not start) the store named by ``spec``; raises ValueError for an unknown or empty spec.

    Backends are imported on demand so that an embedded server never loads grpc for etcd.
    """
    scheme, sep, rest = spec.partition(":")
    if not sep:
        raise ValueError(f"store spec {spec!r} must look like memory:, sqlite:PATH or etcd:URL[,URL...]")
    if scheme == "memory":
        from navarch.storage.memory import MemoryStore
        return MemoryStore()
    if scheme == "sqlite":
        if not rest:
            raise ValueError("sqlite: store spec needs a file path, e.g. sqlite:/var/lib/navarch/state.db")
        from navarch.storage.sqlite import SqliteStore
        return SqliteStore(rest)
    if scheme == "etcd":
        endpoints = [e.strip() for e in rest.split(",") if e.strip()]
        if not endpoints:
            raise ValueError("etcd: store spec needs at least one URL, e.g. etcd:http://127.0.0.1:2379")
        from navarch.storage.etcd import EtcdStore
        return EtcdStore(endpoints)
    raise ValueError(f"unknown store {scheme!r} in {spec!r}; use memory:, sqlite:PATH or etcd:URL[,URL...]")
