"""Observed runs: phase specs wrapped to report events, and the event fan-out.

A run with observers gets its own copy of the phase spec lists in which every
spec is an :class:`ObservedSpec`: its function wraps one attempt of the real
one with start/finish/failure/cancel events and applies the attempt timeout
itself (so a timeout is seen as the ``TimeoutError`` it becomes). Runs
without observers use the processor's lists as they are, so unobserved runs
pay nothing for this.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from asyncio import CancelledError
from collections.abc import Hashable, Sequence
from typing import Any

from sdax._call import is_retryable, make_coroutine
from sdax._phases import PhaseId
from sdax._plan import KIND_ASYNC, PhaseSpec
from sdax.observe import PhaseEvent, RunInfo, RunObserver

__all__ = ["Dispatch", "ObservedSpec", "observed_specs"]

_run_ids = itertools.count(1)


class Dispatch:
    """Sends events to the observers of one run, isolating their errors.

    Args:
        observers: The observers, processor-level ones first.
        ctx: The run's context object.
        tasks: Number of tasks of the processor.
    """

    __slots__ = ("_warned", "info", "observers")

    def __init__(self, observers: Sequence[RunObserver], ctx: Any, tasks: int) -> None:
        self.observers = tuple(observers)
        self.info = RunInfo(next(_run_ids), ctx, time.monotonic(), tasks)
        self._warned = False

    def emit(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every observer; warn once if one raises."""
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception as exc:  # noqa: BLE001 - an observer must not break a run
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"sdax observer {observer!r} raised {exc!r} in {hook}(); "
                        "its further errors in this run are ignored",
                        RuntimeWarning,
                        stacklevel=2,
                    )


class ObservedSpec:
    """A phase spec whose attempts report to a run's observers.

    It looks like a :class:`PhaseSpec` to the run (an ``async def`` without a
    timeout, so it takes the eager path), while each call of ``fn`` runs one
    attempt of the wrapped spec.
    """

    __slots__ = (
        "_attempts",
        "_dispatch",
        "_inner",
        "_phase",
        "_task",
        "backoff_factor",
        "fast",
        "fn",
        "initial_delay",
        "kind",
        "retries",
        "retryable",
        "task_function",
        "timeout",
    )

    def __init__(self, inner: PhaseSpec, dispatch: Dispatch, task: Hashable, phase: PhaseId):
        self._inner = inner
        self._dispatch = dispatch
        self._task = task
        self._phase = phase
        self._attempts = 0
        self.task_function = inner.task_function
        self.retries = inner.retries
        self.retryable = inner.retryable
        self.initial_delay = inner.initial_delay
        self.backoff_factor = inner.backoff_factor
        self.kind = KIND_ASYNC
        self.timeout = None
        self.fast = True
        self.fn = self._attempt

    def _event(self, started: float, **extra: Any) -> PhaseEvent:
        return PhaseEvent(
            self._dispatch.info,
            self._task,
            self._phase,
            self._attempts - 1,
            time.monotonic(),
            started,
            **extra,
        )

    async def _attempt(self, ctx: Any) -> Any:
        inner = self._inner
        dispatch = self._dispatch
        self._attempts += 1
        started = time.monotonic()
        dispatch.emit("phase_started", self._event(started))
        try:
            coro = make_coroutine(inner, ctx)
            if inner.timeout is None:
                result = await coro
            else:
                async with asyncio.timeout(inner.timeout):
                    result = await coro
        except CancelledError as exc:
            dispatch.emit("phase_cancelled", self._event(started, error=exc))
            raise
        except BaseException as exc:
            retry = (
                self._attempts <= inner.retries
                and is_retryable(exc, inner.retryable)
            )
            dispatch.emit("phase_failed", self._event(started, error=exc, will_retry=retry))
            raise
        dispatch.emit("phase_finished", self._event(started))
        return result

    def retrying(self, error: BaseException, delay: float) -> None:
        """Report that the next attempt starts after ``delay`` seconds."""
        now = time.monotonic()
        self._dispatch.emit(
            "phase_retrying",
            PhaseEvent(
                self._dispatch.info,
                self._task,
                self._phase,
                self._attempts,
                now,
                now,
                error=error,
                delay=delay,
            ),
        )


def observed_specs(
    specs: Sequence[PhaseSpec | None],
    names: Sequence[Hashable],
    dispatch: Dispatch,
    phase: PhaseId,
) -> list[Any]:
    """A run's own copy of a phase's spec list, every spec observed."""
    return [
        None if spec is None else ObservedSpec(spec, dispatch, names[node], phase)
        for node, spec in enumerate(specs)
    ]
