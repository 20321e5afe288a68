"""The level builder's graph: each level between an entry and an exit node.

Level ``N + 1`` starts after level ``N``: every task of a level depends on
the level's entry node, which depends on the exit node of the level below;
the exit node depends on every task of its level.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

from sdax._build._analysis import TaskTable
from sdax._build._declare import AsyncTask

__all__ = ["LevelBoundary", "add_levels"]


class LevelBoundary(tuple[int, str]):
    """The entry (``"below"``) or exit (``"above"``) node of a level.

    It looks like the tuple ``(level, side)`` but never equals a user's key,
    even a user key that is that very tuple.
    """

    __slots__ = ()

    def __new__(cls, level: int, side: Literal["below", "above"]) -> LevelBoundary:
        return super().__new__(cls, (level, side))

    def __eq__(self, other: object) -> bool:
        return type(other) is LevelBoundary and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = tuple.__hash__




def add_levels(
    table: TaskTable[Any, Any], levels: Mapping[int, Sequence[AsyncTask[Any, Any]]]
) -> None:
    """Add the tasks of ``levels`` to ``table``, levels in increasing order, with their nodes."""
    below_prev: tuple[Hashable, ...] = ()
    for level in sorted(levels):
        below = LevelBoundary(level, "below")
        above = LevelBoundary(level, "above")
        table.add_task(AsyncTask(below), below_prev)
        tasks = levels[level]
        for task in tasks:
            table.add_task(task, (below,))
        table.add_task(AsyncTask(above), tuple(t.name for t in tasks))
        below_prev = (above,)
