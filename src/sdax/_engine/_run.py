"""One run of a processor: the three phases, their failures and their cleanup.

A run walks the processor's integer graph with the core's per-run counters
and calls phase functions as they become ready. Each call starts eagerly
(see ``_call``); calls that suspend continue as tasks and report back, and
the run's driver (the caller's task) waits for those reports.

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
  each post has ``cleanup_grace`` to finish (``_cleanup``).
"""

from __future__ import annotations

import asyncio
import time
from asyncio import CancelledError
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, cast

from sdax._build import PHASE_FIELDS, PhaseId, Plan
from sdax._engine._attempt import NotAwaitable
from sdax._engine._call import CANCELLED, NOT_STARTED, OK, Deadlines
from sdax._engine._call_policy import CallPolicy
from sdax._engine._cleanup import Cleanup
from sdax._engine._eager import FAST, PhaseTask, new_phase_task
from sdax._engine._errors import SdaxExecutionError, SdaxTimeoutError
from sdax._engine._events import RunObserver
from sdax._engine._observe import Dispatch, observed_specs
from sdax._engine._start import CallStarter

__all__ = ["DEFAULT_CLEANUP_GRACE", "Run"]

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


def _cancel_requests() -> int:
    # A helper, so that no frame of a run keeps the caller's task in a local:
    # the task's CancelledError holds those frames in its traceback.
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


