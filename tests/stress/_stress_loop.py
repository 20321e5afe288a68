"""Runs a stress scenario on a watched event loop, with its drivers and cancellers.

``run_scenario()`` builds the processor, runs every run of the scenario
concurrently on a fresh :class:`WatchedLoop`, and returns what the checker
needs: the model, one :class:`RunRecord` per run and the loop findings.

The loop is watched, not faked: it wraps every timer callback so that the log
records the moment the engine's deadline or cleanup-budget timer (and an
``asyncio.timeout()`` around a run) fires, and so that timers still live at
the end can be found. It recognises the engine's timers by their bound
methods (``Run._expire_deadline``, ``Run._expire_budget``); if those are
renamed, ``test_watched_loop_sees_the_engine_timers`` fails and says so.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _stress_harness import HANG_GUARD, RUN_VAR, Ctx, RunSpec, Scenario, Shared, build
from _stress_log import Event, GraphModel, LoopFindings, RunRecord

from sdax import AsyncDagTaskProcessor
from sdax._engine import LAZY_START
from sdax.observe import RunInfo, RunObserver

_ENGINE_TIMERS = {"_expire_deadline": "deadline", "_expire_budget": "budget"}


class _Timer:
    """A timer callback wrapper: notes that it ran, and logs the timers that matter."""

    __slots__ = ("callback", "handle", "loop", "ran")

    def __init__(self, loop: WatchedLoop, callback: Callable[..., object]) -> None:
        self.loop = loop
        self.callback = callback
        self.ran = False
        self.handle: asyncio.TimerHandle | None = None

    def __call__(self, *args: object) -> None:
        self.ran = True
        self.loop.fired(self.callback)
        self.callback(*args)

    def __repr__(self) -> str:
        return f"<timer {self.callback!r}>"


class WatchedLoop(asyncio.SelectorEventLoop):
    """An event loop that logs the engine's deadline/budget timers and keeps all timers."""

    def __init__(self, shared: Shared) -> None:
        super().__init__()
        self.shared = shared
        self.timers: list[_Timer] = []

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        timer = _Timer(self, callback)
        handle = super().call_at(when, timer, *args, context=context)
        timer.handle = handle
        self.timers.append(timer)
        return handle

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        # asyncio.timeout() uses call_soon instead of call_at when its deadline has
        # already passed on entry (a long GC pause can do that).
        if getattr(callback, "__name__", "") == "_on_timeout":
            callback = _Timer(self, callback)
        return super().call_soon(callback, *args, context=context)

    def fired(self, callback: Callable[..., object]) -> None:
        owner = getattr(callback, "__self__", None)
        name = getattr(callback, "__name__", "")
        if name in _ENGINE_TIMERS:
            ctx = getattr(owner, "ctx", None)
            if isinstance(ctx, Ctx):
                self.shared.add(Event(ctx.run_id, _ENGINE_TIMERS[name]))
        elif name == "_on_timeout" and isinstance(owner, asyncio.Timeout):
            run = self.shared.timeouts.get(id(owner))
            if run is not None:
                self.shared.add(Event(run, "cancel", info="timeout_cm"))

    def live_timers(self) -> list[str]:
        return [
            repr(t)
            for t in self.timers
            if not t.ran and t.handle is not None and not t.handle.cancelled()
        ]


class _FinishObserver(RunObserver):
    """Records the error of each ``run_finished`` call."""

    def __init__(self) -> None:
        self.errors: list[BaseException | None] = []

    def run_finished(self, run: RunInfo, error: BaseException | None, time: float) -> None:
        self.errors.append(error)


@dataclass
class _RunState:
    spec: RunSpec
    ctx: Ctx
    observer: _FinishObserver | None
    outcome: BaseException | None = None
    started: bool = False
    task: asyncio.Task[None] | None = None


async def _call_engine(processor: AsyncDagTaskProcessor[Ctx, Any], state: _RunState) -> None:
    spec = state.spec
    ctx = state.ctx
    options: dict[str, Any] = {
        "timeout": spec.timeout,
        "cleanup_timeout": spec.cleanup_timeout,
        "observer": state.observer,
    }
    if spec.cleanup_grace is not None:
        options["cleanup_grace"] = spec.cleanup_grace
    if spec.driver == "process":
        await processor.process_tasks(ctx, **options)
        return
    runner = processor.open(ctx, **options)
    async with runner:
        while await runner.run_next():
            if spec.driver == "open_pause":
                await asyncio.sleep(0)


