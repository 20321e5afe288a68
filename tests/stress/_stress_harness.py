"""Stress scenarios and their logging phase functions.

A :class:`Scenario` is a processor (tasks with one :class:`Behaviour` per
phase, built with the graph or the level builder) and the runs to make of it,
concurrently, each with its own options (:class:`RunSpec`). Every phase
function logs its attempts to the scenario's :class:`Shared` log and checks,
while it runs, that it sees its own run's context object, contextvars and
task. ``_stress_loop.run_scenario()`` runs a scenario.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from _stress_log import (
    PHASES,
    POST,
    PRE,
    Boom,
    Event,
    Flaky,
    FlakyToo,
    GraphModel,
    PhaseModel,
    TaskModel,
)

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxTaskGroup,
    TaskFunction,
    task_func,
    task_group_func,
    task_sync_func,
)

# Actions of a phase function (what one attempt does).
OK_NOW = "ok_now"  # return at once
SUSPEND = "suspend"  # await sleep(0), return
SLEEP = "sleep"  # await sleep(delay <= 5 ms), return
RAISE_NOW = "raise_now"  # raise Boom before suspending
RAISE_AFTER_SUSPEND = "raise_after_suspend"  # sleep(0), raise Boom
RAISE_AFTER_SLEEP = "raise_after_sleep"  # sleep(delay), raise Boom
TIMEOUT = "timeout"  # sleep far longer than the attempt's (small) timeout
HANG = "hang"  # sleep "forever" without a timeout: only a stop or the budget ends it
FLAKY = "flaky"  # raise a retryable error on the first `fails` attempts, then return
FLAKY_TIMEOUT = "flaky_timeout"  # overrun the timeout on the first `fails` attempts
INTERRUPT_NOW = "interrupt_now"  # raise KeyboardInterrupt before suspending
INTERRUPT_AFTER_SUSPEND = "interrupt_after_suspend"  # sleep(0), raise KeyboardInterrupt
CANCEL_RUN_NOW = "cancel_run_now"  # cancel the run's own task during the eager step
SELF_CANCEL_NOW = "self_cancel_now"  # raise a CancelledError of its own before suspending
SELF_CANCEL = "self_cancel"  # sleep(0), raise a CancelledError of its own
# Misbehaviours that only the harness's own tests use: each must be seen.
LEAVE_TASK = "leave_task"  # start a task that outlives the run
LEAVE_TIMER = "leave_timer"  # schedule a timer that outlives the run
WARN = "warn"  # emit a RuntimeWarning
LOOP_ERROR = "loop_error"  # call the loop's exception handler
ESCAPE = "escape"  # start a task that raises KeyboardInterrupt out of the event loop

SYNC_ACTIONS = frozenset({OK_NOW, RAISE_NOW, FLAKY, INTERRUPT_NOW, CANCEL_RUN_NOW, SELF_CANCEL_NOW})
LONG = 30.0  # "forever" for a sleep; the hang guard is far shorter
HANG_GUARD = 10.0

RUN_VAR: ContextVar[int | None] = ContextVar("sdax_stress_run", default=None)
CALL_VAR: ContextVar[tuple[int, Hashable, str] | None] = ContextVar(
    "sdax_stress_call", default=None
)


@dataclass(frozen=True)
class Behaviour:
    """What a phase function does, and how it is declared.

    Attributes:
        action: One of the action constants of this module.
        kind: ``"async"`` (``task_func``), ``"sync"`` (``task_sync_func``; only
            the actions in ``SYNC_ACTIONS``) or ``"group"``
            (``task_group_func``; it starts no subtask, see ``phase_function``).
        delay: Seconds slept by ``SLEEP``/``RAISE_AFTER_SLEEP``.
        timeout: Per-attempt timeout (not for ``"sync"``).
        retries: Retries (the initial retry delay is always 0).
        fails: Failing attempts of ``FLAKY``/``FLAKY_TIMEOUT``.
        keep_task: Whether the function keeps ``asyncio.current_task()`` until
            the scenario ends (the engine must then never reuse that task).
    """

    action: str
    kind: str = "async"
    delay: float = 0.001
    timeout: float | None = None
    retries: int = 0
    fails: int = 0
    keep_task: bool = False

    def model(self) -> PhaseModel:
        """The checker's view of this phase function."""
        return PhaseModel(self.timeout, self.retries, self.kind)