class Run(CallStarter, Cleanup, CallPolicy):
    """The state of one run of a plan over one context object.

    Args:
        plan: The processor's plan.
        ctx: The user's context object, passed to every phase function.
    """

    __slots__ = (
        "_asked",
        "_attempts",
        "_budget",
        "_budget_expired",
        "_cancel",
        "_cancel_base",
        "_cleanup_grace",
        "_cleanup_timeout",
        "_cut",
        "_deadline",
        "_deadlines",
        "_dispatch",
        "_done",
        "_eager_node",
        "_expired",
        "_grace_timers",
        "_graced",
        "_halting",
        "_interrupt",
        "_limit",
        "_loop",
        "_phase",
        "_plan",
        "_ready",
        "_running",
        "_spare",
        "_specs",
        "_state",
        "_stopping",
        "_timeout",
        "_unfinished",
        "_waiter",
        "ctx",
        "failures",
        "next_phase",
    )

    def __init__(
        self,
        plan: Plan,
        ctx: Any,
        timeout: float | None = None,
        cleanup_timeout: float | None = None,
        observers: Sequence[RunObserver] = (),
        max_concurrency: int | None = None,
        cleanup_grace: float = DEFAULT_CLEANUP_GRACE,
    ) -> None:
        self._plan = plan
        self._limit = max_concurrency
        self._unfinished: dict[int, list[Future[Any]]] | None = None
        self.ctx = ctx
        self._state = plan.graph.run()
        self.failures: list[BaseException] = []
        self.next_phase: PhaseId | None = _PRE
        self._phase: PhaseId = _PRE
        # Bound when the run first advances (``advance()`` checks for None).
        self._loop = cast(asyncio.AbstractEventLoop, None)
        self._running: dict[asyncio.Task[Any], int] = {}
        self._done: list[tuple[int, int, BaseException | None]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._ready: list[int] = []
        self._spare = new_phase_task(PhaseTask) if FAST else cast(PhaseTask, None)
        self._stopping = False
        self._halting = False
        self._cancel: CancelledError | None = None
        self._cancel_base = 0
        self._interrupt: BaseException | None = None
        self._timeout = timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._deadlines: Deadlines | None = None
        self._expired = False
        self._cleanup_timeout = cleanup_timeout
        self._cleanup_grace = cleanup_grace
        self._cut: set[int] = set()  # posts cut when a grace ran out
        self._grace_timers: list[asyncio.TimerHandle] = []
        self._graced = False  # stopped by a cancellation or the deadline: posts have a grace
        self._budget: asyncio.TimerHandle | None = None
        self._budget_expired = False
        self._asked: set[int] = set()  # calls of this phase the run itself cancelled
        self._eager_node = -1
        self._attempts: dict[tuple[PhaseId, int], int] | None = None  # calls on a retry
        self._dispatch: Dispatch | None = None
        self._specs = (plan.pre_spec, plan.exec_spec, plan.post_spec)
        if observers:
            dispatch = self._dispatch = Dispatch(observers, ctx, len(plan.names))
            self._specs = (
                observed_specs(plan.pre_spec, plan.names, dispatch, _PRE, self),
                observed_specs(plan.exec_spec, plan.names, dispatch, _EXEC, self),
                observed_specs(plan.post_spec, plan.names, dispatch, _POST, self),
            )

    # -- outcomes --------------------------------------------------------------

    def _failed(self, node: int, exc: BaseException) -> None:
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

    def _stop(self) -> None:
        """Stop starting pre/execute calls and cancel the running ones."""
        if self._phase is _POST:
            return
        self._stopping = True
        self._asked.update(self._running.values())
        for task in self._running:
            task.cancel()

    def _finished(self, node: int, outcome: int, error: BaseException | None) -> None:
        if outcome == OK:
            if self._phase is _PRE:
                self._state.pre_done(node, self._ready)
            elif self._phase is _POST:
                self._state.post_done(node, self._ready)
        elif outcome == CANCELLED:
            assert error is not None  # a cancelled call reports its CancelledError
            failure = self.cancel_failure(node, error)
            if failure is not None:
                self._failed(node, failure)
            elif self._phase is _POST:
                self._state.post_done(node, self._ready)  # cut by a grace: it ended
        elif outcome == NOT_STARTED:
            if self._phase is _PRE:
                self._state.unstart(node)
        else:
            assert error is not None  # a failed call reports its exception
            self._failed(node, error)

    async def _drain(self) -> None:
        """Wait for the reports of suspended calls and handle them.

        Returns once there is new ready work, or nothing is left running. An
        outside cancellation is recorded, stops pre/execute and gives every
        post a grace (``cancelled``).
        """
        while True:
            if self._done:
                done = self._done
                self._done = []
                for node, outcome, error in done:
                    self._finished(node, outcome, error)
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

    # -- the phases --------------------------------------------------------------

    async def _walk(self, specs: Sequence[Any], done: Any) -> None:
        """Call ready nodes as they come, until nothing is ready or running."""
        while True:
            self._start_ready(specs, done)
            if not self._running and not self._done:
                return
            await self._drain()

    async def _pre(self) -> None:
        self._phase = _PRE
        if not self._plan.any_pre and not self._plan.any_post:
            return  # nothing to call, and no cleanup that needs to know who was reached
        self._state.pre_begin(self._ready)
        await self._walk(self._specs[0], self._state.pre_done)

    async def _exec(self) -> None:
        self._phase = _EXEC
        self._ready.extend(self._plan.exec_nodes)
        await self._walk(self._specs[1], None)
        if self._deadline is not None:
            # The deadline covers pre and execute; the cleanup has its own budget.
            self._deadline.cancel()
            self._deadline = None

    def _expire_deadline(self) -> None:
        """The run's deadline passed: stop pre/execute, and give every post a grace."""
        self._deadline = None
        if self._phase is not _POST:
            self._expired = True
            self._stop()
            self._grant_grace()

    def cancelled(self, exc: CancelledError) -> None:
        """An outside cancellation reached the run (or the task closing its runner).

        The first one is what the run raises in the end; each stops
        pre/execute, and from the first on every post has ``cleanup_grace``.
        """
        if self._cancel is None:
            self._cancel = exc
        self._stop()
        self._grant_grace()

    # -- driving ------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """Whether a cancellation, an interrupt or the deadline ended the run early."""
        return self._cancel is not None or self._interrupt is not None or self._expired

    async def advance(self) -> PhaseId | None:
        """Run the next phase and return it (``None`` when all are done).

        After a pre failure the execute phase is skipped. When an outside
        cancellation or an interrupt arrives, the owed posts run at once and
        the cancellation or interrupt is raised.
        """
        phase = self.next_phase
        if phase is None:
            return None
        if self._loop is None:
            self._loop = loop = asyncio.get_running_loop()
            if self._timeout is not None:
                self._deadline = loop.call_later(self._timeout, self._expire_deadline)
            if self._dispatch is not None:
                self._dispatch.start()
            self._cancel_base = _cancel_requests()
        if phase is _EXEC and self._stopping:
            phase = self.next_phase = _POST  # the deadline passed between phases
        if phase is _PRE:
            await self._pre()
            self.next_phase = _POST if self._stopping else _EXEC
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
            await self._take_pending_cancel()
            self.raise_stop()
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

    def raise_stop(self) -> None:
        """Raise the interrupt, cancellation or deadline that stopped the run, if any."""
        if self._interrupt is not None:
            raise self._interrupt
        if self._cancel is not None:
            raise self._cancel
        if self._expired:
            # No local names the error: a frame holding the exception it
            # raised would be a reference cycle.
            message = f"the run's deadline of {self._timeout:g} s expired"
            if self.failures:
                raise SdaxTimeoutError(message, self.failures) from SdaxExecutionError(
                    FAILURE_MESSAGE, self.failures
                )
            raise SdaxTimeoutError(message)

    def raise_failures(self) -> None:
        """Raise the run's failures as one SdaxExecutionError, if there are any."""
        if self.failures:
            raise SdaxExecutionError(FAILURE_MESSAGE, self.failures)

    def error(self) -> BaseException | None:
        """What the finished run raises: interrupt, cancellation, deadline or failures."""
        try:
            self.raise_stop()
            self.raise_failures()
        except BaseException as exc:
            return exc
        return None

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
            error = self.error()
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
