"""Capacity limits shared between tasks and runs.

A :class:`CapacityLimit` caps how many phase calls that declare it may run at
once, across every run of every processor that uses the same object::

    db = CapacityLimit("db", 10)
    fetch = task_func(fetch_rows, limits=db)        # or limits=(db, api)

A call takes one slot of each of its limits right before an attempt starts
and gives them back when the attempt ends, however it ends (success,
failure, timeout, cancellation). Waiting callers are served first come, first
served. Slots are held only while an attempt runs, never while a task waits
for its dependencies or between retries, so limits cannot deadlock with the
dependency order; a call that needs several limits takes them in one fixed
order. The attempt's ``timeout`` starts once all slots are held.

A limit belongs to one event loop at a time (it is not thread-safe).
"""

from __future__ import annotations

from sdax._build import (
    CapacityLimit as CapacityLimit,
)
from sdax._public import fixup_module_metadata

__all__ = [
    "CapacityLimit",
]

fixup_module_metadata(__name__, globals())
