"""Eager phase calls: the reserved task object and the current-task switch.

A run calls each phase function eagerly, with ``asyncio.current_task()``
pointing at a task object reserved for the call. The object is initialized
only when the call suspends (or when the call kept it), so a call that
finishes at once costs no task, no event-loop round trip.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "UNUSED_REFS",
    "PhaseTask",
    "enter_task",
    "new_phase_task",
    "set_current_task",
    "settle",
]


_task_init = asyncio.Task.__init__


class PhaseTask(asyncio.Task):  # type: ignore[type-arg]
    """The task of one phase call.

    It is allocated before the eager step and initialized only if the call
    suspends (or if the call kept it), so until then it is a task object that
    has not started. The accessors that would read unset fields of such an
    object are guarded, and done callbacks added to it are kept for later.
    """

    __slots__ = ()

    def _is_initialized(self) -> bool:
        try:
            self.get_loop()
        except RuntimeError:
            return False
        return True

    def get_coro(self) -> Any:
        """The coroutine of the task, or ``None`` while the call runs eagerly."""
        if not self._is_initialized():
            return None
        return super().get_coro()

    def __repr__(self) -> str:
        if not self._is_initialized():
            return f"<{type(self).__name__} of an sdax phase call, running eagerly>"
        return super().__repr__()

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        """Add a done callback; one added during the eager step is kept for later."""
        if self._is_initialized():
            super().add_done_callback(fn, context=context)
        else:
            _early_callbacks.setdefault(self, []).append((fn, context))

    def activate(self, coro: Any, loop: asyncio.AbstractEventLoop, context: Any) -> None:
        """Initialize the task to run ``coro``, keeping what the eager step asked of it.

        Cancellations requested during the eager step (``current_task().cancel()``)
        and done callbacks added then survive the initialization.
        """
        requested = self.cancelling()
        _task_init(self, coro, loop=loop, context=context)
        if requested:
            for _ in range(requested):
                self.cancel()
        if _early_callbacks:
            for fn, cb_context in _early_callbacks.pop(self, ()):
                super().add_done_callback(fn, context=cb_context)

    if hasattr(asyncio.Task, "get_context"):  # Python 3.12+

        def get_context(self) -> Any:
            """The context of the task, or ``None`` while the call runs eagerly."""
            if not self._is_initialized():
                return None
            return super().get_context()  # type: ignore[misc]


# Done callbacks added to a reserved task before it was initialized. The
# strong reference matters: it tells the run that the call kept its task, so
# the task is then initialized (``settle``/``activate``), which pops the entry.
_early_callbacks: dict[PhaseTask, list[tuple[Any, Any]]] = {}


async def _ended_eagerly() -> None:
    """The body of a task that was kept by a call that finished eagerly."""


def settle(task: PhaseTask, loop: asyncio.AbstractEventLoop) -> None:
    """Let a task that a finished eager call kept become done, like a real task would."""
    task.activate(_ended_eagerly(), loop, None)


new_phase_task: Callable[[type[PhaseTask]], PhaseTask] = asyncio.Task.__new__

_swap = getattr(asyncio.tasks, "_swap_current_task", None)
_current: dict[Any, Any] | None = (
    None if _swap is not None else asyncio.tasks._current_tasks  # type: ignore[attr-defined]
)

enter_task: Callable[[Any, Any], Any] = (
    _swap if _current is None else _current.__setitem__  # type: ignore[assignment]
)
"""Make a task current on a loop, inside a batch opened by ``set_current_task(loop, None)``."""


def set_current_task(loop: asyncio.AbstractEventLoop, task: Any) -> Any:
    """Make ``task`` the current task of ``loop`` (``None`` for no task).

    Returns:
        The task that was current before.
    """
    if _current is None:
        return _swap(loop, task)  # type: ignore[misc]
    prev = _current.get(loop)
    if task is None:
        _current.pop(loop, None)
    else:
        _current[loop] = task
    return prev


def _references_when_unused() -> int:
    # How many references a reserved task has while it is current and only the
    # run loop holds it: a higher count means the call kept it (for example
    # code stored asyncio.current_task()), so it must not be reused.
    key = object()
    task = new_phase_task(PhaseTask)
    enter_task(key, task)
    count = sys.getrefcount(task)
    set_current_task(key, None)  # type: ignore[arg-type]
    return count


UNUSED_REFS = _references_when_unused() if hasattr(sys, "getrefcount") else 0
"""Reference count of a reserved task nobody kept (0: never reuse tasks)."""
