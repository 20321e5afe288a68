"""One run of a processor: ``Run``, its life, and the collaborators it holds.

A run walks the processor's integer graph with the core's per-run counters
and calls phase functions as they become ready. Each call's first step runs
at once (see ``_call``); calls that suspend continue as tasks and report back,
and the run's driver (the caller's task) waits for those reports.

The rules the run keeps:

* pre: a task's pre starts once the pres of all its (effective) prerequisites
  succeeded. The first failure stops the phase: running pres are cancelled
  and no new one starts.
* execute: runs only when every pre succeeded. All executes run
  concurrently; a failure does not cancel the others.
* post: every owed post runs exactly once, after the posts of the tasks that
  depend on it. Post failures never stop other posts.
* an outside cancellation or an interrupt (``KeyboardInterrupt``,
  ``SystemExit``) stops pre/execute the same way, lets every owed post run,
  then reaches the caller unchanged. After a cancellation or the deadline,
  each post has ``cleanup_grace`` to finish (:class:`CleanupBounds`).

The module, top to bottom: the options of a run (:class:`RunOptions`); its
named states (:class:`Life`, :class:`Deadline`, :class:`Bound`), each with
the transitions it allows; the bounds of the cleanup (:class:`CleanupBounds`);
the two ways to start calls (:class:`FastStart`, :class:`PublicStart`, one
picked per interpreter); and :class:`Run` itself, whose sections are: making
a run, recording a finished call (``_ended``, the one place), the phases,
stopping, driving and the outcome, and what calls ask their run.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from asyncio import CancelledError
from collections.abc import Sequence
from concurrent.futures import Future
from contextvars import copy_context
from dataclasses import dataclass
from sys import getrefcount
from typing import Any, cast

from sdax._build import KIND_ASYNC, PHASE_FIELDS, PhaseId, PhaseSpec, Plan
from sdax._engine._attempt import (
    NotAwaitable,
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
    CallEnd,
    Continuation,
    Deadlines,
    LazyContinuation,
)
from sdax._engine._current import EAGER_RUNS, CallInfo
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
from sdax._engine._errors import SdaxExecutionError, SdaxTimeoutError
from sdax._engine._events import RunObserver
from sdax._engine._observe import Dispatch, after_work, observed_specs

__all__ = [
    "DEFAULT_CLEANUP_GRACE",
    "FAILURE_MESSAGE",
    "LAZY_START",
    "Bound",
    "CleanupBounds",
    "Deadline",
    "FastStart",
    "Life",
    "PublicStart",
    "Run",
    "RunOptions",
]

_PRE = PhaseId.PRE_EXEC
_EXEC = PhaseId.EXECUTE
_POST = PhaseId.POST_EXEC

FAILURE_MESSAGE = "SDAX task execution failed"

DEFAULT_CLEANUP_GRACE = 0.1
"""Seconds a post may take once the run was cancelled from outside or its deadline passed.

Counted from the post's start, or from the cancellation for a post running
then; a post still running after it is cut where it waits.

A database rollback plus a connection release takes 1-5 ms; 0.1 s leaves
them twenty times that, and code written for the reference (which cuts at
once) still sees a cancelled run end well within a second.
"""

# Public path on 3.11: a call's task starts on a later loop turn, so a failure
# must stop the phase as soon as it is reported, before tasks that have not
# begun yet run their first step.
LAZY_START = not FAST and not EAGER_TASKS
_PUBLIC_CONTINUATION = LazyContinuation if LAZY_START else Continuation


# == the options ==================================================================


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The options of one run, checked (``process_tasks``/``open`` make them).

    Attributes:
        timeout: Deadline in seconds of pre and execute, or ``None``.
        cleanup_timeout: Budget in seconds of the cleanup, or ``None``.
        cleanup_grace: Seconds each post may take once a cancellation or the
            deadline stopped the run (``math.inf``: no bound).
        max_concurrency: At most this many calls at once, or ``None``.
        observers: The run's observers, the processor's first.
    """

    timeout: float | None = None
    cleanup_timeout: float | None = None
    cleanup_grace: float = DEFAULT_CLEANUP_GRACE
    max_concurrency: int | None = None
    observers: tuple[RunObserver, ...] = ()


_NO_OPTIONS = RunOptions()


# == the named states =============================================================


class Life(enum.Enum):
    """Where a run is in its life; ``_LIFE_STEPS`` lists the transitions.

    ``PRE`` and ``EXECUTE`` hold while their phase runs and after it ended,
    until the next one begins (a phase runner may pause there). ``HALTING``
    exists on the public path on 3.11 only: a call reported a failure that
    stops the phase, and the driver has not handled it yet; no call that has
    not begun may begin. ``STOPPING``: pre/execute stopped (a pre failure, an
    outside cancellation, an interrupt or the deadline); no call starts, the
    running ones are cancelled, and the cleanup comes next.
    """

    CREATED = "created"
    PRE = "pre"
    EXECUTE = "execute"
    HALTING = "halting"
    STOPPING = "stopping"
    CLEANUP = "cleanup"
    DONE = "done"


