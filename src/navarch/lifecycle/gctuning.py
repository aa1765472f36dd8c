"""Garbage-collector settings for long-running control-plane processes (every ``navarch`` component).

CPython's cyclic collector runs a young collection every 700 net container allocations and a full
one whenever the long-lived heap has grown by a quarter. An API server holds every object of the
cluster (and five minutes of their history) as decoded dicts in its watch cache, and the scheduler
and controllers hold the same objects in their informer caches, so those heaps are millions of
containers that keep growing under write load. Measured under the scheduler benchmark, the
collector took ~27% of the API server's CPU and ~30% of the scheduler's, mostly in full
collections that find nothing (cached objects are trees, freed by reference counting).

``tune_for_throughput`` raises the thresholds so that young collections are rarer and full ones
are not reached while the heap merely grows; ``freeze_startup_heap`` moves what start-up loaded
(schemas, registry, the initial cache) to the permanent generation, which no collection scans.
Cycles are still collected; they only wait longer.
"""

from __future__ import annotations

import gc

# Young collections every 50,000 net allocations (requests' short-lived objects mostly die by
# reference counting before then); a middle-generation collection every 20 of those; a full one
# after 100 middle ones at the earliest (and, as always, only once the old heap grew by a quarter).
THRESHOLDS = (50_000, 20, 100)


def tune_for_throughput(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    gc.set_threshold(*thresholds)


def freeze_startup_heap() -> None:
    """Collect once, then exempt every object alive now from later collections (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