async def _drive(processor: AsyncDagTaskProcessor[Ctx, Any], state: _RunState) -> None:
    ctx = state.ctx
    shared = ctx.shared
    RUN_VAR.set(ctx.run_id)
    state.started = True
    try:
        if state.spec.outer_timeout is not None:
            cm = asyncio.timeout(state.spec.outer_timeout)
            shared.timeouts[id(cm)] = ctx.run_id
            shared.add(Event(ctx.run_id, "driver_start"))
            async with cm:
                await _call_engine(processor, state)
        else:
            shared.add(Event(ctx.run_id, "driver_start"))
            await _call_engine(processor, state)
    except BaseException as exc:
        state.outcome = exc
    shared.add(Event(ctx.run_id, "driver_end"))


async def _cancel_later(state: _RunState, how: tuple[str, float]) -> None:
    kind, value = how
    if kind == "ticks":
        for _ in range(int(value)):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(value)
    task = state.task
    if task is not None and not task.done():
        state.ctx.shared.add(Event(state.ctx.run_id, "cancel", info="outside"))
        task.cancel()


async def _main(
    processor: AsyncDagTaskProcessor[Ctx, Any], states: list[_RunState], findings: LoopFindings
) -> None:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    before = {t for t in asyncio.all_tasks() if t is not me}
    runs: list[asyncio.Task[None]] = []
    for state in states:
        state.task = loop.create_task(_drive(processor, state))
        state.ctx.run_task = state.task
        runs.append(state.task)
    cancellers = [
        loop.create_task(_cancel_later(s, s.spec.cancel)) for s in states if s.spec.cancel
    ]
    _, pending = await asyncio.wait(runs, timeout=HANG_GUARD)
    if pending:
        findings.hung.extend(s.ctx.run_id for s in states if s.task in pending)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1.0)
    for task in cancellers:
        task.cancel()
    if cancellers:
        await asyncio.wait(cancellers)
    left = {t for t in asyncio.all_tasks() if t is not me and not t.done()} - before
    findings.pending.extend(repr(t) for t in left)


@dataclass
class ScenarioResult:
    """What happened when a scenario ran."""

    model: GraphModel
    records: list[RunRecord]
    findings: LoopFindings
    seconds: float
    cpu_seconds: float = 0.0
    gc_seconds: float = 0.0


def run_scenario(scenario: Scenario) -> ScenarioResult:
    """Run every run of ``scenario`` concurrently on a fresh watched loop."""
    gc_time = _GcClock()
    gc.callbacks.append(gc_time)
    try:
        result = _run_scenario(scenario)
    finally:
        gc.callbacks.remove(gc_time)
    result.gc_seconds = gc_time.total
    return result


class _GcClock:
    """A ``gc.callbacks`` entry that adds up the time spent in the cyclic collector."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


# The public asyncio path without eager tasks (3.11): a call's task starts late.
LATE_TASKS = LAZY_START


def _run_scenario(scenario: Scenario) -> ScenarioResult:
    started = time.perf_counter()
    cpu_started = time.process_time()
    model = scenario.model()
    processor = build(scenario)
    shared = Shared()
    findings = LoopFindings()
    states = [
        _RunState(spec, Ctx(i, shared), _FinishObserver() if spec.observed else None)
        for i, spec in enumerate(scenario.runs)
    ]
    loop = WatchedLoop(shared)

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        findings.loop_errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(on_error)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loop.run_until_complete(_main(processor, states, findings))
        except BaseException as exc:
            findings.escaped = repr(exc)
        if not findings.hung and findings.escaped is None:
            loop.run_until_complete(loop.shutdown_asyncgens())
            findings.live_timers.extend(loop.live_timers())
        loop.close()
    findings.warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    records = []
    numbered = list(enumerate(shared.events))
    for state in states:
        run = state.ctx.run_id
        outcome = state.outcome
        if not state.started and state.task is not None and state.task.cancelled():
            outcome = asyncio.CancelledError()
        records.append(
            RunRecord(
                run,
                [(seq, ev) for seq, ev in numbered if ev.run == run],
                outcome,
                state.spec.driver,
                state.started,
                None if state.observer is None else state.observer.errors,
                state.spec.cleanup_timeout is None and state.spec.cleanup_grace != math.inf,
            )
        )
    return ScenarioResult(
        model,
        records,
        findings,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )
