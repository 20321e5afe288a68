"""Every use of asyncio internals, behind one capability check.

The fast way to call a phase function runs its first step eagerly, with
``asyncio.current_task()`` pointing at a task object reserved for the call and
initialized only if the call suspends. That needs four things asyncio does not
promise:

* a private switch of the current task (``asyncio.tasks._swap_current_task``,
  CPython 3.12-3.15; the ``asyncio.tasks._current_tasks`` dict on 3.11);
* ``asyncio.Task.__new__`` without ``__init__`` giving an object whose
  ``get_loop()`` raises ``RuntimeError`` and which ``Task.__init__`` can
  initialize later (checked on 3.11-3.15);
* ``sys.getrefcount`` telling whether code kept a reference to the reserved
  task (3.11-3.15; 3.14 counts one fewer for a local than 3.13, so the run
  calibrates at the place it measures);
* a reserved task initialized late runs, completes and keeps a cancellation
  requested before its initialization (3.11-3.15).

``probe()`` checks each of these once, in a real running event loop, on the
interpreter at hand, when this module is imported. If one does not hold, or
``SDAX_PUBLIC_ASYNCIO=1`` is set, ``FAST`` is false and runs use only public
asyncio API: an eager task per call (``eager_start=True``, 3.12+) or a plain
task (3.11). Same semantics, slower.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "ASYNCIO_PATH",
    "EAGER_TASKS",
    "FAST",
    "PATH_REASON",
    "PhaseTask",
    "clock_resolution",
    "enter_task",
    "new_phase_task",
    "park_yielded",
    "probe",
    "rearm_yielded",
    "set_current_task",
    "settle",
    "start_task",
]

PUBLIC_ENV = "SDAX_PUBLIC_ASYNCIO"

_task_init = asyncio.Task.__init__


class PhaseTask(asyncio.Task):  # type: ignore[type-arg]  # asyncio.Task is generic in typeshed only
    """The task of one phase call on the fast path.

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
            return super().get_context()  # type: ignore[misc]  # 3.12+ only


# Done callbacks added to a reserved task before it was initialized. The
# strong reference matters: it tells the run that the call kept its task, so
# the task is then initialized (``settle``/``activate``), which pops the entry.
_early_callbacks: dict[PhaseTask, list[tuple[Any, Any]]] = {}


async def _ended_eagerly() -> None:
    """The body of a task that was kept by a call that finished eagerly."""


def settle(task: PhaseTask, loop: asyncio.AbstractEventLoop) -> None:
    """Let a task that a finished eager call kept become done, like a real task would."""
    task.activate(_ended_eagerly(), loop, None)


# Checked on CPython 3.11-3.15: allocates a Task without running __init__.
new_phase_task: Callable[[type[PhaseTask]], PhaseTask] = asyncio.Task.__new__

# Checked on CPython 3.12-3.15: _swap_current_task(loop, task) -> previous task;
# from 3.14 on, ``loop`` must be the running loop of the thread.
_swap: Callable[[Any, Any], Any] | None = getattr(asyncio.tasks, "_swap_current_task", None)
# Checked on CPython 3.11: the dict of current tasks, keyed by loop.
_current: dict[Any, Any] | None = (
    getattr(asyncio.tasks, "_current_tasks", None) if _swap is None else None
)


def _enter_current(loop: Any, task: Any) -> Any:
    # 3.11: make ``task`` current on ``loop`` (inside a batch opened by
    # set_current_task(loop, None), so there is nothing to return).
    _current[loop] = task  # type: ignore[index]  # only bound when _current is a dict


enter_task: Callable[[Any, Any], Any] = _swap if _swap is not None else _enter_current
"""Make a task current on a loop, inside a batch opened by ``set_current_task``."""


def set_current_task(loop: asyncio.AbstractEventLoop, task: Any) -> Any:
    """Make ``task`` the current task of ``loop`` (``None`` for no task).

    Returns:
        The task that was current before.
    """
    if _swap is not None:
        return _swap(loop, task)
    current: dict[Any, Any] = _current  # type: ignore[assignment]  # probe() checked it
    prev = current.get(loop)
    if task is None:
        current.pop(loop, None)
    else:
        current[loop] = task
    return prev


def clock_resolution(loop: asyncio.AbstractEventLoop) -> float:
    """How far ahead of ``loop.time()`` a timer counts as due, as the loop itself judges.

    ``BaseEventLoop._clock_resolution`` (CPython 3.11-3.15); loops without it
    (uvloop) count a timer due only once its time has come.
    """
    resolution: float = getattr(loop, "_clock_resolution", 0.0)
    return resolution


def park_yielded(yielded: Any) -> None:
    """Take the future an eager step yielded, as the task that waits on it would.

    ``Future.__await__`` sets ``_asyncio_future_blocking`` (the future
    protocol's flag, CPython 3.11-3.15) just before it yields, and the task
    that receives the future clears it; while it is set, another ``await`` of
    the same pending future fails ("await wasn't used with future"). An eager
    step yields before its task exists, so the flag is cleared here, at once,
    and set again by ``rearm_yielded`` when the task takes the future.
    """
    if getattr(yielded, "_asyncio_future_blocking", False) is True:
        yielded._asyncio_future_blocking = False