@dataclass(frozen=True)
class TaskSpec:
    """A task of a scenario: its name and the behaviour of each phase it has."""

    name: Hashable
    phases: Mapping[str, Behaviour]

    def model(self) -> TaskModel:
        """The checker's view of this task."""
        get = self.phases.get
        models = [None if get(p) is None else get(p).model() for p in PHASES]  # type: ignore[union-attr]
        return TaskModel(self.name, *models)


@dataclass(frozen=True)
class RunSpec:
    """One run of a scenario.

    Attributes:
        driver: ``"process"``, ``"open"`` or ``"open_pause"`` (see RunRecord).
        timeout: The run's deadline (``timeout=``).
        cleanup_timeout: The cleanup budget (``cleanup_timeout=``).
        cancel: ``("ticks", n)``: a canceller task cancels the run after ``n``
            ``sleep(0)``; ``("sleep", s)``: after sleeping ``s`` seconds.
        outer_timeout: Seconds of an ``asyncio.timeout()`` around the call.
        observed: Whether the run gets an observer.
        cleanup_grace: The run's ``cleanup_grace=`` (``None``: the default).
    """

    driver: str = "process"
    timeout: float | None = None
    cleanup_timeout: float | None = None
    cleanup_grace: float | None = None
    cancel: tuple[str, float] | None = None
    outer_timeout: float | None = None
    observed: bool = False


@dataclass(frozen=True)
class Scenario:
    """A processor and the runs to make of it, concurrently.

    Attributes:
        builder: ``"graph"`` or ``"level"``.
        tasks: The tasks, in declaration order.
        deps: Dependencies (graph builder).
        levels: Level of each task (level builder).
        runs: The runs.
    """

    builder: str
    tasks: tuple[TaskSpec, ...]
    deps: Mapping[Hashable, tuple[Hashable, ...]] = field(default_factory=dict)
    levels: Mapping[Hashable, int] = field(default_factory=dict)
    runs: tuple[RunSpec, ...] = (RunSpec(),)

    def model(self) -> GraphModel:
        """The checker's view of the processor."""
        if self.builder == "level":
            return GraphModel.of_levels((t.model(), self.levels[t.name]) for t in self.tasks)
        return GraphModel.of((t.model() for t in self.tasks), self.deps)


# -- the context object and the phase functions ---------------------------------


class Shared:
    """State of one scenario shared by its runs' phase functions: the log and the checks."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.live: dict[Any, tuple[int, Hashable, str]] = {}
        self.kept: dict[Any, tuple[int, Hashable, str]] = {}
        self.timeouts: dict[int, int] = {}
        self.serials: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def add(self, event: Event) -> None:
        self.events.append(event)

    def serial(self, task: object) -> str:
        """``task#N``: a number for each task object seen (ids may be reused, these not)."""
        if task is None:
            return "task#none"
        number = self.serials.get(task)
        if number is None:
            number = self.serials[task] = len(self.serials)
        return f"task#{number}"

    def anomaly(self, run: int, rule: str, detail: str) -> None:
        self.add(Event(run, "anomaly", info=f"{rule}: {detail}"))


class Ctx:
    """The context object of one run."""

    __slots__ = ("__weakref__", "attempts", "run_id", "run_task", "shared")

    def __init__(self, run_id: int, shared: Shared) -> None:
        self.run_id = run_id
        self.shared = shared
        self.attempts: dict[tuple[Hashable, str], int] = {}
        self.run_task: asyncio.Task[None] | None = None


