"""Watch events as they come off the wire: one JSON object per line of a chunked response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator

import orjson

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


async def split_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Reassemble lines across chunk boundaries.

    aiohttp's ``readline`` caps a line at its read buffer (64 KiB), and one object can be larger, so
    lines are cut here from raw chunks with no limit.
    """
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = bytes(pending[start:end]).strip()
            if line:
                yield line
            start = end + 1
        del pending[:start]
    tail = bytes(pending).strip()
    if tail:
        yield tail


def decode_event(line: bytes) -> WatchEvent:
    doc = orjson.loads(line)
    if not isinstance(doc, dict) or "type" not in doc:
        raise ValueError(f"not a watch event: {line[:200]!r}")
    obj = doc.get("object")
    return WatchEvent(str(doc["type"]), obj if isinstance(obj, dict) else {})