# The transition tables are tuples of pairs: ``in`` compares their members by
# identity first, where a set would hash them (``Enum.__hash__`` is Python
# code, and every run takes a handful of transitions).
_LIFE_STEPS: tuple[tuple[Life, Life], ...] = (
    (Life.CREATED, Life.PRE),
    (Life.PRE, Life.EXECUTE),
    (Life.PRE, Life.HALTING),
    (Life.PRE, Life.STOPPING),
    (Life.PRE, Life.CLEANUP),  # a phase runner closed after pre
    (Life.EXECUTE, Life.HALTING),
    (Life.EXECUTE, Life.STOPPING),
    (Life.EXECUTE, Life.CLEANUP),
    (Life.HALTING, Life.STOPPING),
    (Life.STOPPING, Life.CLEANUP),
    (Life.CLEANUP, Life.DONE),
)


class Deadline(enum.Enum):
    """The run's deadline (``timeout=``), which covers pre and execute."""

    NONE = "none"  # no timeout, or the run has not begun
    ARMED = "armed"  # its timer runs
    EXPIRED = "expired"  # it passed before execute ended: the run stopped
    MET = "met"  # execute ended (or the cleanup began) first: its timer is gone


_DEADLINE_STEPS: tuple[tuple[Deadline, Deadline], ...] = (
    (Deadline.NONE, Deadline.ARMED),
    (Deadline.ARMED, Deadline.EXPIRED),
    (Deadline.ARMED, Deadline.MET),
)


class Bound(enum.Enum):
    """What bounds the posts of a run (:class:`CleanupBounds`)."""

    NONE = "none"  # nothing: no stop by a cancel or the deadline, no budget
    GRACE = "grace"  # every post has cleanup_grace from its start (or from the stop)
    BUDGET = "budget"  # the cleanup budget runs (it is the grace then)
    SPENT = "spent"  # the budget ran out: every post is cancelled where it waits


_BOUND_STEPS: tuple[tuple[Bound, Bound], ...] = (
    (Bound.NONE, Bound.GRACE),
    (Bound.NONE, Bound.BUDGET),
    (Bound.BUDGET, Bound.SPENT),
)


# Module names for the members the run reads: a global load, where an
# attribute of an enum class goes through its metaclass (measured: about 1 %
# of a 1,000-task run on 3.11 with a dozen such reads per run).
_BOUND_BUDGET = Bound.BUDGET
_BOUND_GRACE = Bound.GRACE
_BOUND_NONE = Bound.NONE
_BOUND_SPENT = Bound.SPENT
_DEADLINE_ARMED = Deadline.ARMED
_DEADLINE_EXPIRED = Deadline.EXPIRED
_DEADLINE_MET = Deadline.MET
_DEADLINE_NONE = Deadline.NONE
_LIFE_CLEANUP = Life.CLEANUP
_LIFE_CREATED = Life.CREATED
_LIFE_DONE = Life.DONE
_LIFE_EXECUTE = Life.EXECUTE
_LIFE_HALTING = Life.HALTING
_LIFE_PRE = Life.PRE
_LIFE_STOPPING = Life.STOPPING


# == the bounds of the cleanup ====================================================


