"""The cyclic garbage collector's settings for a server process.

Decoding a 2000-event `/import` body makes ~6000 dicts and lists, and its
events, rows and tuples for the database follow; every one counts towards
CPython's default threshold of 700 allocations for a collection, and each
collection walks every young object still alive: the bodies in flight. With
the defaults, collection took 37% of the CPU of decoding and validating such
bodies (in process, 8 bodies held at once). In a PostgreSQL server under
`/import`, a threshold of 10,000 still spent ~8% of a process's CPU in
collections of 5-40 ms; at 50,000 the bodies are freed (by reference
counting) before a collection comes, and none ran under load
(docs/performance.md). Ingestion makes no reference cycles of its own, so
the garbage left for later is little.
"""

from __future__ import annotations

import gc

FIRST_GENERATION_THRESHOLD = 50_000


def tune_for_serving() -> None:
    """Collect the youngest generation every 50,000 allocations, not every 700."""
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
