"""The revisioned, watchable key-value store (DESIGN.md section 4).

The contract mirrors etcd v3 so that a real etcd cluster can sit behind it unchanged. Only the API
server imports this package.
"""

from navarch.storage.interface import (
    Compacted,
    Event,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionConflict,
    Store,
    StoreError,
)

__all__ = [
    "Compacted", "Event", "KeyExists", "KeyNotFound", "KeyValue", "ListResult",
    "RevisionConflict", "Store", "StoreError",
]
