"""Starting a run's ready phase calls: each call's first step, then a task if it waits.

Two ways, picked once at import (``_eager.FAST``): the fast path runs each
call's first step eagerly with a reserved task object current, and gives that
task object a continuation only if the call suspends; the public-API path
starts each call as a task of its own (eagerly where asyncio can, 3.12+). Both
keep the same rules: calls start in ready order, a pre failure stops the
phase before the next call starts, and a call that ends at once is handled
at once.
"""

from __future__ import annotations

import asyncio
from asyncio import CancelledError
from collections.abc import Sequence
from contextvars import copy_context
from sys import getrefcount
from typing import TYPE_CHECKING, Any

from sdax._build import KIND_ASYNC, PhaseId, PhaseSpec
from sdax._engine._attempt import (
    attempt,
    first_attempt,
    first_retry_due,
    make_coroutine,
    retry_attempts,
)
from sdax._engine._call import (
    CANCELLED,
    FAILED,
    NOT_STARTED,
    NOTHING,
    OK,
    Continuation,
    Deadlines,
    LazyContinuation,
)
from sdax._engine._eager import (
    EAGER_TASKS,
    FAST,
    PhaseTask,
    enter_task,
    new_phase_task,
    park_yielded,
    set_current_task,
    settle,
    start_task,
)
from sdax._engine._run_parts import RunParts

__all__ = ["EAGER_RUNS", "CallStarter"]

_PRE = PhaseId.PRE_EXEC
_POST = PhaseId.POST_EXEC

# Public path on 3.11: a call's task starts on a later loop turn, so a failure
# must stop the phase as soon as it is reported, before tasks that have not
# begun yet run their first step.
LAZY_START = not FAST and not EAGER_TASKS
_PUBLIC_CONTINUATION = LazyContinuation if LAZY_START else Continuation


EAGER_RUNS: dict[asyncio.AbstractEventLoop, Any] = {}
"""Per event loop, the run whose calls are taking their first step (fast path)."""