def rearm_yielded(yielded: Any) -> Any:
    """Hand a task the future an eager step yielded, marked as awaited again."""
    if getattr(yielded, "_asyncio_future_blocking", None) is False:
        yielded._asyncio_future_blocking = True
    return yielded


# -- the public-API path ----------------------------------------------------------

EAGER_TASKS = sys.version_info >= (3, 12)
"""Whether asyncio can start a task eagerly (``eager_start``, 3.12+)."""


def start_task(coro: Any, loop: asyncio.AbstractEventLoop, context: Any) -> asyncio.Task[Any]:
    """Start ``coro`` as a task with public API only: eagerly where asyncio can.

    On 3.12+ the task's first step runs before this returns (``eager_start``),
    so a call that never suspends is done at once; on 3.11 the first step is
    scheduled on the loop.
    """
    if EAGER_TASKS:
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]  # 3.12+
    return loop.create_task(coro, context=context)


# -- the capability check -----------------------------------------------------------


class _Broken(Exception):
    """An assumption of the fast path does not hold here."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise _Broken(what)


def _refs(task: Any) -> int:
    return sys.getrefcount(task)


async def _probe_running() -> None:
    loop = asyncio.get_running_loop()
    _require(_swap is not None or isinstance(_current, dict), "no current-task switch")
    _require(hasattr(sys, "getrefcount"), "no sys.getrefcount")
    own = asyncio.current_task()

    # An allocated, uninitialized task: get_loop() raises, cancelling() is 0.
    task = new_phase_task(PhaseTask)
    _require(isinstance(task, PhaseTask), "Task.__new__ gave another type")
    _require(not task._is_initialized(), "an uninitialized task reports a loop")
    _require(task.cancelling() == 0, "an uninitialized task has cancel requests")

    # The switch makes it current, and a kept reference shows in its count.
    previous = set_current_task(loop, task)
    try:
        _require(previous is own, "the switch did not return the current task")
        _require(asyncio.current_task() is task, "the switch did not make the task current")
        unused = _refs(task)
        _require(_refs(task) == unused, "reference counts are not stable")
        kept = [asyncio.current_task()]
        _require(_refs(task) > unused, "a kept task does not show in its reference count")
        del kept
        _require(_refs(task) == unused, "a dropped reference still shows")
        # A cancellation requested while the call runs eagerly is kept.
        task.cancel()
    finally:
        restored = set_current_task(loop, previous)
    _require(restored is task, "the switch lost the reserved task")
    _require(asyncio.current_task() is own, "the switch did not restore the caller's task")

    # Initialized late, the task runs its coroutine and keeps the cancellation.
    ran: list[str] = []

    async def body() -> str:
        ran.append("started")
        await asyncio.sleep(0)
        return "done"

    requested = task.cancelling()
    task.activate(body(), loop, None)
    _require(task.cancelling() == requested, "a cancel request was lost at initialization")
    try:
        await task
    except asyncio.CancelledError:
        pass
    _require(task.cancelled() and ran == [], "a late-initialized task ignored its cancellation")

    plain = new_phase_task(PhaseTask)
    plain.activate(body(), loop, None)
    _require(await plain == "done" and ran == ["started"], "a late-initialized task did not run")

    # A reserved task nobody used can be freed without being initialized.
    del task, plain


def _probe_in_new_loop() -> str | None:
    loop_type = getattr(asyncio, "EventLoop", None) or asyncio.SelectorEventLoop
    loop = loop_type()
    try:
        loop.run_until_complete(_probe_running())
    except _Broken as exc:
        return str(exc)
    except Exception as exc:  # an internal that changed shape: fall back, never fail
        return f"{type(exc).__name__}: {exc}"
    finally:
        loop.close()
    return None


def probe() -> str | None:
    """Check the fast path's assumptions in a new running loop.

    Returns:
        ``None`` when every assumption holds, else what failed.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _probe_in_new_loop()
    # Imported from code running in a loop: that loop cannot be re-entered,
    # so the probe runs its own loop in a helper thread.
    result: list[str | None] = []
    thread = threading.Thread(target=lambda: result.append(_probe_in_new_loop()), daemon=True)
    thread.start()
    thread.join()
    return result[0] if result else "the probe thread failed"


def _choose() -> tuple[bool, str]:
    if os.environ.get(PUBLIC_ENV, "").strip() not in ("", "0"):
        return False, f"forced by {PUBLIC_ENV}=1"
    broken = probe()
    if broken is not None:
        return False, f"asyncio internals differ: {broken}"
    return True, "asyncio internals checked on this interpreter"


FAST, PATH_REASON = _choose()
"""Whether runs use the fast path, and why (or why not)."""

ASYNCIO_PATH: Literal["fast", "public"] = "fast" if FAST else "public"
"""The way phase calls start: ``"fast"`` (checked internals) or ``"public"``."""
