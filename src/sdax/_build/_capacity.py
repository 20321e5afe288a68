"""The capacity limit: a first-come, first-served count of slots (see :mod:`sdax.limits`)."""

from __future__ import annotations

import asyncio
from collections import deque

from sdax._build import _validate

__all__ = ["CapacityLimit"]


class CapacityLimit:
    """At most ``capacity`` concurrent holders, served in arrival order.

    Args:
        name: A label for messages and observers.
        capacity: Number of slots; at least 1.

    Raises:
        TypeError: ``capacity`` is not an int.
        ValueError: ``capacity`` is below 1.
    """

    __slots__ = ("_capacity", "_in_use", "_waiters", "name")

    def __init__(self, name: str, capacity: int) -> None:
        _validate.int_at_least(capacity, 1, f"CapacityLimit {name!r}: capacity")
        self.name = name
        self._capacity = capacity
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return self._capacity

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits; never blocks."""
        if self._in_use < self._capacity and not self._waiters:
            self._in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one in arrival order."""
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        """Give a slot back, handing it to the longest waiter if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; in_use is unchanged
                return
        if self._in_use <= 0:
            raise RuntimeError(f"CapacityLimit {self.name!r} released more often than acquired")
        self._in_use -= 1

    def __repr__(self) -> str:
        return f"CapacityLimit({self.name!r}, {self._capacity}, in_use={self._in_use})"