class _Attempt:
    """Logging and isolation checks around one attempt of a phase function."""

    __slots__ = ("attempt", "ctx", "me", "own_cancel", "phase", "task", "task_obj")

    def __init__(self, ctx: Ctx, task: Hashable, phase: str, keep_task: bool) -> None:
        self.ctx = ctx
        self.task = task
        self.phase = phase
        self.own_cancel: asyncio.CancelledError | None = None
        key = (task, phase)
        self.attempt = ctx.attempts.get(key, 0)
        ctx.attempts[key] = self.attempt + 1
        shared = ctx.shared
        run = ctx.run_id
        self.me = me = (run, task, phase)
        current = asyncio.current_task()
        shared.add(Event(run, "start", task, phase, self.attempt, info=shared.serial(current)))
        seen_run = RUN_VAR.get()
        if seen_run != run:
            shared.anomaly(run, "isolation", f"{task!r} {phase} sees contextvars of run {seen_run}")
        seen_call = CALL_VAR.get()
        if seen_call is not None and seen_call != me:
            shared.anomaly(run, "isolation", f"{task!r} {phase} sees the context of {seen_call}")
        CALL_VAR.set(me)
        self.task_obj = current
        if current is None or current is ctx.run_task:
            shared.anomaly(run, "isolation", f"{task!r} {phase} runs as {current!r}")
        else:
            owner = shared.live.get(current)
            if owner is not None and owner != me:
                shared.anomaly(run, "isolation", f"{me} runs in the task of running call {owner}")
            kept = shared.kept.get(current)
            if kept is not None and kept != me:
                shared.anomaly(run, "isolation", f"{me} reuses the task kept by {kept}")
            shared.live[current] = me
            if keep_task:
                shared.kept[current] = me

    def suspend(self) -> None:
        self.ctx.shared.add(Event(self.ctx.run_id, "suspend", self.task, self.phase, self.attempt))

    def end(self, kind: str, exc: BaseException | None = None) -> None:
        shared = self.ctx.shared
        run = self.ctx.run_id
        current = asyncio.current_task()
        if current is not self.task_obj:
            shared.anomaly(run, "isolation", f"{self.me} began in one task and ended in another")
        if CALL_VAR.get() != self.me:
            shared.anomaly(run, "isolation", f"{self.me} lost its context: {CALL_VAR.get()}")
        if self.task_obj is not None and shared.live.get(self.task_obj) == self.me:
            del shared.live[self.task_obj]
        self.task_obj = None
        shared.add(Event(run, kind, self.task, self.phase, self.attempt, exc))

    def failed(self, exc: BaseException) -> None:
        if exc is self.own_cancel:
            self.end("raise", exc)  # a failure of the call, as any exception it raises
        elif isinstance(exc, asyncio.CancelledError):
            self.end("cancelled")
        elif isinstance(exc, GeneratorExit):
            self.end("closed")
        elif isinstance(exc, Exception):
            self.end("raise", exc)
        else:
            self.end("interrupt", exc)


def _label(att: _Attempt) -> str:
    return f"run {att.ctx.run_id} {att.task!r} {att.phase} attempt {att.attempt}"


async def _escape() -> None:
    raise KeyboardInterrupt("escaped from a task")


def _leave_task(att: _Attempt) -> None:
    att.ctx.shared.kept[asyncio.get_running_loop().create_task(asyncio.sleep(LONG))] = att.me


def _leave_timer(att: _Attempt) -> None:
    asyncio.get_running_loop().call_later(LONG, print)


def _warn(att: _Attempt) -> None:
    warnings.warn(f"{_label(att)} warns", RuntimeWarning, stacklevel=1)


def _loop_error(att: _Attempt) -> None:
    asyncio.get_running_loop().call_exception_handler({"message": f"{_label(att)} complains"})


def _leave_escaping_task(att: _Attempt) -> None:
    att.ctx.shared.kept[asyncio.get_running_loop().create_task(_escape())] = att.me


_MISBEHAVIOURS: dict[str, Callable[[_Attempt], None]] = {
    LEAVE_TASK: _leave_task,
    LEAVE_TIMER: _leave_timer,
    WARN: _warn,
    LOOP_ERROR: _loop_error,
    ESCAPE: _leave_escaping_task,
}


def _own_cancel(att: _Attempt) -> asyncio.CancelledError:
    """A ``CancelledError`` the phase function raises itself: nobody in the run asked for it.

    The engine must report this very object as the call's failure, and never let
    it reach the caller as if the caller had been cancelled.
    """
    att.own_cancel = asyncio.CancelledError(_label(att))
    return att.own_cancel