class CleanupBounds:
    """How long the posts of a run may take: the grace, or the cleanup budget.

    Once an outside cancellation arrived or the run's deadline passed
    (wherever it landed: pre, execute or the cleanup), every post has
    ``cleanup_grace`` seconds from its start (a post already running then:
    from that moment) to finish; one still running then is cut where it waits
    (not a failure of its own). Posts that had not started still start, so
    one cancellation returns control within about the depth of the post
    chain times the grace. A run that was not stopped so never cuts a post,
    and arms no timer for it. With a cleanup budget (``cleanup_timeout=``),
    the budget is the grace: when it runs out (``Run._expire_budget``), every
    running post is cancelled, and later ones when they first wait.

    Args:
        options: The run's options.
        running: The run's running calls (task -> node), shared.
    """

    __slots__ = ("_budget", "_loop", "_running", "_timers", "cut", "grace", "state", "timeout")

    def __init__(self, options: RunOptions, running: dict[asyncio.Task[Any], int]) -> None:
        self.state = _BOUND_NONE
        self.grace = options.cleanup_grace
        self.timeout = options.cleanup_timeout
        self.cut: set[int] = set()  # posts cut when their grace ran out
        self._running = running
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # bound by begin()/grant()
        self._timers: list[asyncio.TimerHandle] = []
        self._budget: asyncio.TimerHandle | None = None

    def _to(self, state: Bound) -> None:
        assert (self.state, state) in _BOUND_STEPS, (self.state, state)
        self.state = state

    def grant(self, loop: asyncio.AbstractEventLoop, in_cleanup: bool) -> None:
        """The run was cancelled from outside or its deadline passed: bound its posts.

        From now on every post may take ``cleanup_grace`` to finish, counted
        from now for those running (``in_cleanup``), from their start for
        later ones (``start_grace``); a post still running then is cut. Only
        the first stop starts the grace; a further one cancels again every
        post that was cut (by its grace or the budget) and still runs, as a
        repeated ``Task.cancel()`` would. With a cleanup budget, the budget
        is the grace; ``math.inf`` shields without bound.
        """
        if self.state is _BOUND_GRACE or self.state is _BOUND_SPENT:
            self._recut()
            return
        if self.state is not _BOUND_NONE or self.timeout is not None or self.grace == math.inf:
            return
        self._loop = loop
        self._to(_BOUND_GRACE)
        if in_cleanup:
            for task in list(self._running):
                self.start_grace(task)

    def begin(self, loop: asyncio.AbstractEventLoop, expire: Any) -> None:
        """The cleanup begins: arm the budget, if there is one (``expire`` when it runs out)."""
        self._loop = loop
        if self.timeout is not None:
            self._to(_BOUND_BUDGET)
            self._budget = loop.call_later(self.timeout, expire)

    def spend(self) -> None:
        """The budget ran out."""
        self._budget = None
        self._to(_BOUND_SPENT)

    def start_grace(self, task: asyncio.Task[Any]) -> None:
        """Cut the post running in ``task`` if it has not ended ``cleanup_grace`` from now."""
        if self.grace <= 0:
            if LAZY_START:
                # Its task has not begun yet: cut it once its first step ran,
                # so that what that step raises stays its own.
                self._loop.call_soon(self._cut_post, task)
            else:
                self._cut_post(task)
        else:
            self._timers.append(self._loop.call_later(self.grace, self._cut_post, task))

    def _recut(self) -> None:
        """Cancel again the posts already cut that still run (they caught the cut)."""
        spent = self.state is _BOUND_SPENT
        for task, node in list(self._running.items()):
            if spent or node in self.cut:
                task.cancel()

    def _cut_post(self, task: asyncio.Task[Any]) -> None:
        """The grace of the post in ``task`` ran out: cancel it if it still runs."""
        node = self._running.get(task)
        if node is not None:
            self.cut.add(node)
            task.cancel()

    def end(self) -> None:
        """The cleanup ended: stop every timer."""
        if self._budget is not None:
            self._budget.cancel()
            self._budget = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


# == starting calls: two ways, one picked per interpreter ==========================


class FastStart:
    """Starts calls on the fast path: each first step runs with a reserved task current.

    That task object gets a continuation only if the call suspends (see
    ``_eager``). It holds the reserved task of its run, and the node whose
    first step runs now (what ``sdax.current_call()`` reads meanwhile).
    """

    __slots__ = ("node", "spare")

    def __init__(self) -> None:
        self.spare = new_phase_task(PhaseTask)
        self.node = -1

    def start(self, run: Run, ready: list[int], specs: Sequence[Any]) -> None:
        """Call every ready node (the list grows as calls finish at once).

        This is the hot path. Each call runs in its own context copy; a call
        that finished without anybody keeping the reserved task lets the next
        call reuse it.
        """
        loop = run._loop
        ctx = run.ctx
        done = run._on_ok
        enter = enter_task
        refs = getrefcount
        limit = run._limit
        running = run._running
        task: PhaseTask = self.spare
        previous = set_current_task(loop, task)
        # The reserved task is held by this frame, ``self.spare`` and the
        # current-task slot; more references mean the call kept it. It is
        # counted through the attribute, which always loads a new reference,
        # because interpreters differ in whether passing a local counts
        # (3.14 borrows it at some places and not at others; 3.15 everywhere).
        unused = refs(self.spare)
        pos = 0
        outer = EAGER_RUNS.get(loop)  # a phase function may run a processor of its own
        EAGER_RUNS[loop] = run
        try:
            # A list iterator also yields what eager calls append meanwhile.
            for node in ready:
                if limit is not None and len(running) >= limit:
                    break
                pos += 1
                spec: PhaseSpec = specs[node]
                context = copy_context()
                self.node = node
                try:
                    if spec.fast:
                        deadline = None
                        coro = spec.fn(ctx)
                    else:
                        coro, deadline = self._prepare(run, spec, node, context)
                    yielded = context.run(next, coro.__await__(), NOTHING)
                except BaseException as exc:
                    if first_retry_due(spec, exc):
                        retries = retry_attempts(spec, ctx, exc, run, node)
                        self._spawn(run, task, node, spec, retries, NOTHING, context, None, True)
                    else:
                        run._ended(
                            node, CANCELLED if isinstance(exc, CancelledError) else FAILED, exc
                        )
                    task = self.spare = new_phase_task(PhaseTask)
                    enter(loop, task)
                    if run._life is _LIFE_STOPPING:
                        run._drop_ready(pos)
                        break
                    continue
                if yielded is NOTHING:
                    # Ended at once: recorded as ``_ended`` records an OK call,
                    # inlined (one call per node fewer on the hot path).
                    if done is not None:
                        done(node, ready)
                    if refs(self.spare) > unused:
                        # The call kept its task (e.g. stored current_task()):
                        # let it end like a task would, and take a fresh one.
                        settle(task, loop)
                        task = self.spare = new_phase_task(PhaseTask)
                        enter(loop, task)
                else:
                    self._spawn(run, task, node, spec, coro, yielded, context, deadline, False)
                    task = self.spare = new_phase_task(PhaseTask)
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

    @staticmethod
    def _prepare(run: Run, spec: PhaseSpec, node: int, context: Any) -> tuple[Any, float | None]:
        """First attempt of a call off the shortest path: its coroutine and deadline."""
        if spec.limits:
            # Slots first; the attempt's timeout starts once they are held.
            return attempt(spec, run.ctx, run, node), None
        deadline = None
        if spec.timeout is not None:
            deadline = run._loop.time() + spec.timeout
        if spec.kind is KIND_ASYNC:
            return spec.fn(run.ctx), deadline
        return context.run(make_coroutine, spec, run.ctx, run, node), deadline

    @staticmethod
    def _spawn(
        run: Run,
        task: PhaseTask,
        node: int,
        spec: PhaseSpec,
        coro: Any,
        yielded: Any,
        context: Any,
        deadline: float | None,
        retrying: bool,
    ) -> None:
        """Let ``task`` run the rest of a call that could not finish eagerly."""
        loop = run._loop
        park_yielded(yielded)
        if yielded is None and (deadline is None or deadline > loop.time()):
            # A bare ``yield`` (``asyncio.sleep(0)``) only asks to let the loop
            # run once: the task's first step, scheduled behind everything
            # already ready, is that turn, so it resumes the attempt at once
            # rather than yielding again. (With a deadline already due, the
            # extra turn lets its timer fire first, as asyncio.timeout would.)
            yielded = NOTHING
        cont = Continuation(run, node, spec, coro, yielded, task, retrying)
        task.activate(cont, loop, context)
        if deadline is not None:
            cont.start_timer(deadline, run._attempt_deadlines())
        run._running[task] = node
        if run._bounds.state is not _BOUND_NONE and run._phase is _POST:
            run._bound_new_post(task, node)


