"""What a phase function may ask about the call it runs in: ``sdax.current_call()``.

Nothing is recorded for a call in case it asks: the answer is looked up when
asked, from the task that runs the call (its continuation knows the run and
the node) or, during the first step of a call on the fast path, from the run
whose call is in progress on this loop. A function run by an in-process
executor has no task; its thread's context carries the call instead.
"""

# No ``from __future__ import annotations``: CallInfo's annotations are read in
# the public module that shows as its home (``sdax``).
import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from sdax._build import CALL_IN_THREAD, PhaseId
from sdax._engine._call import Continuation

__all__ = ["EAGER_RUNS", "CallInfo", "current_call"]


EAGER_RUNS: dict[asyncio.AbstractEventLoop, Any] = {}
"""Per event loop, the run whose calls are taking their first step (fast path)."""


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A snapshot of the phase call in progress and of its run, taken when asked.

    Attributes:
        task: The task's name (its key in the processor).
        phase: The phase being called.
        attempt: The attempt number: 1 for the first call, 2 for the first retry, ...
        pre_completed: For a post: whether this task's ``pre_execute`` completed
            (``False``: it failed, was cancelled or cut short). ``None`` in a pre
            or an execute, and for a task without a pre.
        run_failed: Whether any phase call of the run has failed so far.
        run_cancelled: Whether the run was cancelled from outside.
        run_interrupted: Whether a ``KeyboardInterrupt`` (or another interrupt)
            stopped the run.
        deadline_passed: Whether the run's deadline (``timeout=``) passed.
    """

    task: Hashable
    phase: PhaseId
    attempt: int
    pre_completed: bool | None
    run_failed: bool
    run_cancelled: bool
    run_interrupted: bool
    deadline_passed: bool

    @property
    def run_ok(self) -> bool:
        """Whether nothing has gone wrong in the run so far (commit, rather than roll back)."""
        return not (
            self.run_failed or self.run_cancelled or self.run_interrupted or self.deadline_passed
        )


def _locate() -> tuple[Any, int] | None:
    """The run and node of the call in progress, or ``None`` outside any call."""
    in_thread = CALL_IN_THREAD.get()
    if in_thread is not None:
        return in_thread
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    task = asyncio.current_task(loop)
    if task is None:
        return None
    run = EAGER_RUNS.get(loop)
    if run is not None:
        node = run.eager_call(task)
        if node is not None:
            return run, node  # the first step of a call on the fast path
    coro = task.get_coro()
    if isinstance(coro, Continuation):
        return coro.call()
    return None


def current_call() -> CallInfo | None:
    """Describe the phase call this code runs in, or return ``None`` outside one.

    Call it from a phase function (or from code it awaits, in the same task):
    a ``post_execute`` can then tell whether to commit or roll back. Tasks the
    function starts itself (``asyncio.create_task``, a task group's children)
    are not the call and get ``None``. It costs nothing for calls that never
    ask, and each concurrent run answers for itself.
    """
    found = _locate()
    if found is None:
        return None
    run, node = found
    info: CallInfo = run.call_info(node)
    return info