def _act_now(att: _Attempt, b: Behaviour) -> bool:
    """Do the part of the action that never suspends; True when the attempt is over."""
    action = b.action
    if action == OK_NOW:
        return True
    if action == RAISE_NOW:
        raise Boom(_label(att))
    if action == INTERRUPT_NOW:
        raise KeyboardInterrupt(_label(att))
    if action == SELF_CANCEL_NOW:
        raise _own_cancel(att)
    if action == CANCEL_RUN_NOW:
        ctx = att.ctx
        assert ctx.run_task is not None
        ctx.shared.add(Event(ctx.run_id, "cancel_inside", info=_label(att)))
        ctx.run_task.cancel()
        return True
    if action in _MISBEHAVIOURS:
        _MISBEHAVIOURS[action](att)
        return True
    if action == FLAKY:
        if att.attempt < b.fails:
            raise (Flaky if att.attempt % 2 == 0 else FlakyToo)(_label(att))
        return True
    return False


async def _act(att: _Attempt, b: Behaviour) -> None:
    if _act_now(att, b):
        return
    action = b.action
    att.suspend()
    if action == SUSPEND:
        await asyncio.sleep(0)
    elif action == SLEEP:
        await asyncio.sleep(b.delay)
    elif action == RAISE_AFTER_SUSPEND:
        await asyncio.sleep(0)
        raise Boom(_label(att))
    elif action == RAISE_AFTER_SLEEP:
        await asyncio.sleep(b.delay)
        raise Boom(_label(att))
    elif action in (TIMEOUT, HANG):
        await asyncio.sleep(LONG)
    elif action == FLAKY_TIMEOUT:
        await asyncio.sleep(LONG if att.attempt < b.fails else 0)
    elif action == INTERRUPT_AFTER_SUSPEND:
        await asyncio.sleep(0)
        raise KeyboardInterrupt(_label(att))
    elif action == SELF_CANCEL:
        await asyncio.sleep(0)
        raise _own_cancel(att)
    else:
        raise AssertionError(f"unknown action {action!r}")


def phase_function(task: Hashable, phase: str, b: Behaviour) -> TaskFunction[Ctx]:
    """The logging phase function of ``phase`` of ``task`` behaving as ``b``."""
    if b.kind == "sync":

        def sync_fn(ctx: Ctx) -> None:
            att = _Attempt(ctx, task, phase, b.keep_task)
            try:
                _act_now(att, b)
            except BaseException as exc:
                att.failed(exc)
                raise
            att.end("ok")

        return task_sync_func(sync_fn, retries=b.retries, initial_delay=0.0)

    if b.kind == "group":

        async def group_fn(ctx: Ctx, tg: SdaxTaskGroup) -> None:
            att = _Attempt(ctx, task, phase, b.keep_task)
            try:
                # No subtask: a task group with a subtask may still wait after this
                # function ended (so its end would not be the attempt's end), and
                # on Python 3.11 it swallows a cancellation that arrives then.
                assert isinstance(tg, SdaxTaskGroup)
                await _act(att, b)
            except BaseException as exc:
                att.failed(exc)
                raise
            att.end("ok")

        return task_group_func(group_fn, timeout=b.timeout, retries=b.retries, initial_delay=0.0)

    async def async_fn(ctx: Ctx) -> None:
        att = _Attempt(ctx, task, phase, b.keep_task)
        try:
            await _act(att, b)
        except BaseException as exc:
            att.failed(exc)
            raise
        att.end("ok")

    return task_func(async_fn, timeout=b.timeout, retries=b.retries, initial_delay=0.0)


def build(scenario: Scenario) -> AsyncDagTaskProcessor[Ctx, Any]:
    """Build the scenario's processor with its builder."""

    def declare(spec: TaskSpec) -> AsyncTask[Ctx, Any]:
        fns = {p: phase_function(spec.name, p, b) for p, b in spec.phases.items()}
        return AsyncTask(spec.name, fns.get(PRE), fns.get("exec"), fns.get(POST))

    if scenario.builder == "level":
        levels = AsyncTaskProcessor.builder()
        for spec in scenario.tasks:
            levels.add_task(declare(spec), scenario.levels[spec.name])
        return levels.build()
    graph = AsyncDagTaskProcessor.builder()
    for spec in scenario.tasks:
        graph.add_task(declare(spec), depends_on=tuple(scenario.deps.get(spec.name, ())))
    return graph.build()