class PublicStart:
    """Starts calls with public asyncio API only: each call in a task of its own.

    Each call runs in a task started eagerly where asyncio can (3.12+): a
    call that finishes in its first step is handled at once, as on the fast
    path, so a failure stops the phase before the next call starts.
    """

    __slots__ = ()

    def start(self, run: Run, ready: list[int], specs: Sequence[Any]) -> None:
        """Call every ready node (the list grows as calls finish at once)."""
        loop: asyncio.AbstractEventLoop = run._loop
        limit = run._limit
        running = run._running
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
                first = first_attempt(spec, run.ctx, run, node)
                cont = _PUBLIC_CONTINUATION(run, node, spec, first, NOTHING, None, False)
                if LAZY_START:
                    cont.watch(asyncio.current_task())
                task = start_task(cont, loop, copy_context())
                if task.done():
                    # The call ended in its first step and reported (task None).
                    _, outcome, error = run._done.pop()
                    run._ended(node, outcome, error)
                    # The error's traceback runs through this frame (the eager
                    # step ran inside the task's constructor): do not hold it.
                    error = None
                    if run._life is _LIFE_STOPPING:
                        run._drop_ready(pos)
                        break
                    continue
                cont.bind(task)
                if deadline is not None:
                    cont.start_timer(deadline, run._attempt_deadlines())
                    if not LAZY_START and cont.armed and deadline <= loop.time():
                        cont.expire()  # already due: before the next step, as asyncio.timeout(0)
                running[task] = node
                if run._bounds.state is not _BOUND_NONE and run._phase is _POST:
                    run._bound_new_post(task, node)
        finally:
            del ready[:pos]
            task = cont = first = None


_STARTER: type[FastStart] | type[PublicStart] = FastStart if FAST else PublicStart
"""How this interpreter's runs start their calls (picked once: ``_eager.FAST``)."""


# == the run ======================================================================


def _cancel_requests() -> int:
    # A helper, so that no frame of a run keeps the caller's task in a local:
    # the task's CancelledError holds those frames in its traceback.
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