class CallStarter(RunParts):
    """The part of a run (``_run.Run``) that starts its ready phase calls.

    A phase's spec list holds a :class:`~sdax._build._plan.PhaseSpec` (or a wrapper
    that looks like one) per node, ``None`` where the task lacks the phase;
    ready nodes always have one.
    """

    if not TYPE_CHECKING:
        __slots__ = ()

    def _start_ready(self, specs: Sequence[Any], done: Any) -> None:
        """Call every ready node (the list grows as calls finish at once).

        Nothing starts while pre/execute is stopping; the calls themselves are
        started by the fast path or the public-API path (``_eager.FAST``).
        """
        ready = self._ready
        if not ready:
            return
        if self._stopping and self._phase is not _POST:
            self._drop_ready(0)
            return
        self._call_ready(ready, specs, done)

    def _call_ready_fast(self, ready: list[int], specs: Sequence[Any], done: Any) -> None:
        """Fast path: each call's first step runs eagerly, with a reserved task current.

        This is the hot path. Each call runs in its own context copy; a call
        that finished without anybody keeping the reserved task lets the next
        call reuse it.
        """
        loop = self._loop
        ctx = self.ctx
        enter = enter_task
        refs = getrefcount
        limit = self._limit
        running = self._running
        task: PhaseTask = self._spare
        previous = set_current_task(loop, task)
        # The reserved task is held by this frame, ``self._spare`` and the
        # current-task slot; more references mean the call kept it. It is
        # counted through the attribute, which always loads a new reference,
        # because interpreters differ in whether passing a local counts
        # (3.14 borrows it at some places and not at others; 3.15 everywhere).
        unused = refs(self._spare)
        pos = 0
        outer = EAGER_RUNS.get(loop)  # a phase function may run a processor of its own
        EAGER_RUNS[loop] = self
        try:
            # A list iterator also yields what eager calls append meanwhile.
            for node in ready:
                if limit is not None and len(running) >= limit:
                    break
                pos += 1
                spec: PhaseSpec = specs[node]
                context = copy_context()
                self._eager_node = node  # what sdax.current_call() reads meanwhile
                try:
                    if spec.fast:
                        deadline = None
                        coro = spec.fn(ctx)
                    else:
                        coro, deadline = self._prepare(spec, node, context)
                    yielded = context.run(next, coro.__await__(), NOTHING)
                except BaseException as exc:
                    self._failed_at_once(node, spec, exc, task, context)
                    task = self._spare = new_phase_task(PhaseTask)
                    enter(loop, task)
                    if self._stopping and self._phase is not _POST:
                        self._drop_ready(pos)
                        break
                    continue
                if yielded is NOTHING:
                    if done is not None:
                        done(node, ready)
                    if refs(self._spare) > unused:
                        # The call kept its task (e.g. stored current_task()):
                        # let it end like a task would, and take a fresh one.
                        settle(task, loop)
                        task = self._spare = new_phase_task(PhaseTask)
                        enter(loop, task)
                else:
                    self._spawn(task, node, spec, coro, yielded, context, deadline)
                    task = self._spare = new_phase_task(PhaseTask)
                    enter(loop, task)
        finally:
            if outer is None:
                del EAGER_RUNS[loop]
            else:
                EAGER_RUNS[loop] = outer
            set_current_task(loop, previous)
            # A traceback may keep this frame alive: it must not keep the spare.
            del task
            del ready[:pos]

    def _call_ready_public(self, ready: list[int], specs: Sequence[Any], done: Any) -> None:
        """Public-API path: each call in a task of its own.

        Each call runs in a task started eagerly where asyncio can (3.12+): a
        call that finishes in its first step is handled at once, as on the
        fast path, so a failure stops the phase before the next call starts.
        """
        loop: asyncio.AbstractEventLoop = self._loop
        limit = self._limit
        running = self._running
        pos = 0
        task: asyncio.Task[Any] | None = None
        cont: Any = None  # a Continuation (a LazyContinuation on 3.11)
        first: Any = None
        try:
            for node in ready:  # also yields what calls that ended at once append
                if limit is not None and len(running) >= limit:
                    break
                pos += 1
                spec: PhaseSpec = specs[node]
                deadline = None
                if spec.timeout is not None and not spec.limits:
                    deadline = loop.time() + spec.timeout
                first = first_attempt(spec, self.ctx, self, node)
                cont = _PUBLIC_CONTINUATION(self, node, spec, first, NOTHING, None, False)
                if LAZY_START:
                    cont.watch(asyncio.current_task())
                task = start_task(cont, loop, copy_context())
                if task.done():
                    # The call ended in its first step and reported (task None).
                    _, outcome, error = self._done.pop()
                    self._finished(node, outcome, error)
                    # The error's traceback runs through this frame (the eager
                    # step ran inside the task's constructor): do not hold it.
                    error = None
                    if self._stopping and self._phase is not _POST:
                        self._drop_ready(pos)
                        break
                    continue
                cont.bind(task)
                if deadline is not None:
                    if self._deadlines is None:
                        self._deadlines = Deadlines(loop)
                    cont.start_timer(deadline, self._deadlines)
                    if not LAZY_START and cont.armed and deadline <= loop.time():
                        cont.expire()  # already due: before the next step, as asyncio.timeout(0)
                running[task] = node
                if self._graced:
                    self._grace_post(task)
                if self._budget_expired:
                    if not LAZY_START:
                        self.cancels(node)
                    # else the LazyContinuation says so once the post has begun:
                    # what its first step raises is its own.
                    task.cancel()
        finally:
            del ready[:pos]
            task = cont = first = None

    _call_ready = _call_ready_fast if FAST else _call_ready_public

    def _drop_ready(self, pos: int) -> None:
        """Forget the ready nodes from ``pos`` on: the phase is stopping."""
        ready = self._ready
        if self._phase is _PRE:
            for node in ready[pos:]:
                self._state.unstart(node)
        del ready[pos:]

    def _prepare(self, spec: PhaseSpec, node: int, context: Any) -> tuple[Any, float | None]:
        """First attempt of a call off the shortest path: its coroutine and deadline."""
        if spec.limits:
            # Slots first; the attempt's timeout starts once they are held.
            return attempt(spec, self.ctx, self, node), None
        deadline = None
        if spec.timeout is not None:
            deadline = self._loop.time() + spec.timeout
        if spec.kind == KIND_ASYNC:
            return spec.fn(self.ctx), deadline
        return context.run(make_coroutine, spec, self.ctx, self, node), deadline

    def _failed_at_once(
        self, node: int, spec: PhaseSpec, exc: BaseException, task: PhaseTask, context: Any
    ) -> None:
        """Handle a call that raised during its eager step: retry it, or record it."""
        if first_retry_due(spec, exc):
            retries = retry_attempts(spec, self.ctx, exc, self, node)
            self._spawn(task, node, spec, retries, NOTHING, context, None, retrying=True)
        elif isinstance(exc, CancelledError):
            self._finished(node, CANCELLED, exc)
        else:
            self._failed(node, exc)

    def _spawn(
        self,
        task: PhaseTask,
        node: int,
        spec: PhaseSpec,
        coro: Any,
        yielded: Any,
        context: Any,
        deadline: float | None,
        retrying: bool = False,
    ) -> None:
        """Let ``task`` run the rest of a call that could not finish eagerly."""
        park_yielded(yielded)
        if yielded is None and (deadline is None or deadline > self._loop.time()):
            # A bare ``yield`` (``asyncio.sleep(0)``) only asks to let the loop
            # run once: the task's first step, scheduled behind everything
            # already ready, is that turn, so it resumes the attempt at once
            # rather than yielding again. (With a deadline already due, the
            # extra turn lets its timer fire first, as asyncio.timeout would.)
            yielded = NOTHING
        cont = Continuation(self, node, spec, coro, yielded, task, retrying)
        task.activate(cont, self._loop, context)
        if deadline is not None:
            if self._deadlines is None:
                self._deadlines = Deadlines(self._loop)
            cont.start_timer(deadline, self._deadlines)
        self._running[task] = node
        if self._graced:
            self._grace_post(task)
        if self._budget_expired:
            self.cancels(node)
            task.cancel()

    def report(
        self, task: asyncio.Task[Any] | None, node: int, outcome: int, error: BaseException | None
    ) -> None:
        """Called by a continuation, from within its task, when its call ended.

        ``task`` is ``None`` when the call ended in the first step of a task
        started eagerly (public path): it was never registered as running.
        """
        if task is not None:
            del self._running[task]
        if LAZY_START and outcome != OK and outcome != NOT_STARTED:
            if outcome == CANCELLED:
                # Judged now, before an early stop makes it look asked for.
                assert error is not None  # a cancelled call reports its CancelledError
                failure = self.cancel_failure(node, error)
                if failure is not None:
                    outcome, error = FAILED, failure
            if outcome == FAILED and self._stops_phase(error):
                # No call that has not begun may begin now. Everything else is
                # the driver's, as on the fast path: it stops the phase when it
                # handles this report, so a call whose wake-up was already due
                # still resumes first.
                self._halting = True
        self._done.append((node, outcome, error))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
