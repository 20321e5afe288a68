"""Phase-by-phase driving of a run: ``AsyncPhaseRunner``.

The runner lets a caller run one phase at a time (``run_next()``) and look at
the run in between. It may be driven from one asyncio task and closed from
another: ``aclose()`` waits for a phase in progress, then runs only what is
still owed (never a phase twice), and every later ``run_next()`` returns
``False``. A cancellation of the closing task, or of the ``async with`` block
outside ``run_next()``, counts as one of the run: it stops pre/execute and
bounds the cleanup by the grace, as one that lands in ``run_next()`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from sdax._build import PhaseId, Plan
from sdax._engine._errors import SdaxExecutionError, SdaxTimeoutError
from sdax._engine._run import FAILURE_MESSAGE, Run


class _Analysis(Protocol):
    @property
    def plan(self) -> Plan: ...


class Processor(Protocol):
    """What a phase runner needs of its processor: the plan its analysis made."""

    @property
    def analysis(self) -> _Analysis: ...


__all__ = ["AsyncPhaseRunner"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _stop_rank(exc: BaseException) -> int:
    """Priority of what ends a run: interrupt > cancellation > deadline > other."""
    if isinstance(exc, SdaxExecutionError):
        return 0  # failures, even one that is a CancelledError a phase raised itself
    if isinstance(exc, asyncio.CancelledError):
        return 2
    if not isinstance(exc, Exception):
        return 3
    return 1 if isinstance(exc, SdaxTimeoutError) else 0


class AsyncPhaseRunner(Generic[T, K]):
    """Runs the phases of one run on demand.

    Get one from ``processor.open(ctx)``, preferably with ``async with``:
    leaving the block closes the runner (running the cleanup still owed) and
    raises the run's failures as :class:`SdaxExecutionError`.

    Args:
        processor: The processor whose plan runs.
        ctx: The context object of this run.
        run: The run to drive, with its options (``processor.open()`` makes
            it); by default a plain run of the processor over ``ctx``.
    """

    def __init__(
        self,
        processor: Processor,
        ctx: T,
        *,
        run: Run | None = None,
    ) -> None:
        self.processor = processor
        self.ctx = ctx
        self._run = Run(processor.analysis.plan, ctx) if run is None else run
        self._last: PhaseId | None = None
        self._busy: list[asyncio.Future[None]] | None = None
        self._closing = False
        self._closed = False
        self._failures: list[BaseException] | None = None  # the run's, once it ended
        # The cancellation of a task closing the runner while another drove a
        # phase: it reaches the closer, not the driver.
        self._closer_cancel: asyncio.CancelledError | None = None

    async def __aenter__(self) -> AsyncPhaseRunner[T, K]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            if exc is None or (
                isinstance(exc, (Exception, SdaxExecutionError)) and not _stop_rank(exc)
            ):
                await self.aclose()
                self.raise_failures()
                return False
            # The body ends with an interrupt, a cancellation or the run's
            # deadline: the cleanup still runs, and whichever outranks the
            # other goes on. A cancellation that landed in the body (not in
            # run_next()) is the run's too: its cleanup is bounded the same way.
            owed = self._last is not None and self._run.next_phase is not None
            if owed and isinstance(exc, asyncio.CancelledError):
                self._run.cancelled(exc)
            try:
                await self.aclose()
            except BaseException as late:
                if _stop_rank(late) > _stop_rank(exc):
                    raise
            return False
        finally:
            del self  # see _advance()

    async def _wait_idle(self) -> None:
        while self._busy is not None:
            self._busy.append(asyncio.get_running_loop().create_future())
            # No local holds the future: once cancelled it keeps its
            # CancelledError, whose traceback holds this frame.
            await self._busy[-1]

    async def _advance(self) -> None:
        self._busy = []
        try:
            phase = await self._run.advance()
            if phase is not None:
                self._last = phase
        finally:
            if self._run.next_phase is None and self._failures is None:
                # The cleanup ran, possibly right after an interrupted phase.
                self._last = PhaseId.POST_EXEC
                self._run.finished(self._run.outcome())
                self._failures = self._run.release()
            waiters = self._busy or []
            self._busy = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            # Since Python 3.12 an exception raised in a coroutine keeps the
            # frames that drove it (through f_back), this one included. The
            # runner keeps the failures, so the frames that drive a phase must
            # not keep the runner: that would be a reference cycle holding the
            # context until the cycle collector runs.
            del self

    async def run_next(self) -> bool:
        """Run the next phase.

        Returns:
            ``True`` while more phases remain after the one just run;
            ``False`` when the run is complete or the runner was closed.

        Raises:
            RuntimeError: If another ``run_next()`` of this runner is in
                progress.
            asyncio.CancelledError: If the caller was cancelled; the owed
                cleanup has run by then.
        """
        if self._busy is not None:
            raise RuntimeError("run_next() is already in progress for this runner")
        if self._closing or self._run.next_phase is None:
            return False
        try:
            await self._advance()
            return self._run.next_phase is not None and not self._closing
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if exc is not self._closer_cancel or task is None or task.cancelling():
                raise
            return False  # the closer was cancelled, not this task: the closer raises it
        finally:
            del self  # see _advance()

    async def aclose(self) -> None:
        """Finish the run: wait for a phase in progress, then run what is owed.

        Without any phase started this does nothing. After the pre phase
        only, the execute phase is skipped and the cleanup runs. Calling it
        again, or concurrently with a driving task, is safe: no phase runs
        twice. Failures are not raised here (see ``raise_failures()``).
        """
        self._closing = True  # from now on run_next() runs nothing
        cancelled: asyncio.CancelledError | None = None
        while self._busy is not None:
            try:
                await self._wait_idle()
            except asyncio.CancelledError as exc:
                # The cleanup is owed whatever happens to this call: stop the
                # phase in progress as a cancellation of the run would (the
                # cleanup is bounded by the grace), finish it, then let the
                # cancellation through.
                if cancelled is None:
                    self._closer_cancel = exc
                    self._run.cancelled(exc)
                cancelled = exc
        try:
            if self._closed:
                return
            self._closed = True
            if self._last is None:
                return
            if self._run.next_phase is PhaseId.EXECUTE:
                self._run.next_phase = PhaseId.POST_EXEC
            while self._run.next_phase is not None:
                await self._advance()
        finally:
            self._closer_cancel = None
            del self  # see _advance()
            if cancelled is not None:
                try:
                    raise cancelled
                finally:
                    cancelled = None

    def next_phase_id(self) -> PhaseId | None:
        """The phase ``run_next()`` would run, or ``None`` when none is left."""
        if self._closing:
            return None
        return self._run.next_phase

    def last_phase_id(self) -> PhaseId | None:
        """The phase that ran last, or ``None`` before the first one."""
        return self._last

    def _current_failures(self) -> list[BaseException]:
        return self._run.failures if self._failures is None else self._failures

    def has_failures(self) -> bool:
        """Whether any phase function has failed so far."""
        return bool(self._current_failures())

    def failures(self) -> list[BaseException]:
        """The exceptions raised by failed phase functions so far, in order."""
        return list(self._current_failures())

    def raise_failures(self) -> None:
        """Raise the failures so far as one SdaxExecutionError, if there are any."""
        failures = self._current_failures()
        if failures:
            raise SdaxExecutionError(FAILURE_MESSAGE, list(failures))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"next={self.next_phase_id()}"
        failures = len(self._current_failures())
        return f"<AsyncPhaseRunner {state} last={self._last} failures={failures}>"