class Run:
    """One run of a plan over one context object.

    Its collaborators are fields: the core's per-run counters (``_state``),
    the way calls start (``_starter``: :class:`FastStart` or
    :class:`PublicStart`), the bounds of the cleanup (``_bounds``), the
    attempts' deadlines (``_deadlines``, made when an attempt has one), and
    the observers' dispatch (``_dispatch``, with observers only).

    Args:
        plan: The processor's plan.
        ctx: The user's context object, passed to every phase function.
        options: The run's options (checked by the processor).
    """

    __slots__ = (
        "_asked",
        "_attempts",
        "_bounds",
        "_cancel",
        "_cancel_base",
        "_deadline",
        "_deadline_timer",
        "_deadlines",
        "_dispatch",
        "_done",
        "_interrupt",
        "_life",
        "_limit",
        "_loop",
        "_on_ok",
        "_options",
        "_phase",
        "_plan",
        "_ready",
        "_running",
        "_specs",
        "_starter",
        "_state",
        "_unfinished",
        "_waiter",
        "ctx",
        "failures",
        "next_phase",
    )

    # -- making a run --------------------------------------------------------------

    def __init__(self, plan: Plan, ctx: Any, options: RunOptions = _NO_OPTIONS) -> None:
        self._plan = plan
        self._options = options
        self.ctx = ctx
        self._life = _LIFE_CREATED
        self._phase: PhaseId = _PRE  # the phase whose calls run (or ran last)
        self.next_phase: PhaseId | None = _PRE
        self._state = plan.graph.run()
        self.failures: list[BaseException] = []
        self._limit = options.max_concurrency
        # Bound when the run first advances (``advance()`` checks for None).
        self._loop = cast(asyncio.AbstractEventLoop, None)
        self._running: dict[asyncio.Task[Any], int] = {}
        self._done: list[tuple[int, CallEnd, BaseException | None]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._ready: list[int] = []
        self._on_ok: Any = None  # what an OK call of this phase does to the counters
        self._starter: FastStart | PublicStart = _STARTER()
        self._bounds = CleanupBounds(options, self._running)
        self._deadline = _DEADLINE_NONE
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadlines: Deadlines | None = None
        self._cancel: CancelledError | None = None
        self._cancel_base = 0
        self._interrupt: BaseException | None = None
        self._asked: set[int] = set()  # calls of this phase the run itself cancelled
        self._attempts: dict[tuple[PhaseId, int], int] | None = None  # calls on a retry
        self._unfinished: dict[int, list[Future[Any]]] | None = None
        self._dispatch: Dispatch | None = None
        self._specs = (plan.pre_spec, plan.exec_spec, plan.post_spec)
        if options.observers:
            dispatch = self._dispatch = Dispatch(options.observers, ctx, len(plan.names))
            self._specs = (
                observed_specs(plan.pre_spec, plan.names, dispatch, _PRE, self),
                observed_specs(plan.exec_spec, plan.names, dispatch, _EXEC, self),
                observed_specs(plan.post_spec, plan.names, dispatch, _POST, self),
            )

    def _to(self, life: Life) -> None:
        assert (self._life, life) in _LIFE_STEPS, (self._life, life)
        self._life = life

    def _begin(self) -> None:
        """The run first advances: bind the loop, arm the deadline, tell the observers."""
        self._loop = loop = asyncio.get_running_loop()
        timeout = self._options.timeout
        if timeout is not None:
            self._deadline_timer = loop.call_later(timeout, self._expire_deadline)
            self._deadline_to(_DEADLINE_ARMED)
        if self._dispatch is not None:
            self._dispatch.start()
        self._cancel_base = _cancel_requests()

    # -- recording a finished call (the one place) -----------------------------------

    def report(
        self,
        task: asyncio.Task[Any] | None,
        node: int,
        outcome: CallEnd,
        error: BaseException | None,
    ) -> None:
        """Called by a continuation, from within its task, when its call ended.

        The report waits in ``_done`` until the driver records it
        (``_ended``). ``task`` is ``None`` when the call ended in the first
        step of a task started eagerly (public path): it was never
        registered as running.
        """
        if task is not None:
            del self._running[task]
        if LAZY_START and outcome is not OK and outcome is not NOT_STARTED:
            if outcome is CANCELLED:
                # Judged now, before an early stop makes it look asked for.
                assert error is not None  # a cancelled call reports its CancelledError
                failure = self.cancel_failure(node, error)
                if failure is not None:
                    outcome, error = FAILED, failure
            if outcome is FAILED and self._stops_phase(error):
                # No call that has not begun may begin now. Everything else is
                # the driver's, as on the fast path: it stops the phase when it
                # handles this report, so a call whose wake-up was already due
                # still resumes first.
                if self._life is _LIFE_PRE or self._life is _LIFE_EXECUTE:
                    self._to(_LIFE_HALTING)
        self._done.append((node, outcome, error))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ended(self, node: int, outcome: CallEnd, error: BaseException | None) -> None:
        """Record the end of the call of ``node``: every finished call comes here.

        (The fast path inlines the OK case for calls that end at once.)
        """
        if outcome is OK:
            if self._on_ok is not None:
                self._on_ok(node, self._ready)
            return
        if outcome is NOT_STARTED:
            if self._phase is _PRE:
                self._state.unstart(node)
            return
        assert error is not None  # a call that did not succeed reports its exception
        if outcome is CANCELLED:
            failure = self.cancel_failure(node, error)
            if failure is None:
                if self._phase is _POST:
                    self._state.post_done(node, self._ready)  # cut by a grace: it ended
                return
            error = failure
        self._failed(node, error)

    def _failed(self, node: int, exc: BaseException) -> None:
        """The call of ``node`` failed with ``exc``: record it, and decide what stops.

        The one place where a failure decides the rest of the run: an
        interrupt stops pre/execute; a pre failure stops the phase; an
        execute or post failure lets the others finish.
        """
        phase = self._phase
        if isinstance(exc, NotAwaitable):
            exc = TypeError(
                f"Task {self._plan.names[node]!r}: {PHASE_FIELDS[phase]} function returned "
                f"{exc.value!r}, which is not awaitable (use task_sync_func() for a plain "
                "function)"
            )
        if not isinstance(exc, (Exception, CancelledError)):
            # An interrupt (or another BaseException): stop, clean up, re-raise it.
            if self._interrupt is None:
                self._interrupt = exc
            self._stop()
        else:
            # A CancelledError here is one nobody in the run asked for
            # (cancel_failure): a failure of this call, never the caller's.
            exc.add_note(f"sdax: raised by {self.describe(node)}")
            self.failures.append(exc)
            if phase is _PRE:
                self._stop()
        if phase is _POST:
            self._state.post_done(node, self._ready)

    def _bound_new_post(self, task: asyncio.Task[Any], node: int) -> None:
        """A post continues in ``task`` after a stop or with the budget spent: bound it.

        The starters register a call that continues in a task themselves
        (``run._running[task] = node``, inlined: one call fewer per suspended
        call) and call this only in the cleanup, once its bounds are set.
        """
        bounds = self._bounds
        if bounds.state is _BOUND_GRACE:
            bounds.start_grace(task)
        elif bounds.state is _BOUND_SPENT:
            if not LAZY_START:
                self.cancels(node)
            # else the LazyContinuation says so once the post has begun:
            # what its first step raises is its own.
            task.cancel()

    def _attempt_deadlines(self) -> Deadlines:
        if self._deadlines is None:
            self._deadlines = Deadlines(self._loop)
        return self._deadlines

    # -- the phases ----------------------------------------------------------------

    def _start_ready(self, specs: Sequence[Any]) -> None:
        """Call every ready node, unless pre/execute is stopping."""
        if not self._ready:
            return
        if self._life is _LIFE_STOPPING:
            self._drop_ready(0)
            return
        self._starter.start(self, self._ready, specs)

    def _drop_ready(self, pos: int) -> None:
        """Forget the ready nodes from ``pos`` on: the phase is stopping."""
        ready = self._ready
        if self._phase is _PRE:
            for node in ready[pos:]:
                self._state.unstart(node)
        del ready[pos:]

    async def _walk(self, specs: Sequence[Any]) -> None:
        """Call ready nodes as they come, until nothing is ready or running."""
        while True:
            self._start_ready(specs)
            if not self._running and not self._done:
                return
            await self._drain()

    async def _drain(self) -> None:
        """Wait for the reports of suspended calls and record them.

        Returns once there is new ready work, or nothing is left running. An
        outside cancellation is recorded, stops pre/execute and gives every
        post a grace (``cancelled``).
        """
        while True:
            if self._done:
                done = self._done
                self._done = []
                for node, outcome, error in done:
                    self._ended(node, outcome, error)
                if self._ready and (self._limit is None or len(self._running) < self._limit):
                    return
                continue
            if not self._running:
                return
            self._waiter = self._loop.create_future()
            try:
                # Awaited through the attribute, not a local: a cancelled future
                # keeps its CancelledError, whose traceback holds this frame.
                await self._waiter
            except CancelledError as exc:
                self.cancelled(exc)
            finally:
                self._waiter = None

    async def _pre(self) -> None:
        self._to(_LIFE_PRE)
        self._phase = _PRE
        if not self._plan.any_pre and not self._plan.any_post:
            return  # nothing to call, and no cleanup that needs to know who was reached
        self._on_ok = self._state.pre_done
        self._state.pre_begin(self._ready)
        await self._walk(self._specs[0])

    async def _exec(self) -> None:
        self._to(_LIFE_EXECUTE)
        self._phase = _EXEC
        self._on_ok = None
        self._ready.extend(self._plan.exec_nodes)
        await self._walk(self._specs[1])
        if self._deadline is _DEADLINE_ARMED:
            # The deadline covers pre and execute; the cleanup has its own budget.
            self._meet_deadline()

    async def _post(self) -> None:
        self._to(_LIFE_CLEANUP)
        self._phase = _POST
        self._asked.clear()  # what the run cancelled in pre/execute ended there
        if self._deadline is _DEADLINE_ARMED:
            self._meet_deadline()
        any_post = self._plan.any_post
        if any_post:
            self._bounds.begin(self._loop, self._expire_budget)
        specs = self._specs[2]
        if self._unfinished:
            specs = after_work(specs, self._unfinished, self)
        try:
            if any_post:
                self._on_ok = self._state.post_done
                self._state.post_begin(self._ready)
                await self._walk(specs)
        finally:
            self._bounds.end()
            if self._deadlines is not None:
                self._deadlines.close()

    # -- stopping ------------------------------------------------------------------

    def _stop(self) -> None:
        """Stop starting pre/execute calls and cancel the running ones."""
        if self._phase is _POST:
            return
        if self._life is not _LIFE_STOPPING:
            self._to(_LIFE_STOPPING)
        self._asked.update(self._running.values())
        for task in self._running:
            task.cancel()

    def _meet_deadline(self) -> None:
        """Execute ended (or the cleanup began) before the deadline: stop its timer."""
        assert self._deadline_timer is not None
        self._deadline_timer.cancel()
        self._deadline_timer = None
        self._deadline_to(_DEADLINE_MET)

    def _deadline_to(self, state: Deadline) -> None:
        assert (self._deadline, state) in _DEADLINE_STEPS, (self._deadline, state)
        self._deadline = state

    def _expire_deadline(self) -> None:
        """The run's deadline passed: stop pre/execute, and give every post a grace."""
        self._deadline_timer = None
        if self._phase is not _POST:
            self._deadline_to(_DEADLINE_EXPIRED)
            self._stop()
            self._grant_grace()

    def _expire_budget(self) -> None:
        """The cleanup budget ran out: cancel every running post, and later ones."""
        self._bounds.spend()
        self._asked.update(self._running.values())
        for task in self._running:
            task.cancel()

    def _grant_grace(self) -> None:
        self._bounds.grant(self._loop, self._phase is _POST)

    def cancelled(self, exc: CancelledError) -> None:
        """An outside cancellation reached the run (or the task closing its runner).

        The first one is what the run raises in the end; each stops
        pre/execute, and from the first on every post has ``cleanup_grace``.
        """
        if self._cancel is None:
            self._cancel = exc
        self._stop()
        self._grant_grace()

    # -- driving and the outcome -----------------------------------------------------

    @property
    def life(self) -> Life:
        """Where the run is in its life."""
        return self._life

    @property
    def stopped(self) -> bool:
        """Whether a cancellation, an interrupt or the deadline ended the run early."""
        return (
            self._cancel is not None
            or self._interrupt is not None
            or self._deadline is _DEADLINE_EXPIRED
        )

    async def advance(self) -> PhaseId | None:
        """Run the next phase and return it (``None`` when all are done).

        After a pre failure the execute phase is skipped. When an outside
        cancellation or an interrupt arrives, the owed posts run at once and
        the cancellation or interrupt is raised.
        """
        phase = self.next_phase
        if phase is None:
            return None
        if self._life is _LIFE_CREATED:
            self._begin()
        if phase is _EXEC and self._life is _LIFE_STOPPING:
            phase = self.next_phase = _POST  # the deadline passed between phases
        if phase is _PRE:
            await self._pre()
            self.next_phase = _POST if self._life is _LIFE_STOPPING else _EXEC
        elif phase is _EXEC:
            await self._exec()
            self.next_phase = _POST
        else:
            await self._post()
            self.next_phase = None
        if self.stopped and self.next_phase is _POST:
            await self._post()
            self.next_phase = None
        if self.next_phase is None:
            self._to(_LIFE_DONE)
            await self._take_pending_cancel()
            stop = self._stop_error()
            if stop is not None:
                try:
                    raise stop
                finally:
                    stop = None  # no frame -> exception -> traceback -> frame cycle
        return phase

    async def _take_pending_cancel(self) -> None:
        # A phase that never suspended may have cancelled the caller's task; the
        # run then never awaited, so the request is still pending. Take it now,
        # so that it wins over the run's failures as any cancellation does.
        if self._cancel is None and _cancel_requests() > self._cancel_base:
            try:
                await asyncio.sleep(0)
            except CancelledError as exc:
                self._cancel = exc

    def _stop_error(self) -> BaseException | None:
        """The interrupt, cancellation or deadline error that stopped the run, if any."""
        if self._interrupt is not None:
            return self._interrupt
        if self._cancel is not None:
            return self._cancel
        if self._deadline is _DEADLINE_EXPIRED:
            message = f"the run's deadline of {self._options.timeout:g} s expired"
            if not self.failures:
                return SdaxTimeoutError(message)
            error = SdaxTimeoutError(message, self.failures)
            error.__cause__ = SdaxExecutionError(FAILURE_MESSAGE, self.failures)
            return error
        return None

    def outcome(self) -> BaseException | None:
        """What the finished run raises: interrupt, cancellation, deadline or failures."""
        stop = self._stop_error()
        if stop is None and self.failures:
            return SdaxExecutionError(FAILURE_MESSAGE, self.failures)
        return stop

    def finished(self, error: BaseException | None) -> None:
        """Tell the observers that the run ended (after its cleanup)."""
        if self._dispatch is not None:
            self._dispatch.emit("run_finished", self._dispatch.info, error, time.monotonic())

    def release(self) -> list[BaseException]:
        """Forget the run's outcome once it is raised; return its failures.

        Whatever the run raises carries tracebacks through engine frames that
        hold the run; as long as the run held those exceptions back, run and
        context could only be freed by the cycle collector.
        """
        failures = self.failures
        self.failures = []
        self._cancel = None
        self._interrupt = None
        # Observed specs point back at the run: drop them with the run's end.
        plan = self._plan
        self._specs = (plan.pre_spec, plan.exec_spec, plan.post_spec)
        self._dispatch = None
        return failures

    async def run_all(self) -> None:
        """Run every phase, then raise the run's outcome."""
        error: BaseException | None = None
        try:
            while self.next_phase is not None:
                await self.advance()
            error = self.outcome()
        except BaseException as exc:
            error = exc
        if self.next_phase is None:
            self.finished(error)
        self.release()
        if error is not None:
            try:
                raise error
            finally:
                error = None  # no frame -> exception -> traceback -> frame cycle

    # -- what calls ask their run (the ``CallOwner`` contract of ``_attempt``) --------

    def _stops_phase(self, error: BaseException | None) -> bool:
        """Whether a call that ended with ``error`` stops the phase (pre/execute)."""
        if self._phase is _PRE:
            return True
        return self._phase is _EXEC and not isinstance(error, (Exception, CancelledError))

    @property
    def refuses_new_calls(self) -> bool:
        """Whether a call that has not begun may no longer begin (public path, 3.11)."""
        return self._life is _LIFE_STOPPING or self._life is _LIFE_HALTING

    def stops_on_cancel(self) -> bool:
        """Whether a cancel request to the driving task keeps new calls from starting."""
        return self._phase is not _POST

    def may_retry(self) -> bool:
        """Whether a failed call may make another attempt now."""
        if self._phase is _POST:
            return self._bounds.state is not _BOUND_SPENT
        return self._life is not _LIFE_STOPPING

    def retry_refused(self, node: int, error: BaseException) -> BaseException:
        """What a call whose retry ``may_retry`` refused fails with.

        A post refused by the cleanup budget counts as cut by it (as when the
        budget cancels a retry that was already waiting); otherwise the call
        keeps its own error.
        """
        if self._phase is _POST and self._bounds.state is _BOUND_SPENT:
            return self._budget_failure(node)
        return error

    def cancel_failure(self, node: int, error: BaseException) -> BaseException | None:
        """The failure a cancelled call counts as, or ``None`` if the run asked for it.

        The run cancels pre/execute calls when it stops (a failure elsewhere,
        an outside cancellation, the deadline): those are not failures of
        their own, nor is a post cut when its grace after an outside
        cancellation or the deadline ran out. A post the cleanup budget
        cancelled fails with TimeoutError. A cancellation nobody in the run
        asked for (the function raised ``CancelledError`` itself, say, even
        after the run stopped) means the call did not complete: its failure is
        that very ``CancelledError``.
        """
        if node in self._bounds.cut:
            return None
        if node not in self._asked:
            return error
        return self._budget_failure(node) if self._phase is _POST else None

    def _budget_failure(self, node: int) -> TimeoutError:
        """The failure of a post that the cleanup budget cut, or kept from a retry."""
        return TimeoutError(
            f"{self.describe(node)} was cancelled: the cleanup budget of "
            f"{self._options.cleanup_timeout:g} s ran out"
        )

    def cancels(self, node: int) -> None:
        """The run's cancel request reaches the call of ``node`` where it next waits."""
        self._asked.add(node)

    def unfinished(self, node: int, work: Future[Any]) -> None:
        """Executor work of ``node`` outlived its attempt: its post must wait for it."""
        if self._unfinished is None:
            self._unfinished = {}
        self._unfinished.setdefault(node, []).append(work)

    def attempting(self, node: int, number: int) -> None:
        """The call of ``node`` begins attempt ``number`` (2 for the first retry)."""
        if self._attempts is None:
            self._attempts = {}
        self._attempts[self._phase, node] = number

    def eager_call(self, task: asyncio.Task[Any]) -> int | None:
        """The node whose first step runs in ``task`` now (fast path), else ``None``."""
        starter = self._starter
        if isinstance(starter, FastStart) and task is starter.spare:
            return starter.node
        return None

    def call_info(self, node: int) -> CallInfo:
        """A snapshot of the call of ``node`` in progress, for ``sdax.current_call()``."""
        phase = self._phase
        pre_completed = None
        if phase is _POST and self._plan.pre_spec[node] is not None:
            pre_completed = bool(self._state.completed(node))
        attempts = self._attempts
        return CallInfo(
            task=self._plan.names[node],
            phase=phase,
            attempt=1 if attempts is None else attempts.get((phase, node), 1),
            pre_completed=pre_completed,
            run_failed=bool(self.failures),
            run_cancelled=self._cancel is not None,
            run_interrupted=self._interrupt is not None,
            deadline_passed=self._deadline is _DEADLINE_EXPIRED,
        )

    def describe(self, node: int) -> str:
        """``task 'name' <phase>`` for messages and reprs."""
        return f"task {self._plan.names[node]!r} {PHASE_FIELDS[self._phase]}"
