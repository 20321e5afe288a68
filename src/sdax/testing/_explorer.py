"""``explore()``: run a processor once per fault scenario and report what broke.

Each scenario runs on a fresh event loop of asyncio's own class, whatever
event loop policy is installed (uvloop's too). With ``looptime`` installed
(``pip install "sdax[testing]"``) the loop's clock is virtual: retry delays,
timeouts and deadlines pass at once, while the order of events stays what
real time would give. Without it, or when looptime cannot drive the loop,
the scenarios run in real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TextIO

from sdax.observe import PhaseEvent, RunInfo, RunObserver
from sdax.report import RunReport, RunTimeline
from sdax.sdax_core import AsyncDagTaskProcessor, PhaseId
from sdax.testing._checks import check_promises, describe
from sdax.testing._faults import KINDS, PHASE_NAMES, RunState, task_label
from sdax.testing._report import ExploreResult, Finding, plural
from sdax.testing._scenarios import BASELINE, PHASES, Plan, Scenario, phase_ids

__all__ = ["explore", "explore_async", "have_virtual_time"]

HANG_DEADLINE = 30.0
"""Default deadline (seconds) a ``hang`` gets when its call has no timeout."""

REAL_TIME_HANG_DEADLINE = 0.1
"""The same, when loop time is real (no ``looptime``)."""

CheckFn = Callable[..., "bool | Awaitable[bool | None] | None"]
"""``check(ctx)`` or ``check(ctx, scenario)``, sync or async."""


def have_virtual_time() -> bool:
    """Whether ``looptime`` is installed (virtual time available)."""
    return importlib.util.find_spec("looptime") is not None


def _plain_loop() -> asyncio.AbstractEventLoop:
    # asyncio's own loop class, whatever event loop policy is installed: a
    # global uvloop policy (uvloop.install()) must not decide what the
    # explorer runs on, and looptime can patch only asyncio's own loops.
    cls: Callable[[], asyncio.AbstractEventLoop] = (
        getattr(asyncio, "EventLoop", None) or asyncio.SelectorEventLoop
    )
    return cls()


def _virtual_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """Makes asyncio loops patched by looptime; raises if looptime cannot drive one."""
    # Imported by name: looptime is optional (sdax[testing]), and type
    # checkers must not depend on whether it is installed.
    looptime: Any = importlib.import_module("looptime")

    def new_loop() -> asyncio.AbstractEventLoop:
        loop = _plain_loop()
        try:
            # The loop's class becomes looptime's subclass of it, its virtual
            # clock on from the start (looptime's default outside its plugin).
            patched: asyncio.AbstractEventLoop = looptime.patch_event_loop(loop)
        except BaseException:
            loop.close()  # never a half-made loop left to the garbage collector
            raise
        return patched

    probe = new_loop()  # one loop made and run: proof that looptime drives it
    try:
        probe.run_until_complete(asyncio.sleep(0))
    finally:
        probe.close()
    return new_loop


class _Watch(RunObserver):
    """Writes what sdax reports about each call into the trace."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def _add(self, what: str, event: PhaseEvent, detail: str = "") -> None:
        self.state.add("sdax", what, (event.task, event.phase), event.attempt, event.error, detail)

    def phase_started(self, event: PhaseEvent) -> None:
        self._add("started", event)

    def phase_finished(self, event: PhaseEvent) -> None:
        self._add("finished", event)

    def phase_failed(self, event: PhaseEvent) -> None:
        if not event.will_retry:
            self._add("failed", event)

    def phase_retrying(self, event: PhaseEvent) -> None:
        self._add("retry", event, f"in {event.delay or 0:.3f}s")

    def phase_cancelled(self, event: PhaseEvent) -> None:
        self._add("cancelled", event)


class _WatchAndRecord(_Watch):
    """:class:`_Watch` that also records the run's timeline into a RunReport.

    Only the runs whose pictures are shown (one per cause, run again) get
    it: exploring itself records no timelines. sdax stamps events with the
    wall clock; the report gets them stamped with the loop's clock instead,
    so that under virtual time a 30 s hang is drawn 30 s long, as the
    finding's trace tells it.
    """

    def __init__(self, state: RunState, report: RunReport) -> None:
        super().__init__(state)
        self.report = report
        self.loop = state.loop
        self.run: RunInfo | None = None
        self.starts: dict[tuple[Hashable, PhaseId, int], float] = {}

    def _retimed(self, event: PhaseEvent, start: bool = False) -> PhaseEvent:
        now = self.loop.time()
        key = (event.task, event.phase, event.attempt)
        if start:
            self.starts[key] = now
        # An end whose attempt never began (cancelled in a retry pause) starts now.
        started = self.starts.get(key, now)
        return PhaseEvent(
            self.run or event.run,
            event.task,
            event.phase,
            event.attempt,
            now,
            started,
            event.error,
            event.will_retry,
            event.delay,
        )

    def run_started(self, run: RunInfo) -> None:
        self.run = dataclasses.replace(run, started=self.loop.time())
        self.report.run_started(self.run)

    def run_finished(self, run: RunInfo, error: BaseException | None, time: float) -> None:
        self.report.run_finished(self.run or run, error, self.loop.time())

    def phase_started(self, event: PhaseEvent) -> None:
        super().phase_started(event)
        self.report.phase_started(self._retimed(event, start=True))

    def phase_finished(self, event: PhaseEvent) -> None:
        super().phase_finished(event)
        self.report.phase_finished(self._retimed(event))

    def phase_failed(self, event: PhaseEvent) -> None:
        super().phase_failed(event)
        self.report.phase_failed(self._retimed(event))

    def phase_retrying(self, event: PhaseEvent) -> None:
        super().phase_retrying(event)
        self.report.phase_retrying(self._retimed(event))

    def phase_cancelled(self, event: PhaseEvent) -> None:
        super().phase_cancelled(event)
        self.report.phase_cancelled(self._retimed(event))


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def _open_ctx(make_ctx: Callable[[], Any]) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """Call the factory; a generator factory yields the context and cleans up after."""

    async def nothing() -> None:
        return None

    if inspect.isasyncgenfunction(make_ctx):
        agen = make_ctx()
        ctx = await agen.__anext__()

        async def close_async() -> None:
            try:
                await agen.__anext__()
            except StopAsyncIteration:
                return
            await agen.aclose()
            raise RuntimeError("make_ctx must yield exactly once")

        return ctx, close_async
    if inspect.isgeneratorfunction(make_ctx):
        gen = make_ctx()
        ctx = next(gen)

        async def close_sync() -> None:
            try:
                next(gen)
            except StopIteration:
                return
            gen.close()
            raise RuntimeError("make_ctx must yield exactly once")

        return ctx, close_sync
    return await _maybe_await(make_ctx()), nothing


def _wants_scenario(check: CheckFn | None) -> bool:
    """Whether ``check`` takes the scenario too (it accepts two positional arguments)."""
    if check is None:
        return False
    try:
        inspect.signature(check).bind(None, None)
    except (TypeError, ValueError):  # ValueError: no signature to read (a builtin)
        return False
    return True


async def _user_check(check: CheckFn | None, ctx: Any, scenario: Scenario | None) -> str | None:
    # ``scenario`` is None for a one-parameter check.
    if check is None:
        return None
    label = "check(ctx)" if scenario is None else "check(ctx, scenario)"
    try:
        verdict = await _maybe_await(check(ctx) if scenario is None else check(ctx, scenario))
    except AssertionError as exc:
        return f"{label} failed: {exc}" if str(exc) else f"{label} failed"
    except Exception as exc:
        return f"{label} raised {type(exc).__name__}: {exc}"
    if verdict is False:
        return f"{label} returned False"
    return None


def _as_run(scenario: Scenario, state: RunState) -> Scenario:
    """The scenario as it ran: each fault says whether it struck."""
    faults = tuple(dataclasses.replace(f, struck=f in state.reached) for f in scenario.faults)
    return Scenario(faults)


def _run_options(
    plan: Plan, scenario: Scenario, base: dict[str, Any], hang_deadline: float
) -> dict[str, Any]:
    # A hang lasts until the call's own timeout; without one, until the run's
    # deadline (pre, execute) or cleanup budget (post), which the scenario
    # sets when the caller's options have none.
    options = dict(base)
    for fault in scenario.faults:
        if fault.kind != "hang" or plan.functions[fault.call].timeout is not None:
            continue
        key = "cleanup_timeout" if fault.phase is PhaseId.POST_EXEC else "timeout"
        if options.get(key) is None:
            options[key] = hang_deadline
    return options


async def _run_one(
    plan: Plan,
    scenario: Scenario,
    make_ctx: Callable[[], Any],
    check: CheckFn | None,
    base_options: dict[str, Any],
    hang_deadline: float,
    max_time: float,
    virtual: bool,
    with_scenario: bool,
    report: RunReport | None = None,
) -> tuple[list[str], str, RunState]:
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context["message"]))
    ctx, close_ctx = await _open_ctx(make_ctx)
    state = RunState({f.call: f for f in scenario.faults}, loop)
    plan.holder.state = state
    options = _run_options(plan, scenario, base_options, hang_deadline)
    before = asyncio.all_tasks()
    watch = _Watch(state) if report is None else _WatchAndRecord(state, report)

    async def guarded() -> BaseException | None:
        try:
            await plan.wrapped.process_tasks(ctx, observer=watch, **options)
        except BaseException as exc:  # everything that reaches the caller, interrupts too
            return exc
        return None

    broken: list[str] = []
    run = loop.create_task(guarded())
    state.run_task = run
    done, _ = await asyncio.wait({run}, timeout=max_time)
    if not done:
        broken.append(f"the run had not finished after {max_time:g} s of loop time")
        run.cancel()
        await asyncio.wait({run}, timeout=1.0)
    outcome = run.result() if run.done() and not run.cancelled() else None
    state.add("explorer", "run-ended", detail=f"the caller got {describe(outcome)}")
    if done:
        bound = (
            options.get("cleanup_grace", plan.wrapped.cleanup_grace),
            options.get("cleanup_timeout"),
        )
        broken += check_promises(plan, state, outcome, options.get("timeout"), virtual, *bound)
    for _ in range(3):  # let callbacks the run scheduled last run out
        await asyncio.sleep(0)
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not current and t is not run]
    if left:
        broken.append(f"{len(left)} task(s) left pending on the loop: {left[0]!r}")
    broken.extend(f"the event loop reported: {message}" for message in loop_errors)
    verdict = await _user_check(check, ctx, _as_run(scenario, state) if with_scenario else None)
    if verdict is not None:
        broken.append(verdict)
    plan.holder.state = None
    await close_ctx()
    return broken, describe(outcome), state


class _Progress:
    """A one-line progress bar on a terminal stream."""

    def __init__(self, total: int, out: TextIO | None) -> None:
        self.total = total
        self.out = out

    def show(self, done: int, broken: int) -> None:
        if self.out is None:
            return
        width = 30
        filled = width * done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self.out.write(
            f"\rsdax explore [{bar}] {done}/{plural(self.total, 'scenario')}, {broken} broken"
        )
        if done == self.total:
            self.out.write("\n")
        self.out.flush()


def explore(
    processor: AsyncDagTaskProcessor[Any, Any],
    make_ctx: Callable[[], Any],
    check: CheckFn | None = None,
    *,
    only: str | Iterable[str] | None = None,
    kinds: Iterable[str] = KINDS,
    phases: Iterable[str | PhaseId] = PHASES,
    pairs: int = 50,
    seed: int = 0,
    depth: int = 3,
    run_options: dict[str, Any] | None = None,
    hang_deadline: float | None = None,
    max_time: float | None = None,
    virtual_time: bool | None = None,
    progress: bool | None = None,
    timelines: bool = False,
) -> ExploreResult:
    """Run ``processor`` once per fault scenario; report every broken rule.

    The scenarios are the baseline (no fault), one per fault kind and phase
    call, and up to ``pairs`` seeded random pairs of faults. Each runs a new
    context from ``make_ctx`` on a fresh event loop of asyncio's own class
    (whatever event loop policy is installed: uvloop's too), then checks
    sdax's promises and ``check(ctx)``.

    Args:
        processor: The processor to explore (it is not changed).
        make_ctx: Makes one context per scenario: a function or async
            function returning it, or a (async) generator function that
            yields it once and cleans up after the checks.
        check: ``check(ctx)`` after each run (sync or async): raise
            AssertionError or return False when an invariant of yours broke.
            A check that accepts two positional arguments is called as
            ``check(ctx, scenario)`` with the :class:`Scenario` that ran,
            each fault saying whether it struck (:attr:`Fault.struck`).
        only: Scenario id(s) to run instead of all (see
            :attr:`Finding.scenario`).
        kinds: Fault kinds to use (default: all of :data:`KINDS`).
        phases: The phases whose calls get faults: ``"pre"``,
            ``"execute"``, ``"post"`` (or :class:`~sdax.PhaseId` values);
            default all three. ``only`` ignores it.
        pairs: How many two-fault scenarios at most.
        seed: Seed of the random pairs.
        depth: ``raise-suspend``, ``hang``, ``cancel`` and ``retry-once``
            strike at each of the first ``depth`` suspensions a call had in
            the baseline run.
        run_options: Keyword arguments for every ``process_tasks`` call
            (``timeout``, ``cleanup_timeout``, ``cleanup_grace``, ...).
        hang_deadline: Deadline a ``hang`` gets when neither its call nor
            ``run_options`` bound it (default 30 s; 0.1 s in real time).
        max_time: Loop seconds after which a run that has not ended counts
            as hung, a broken rule (default 600 s; 30 s in real time).
        virtual_time: ``None``: virtual time if ``looptime`` is installed
            and no call runs in an executor; ``True``: require it; ``False``:
            real time. A virtual clock does not wait for threads that
            ``loop.run_in_executor`` did not start (see docs/testing.md).
            When looptime cannot drive asyncio's loop, ``None`` falls back
            to real time and the result's notes say why.
        progress: Show a progress bar on stderr: ``None`` when stderr is a
            terminal and there are more than 20 scenarios.
        timelines: Record the timeline of the scenario each cause shows
            (:attr:`Cause.example`), for :meth:`ExploreResult.write_html` and
            :meth:`ExploreResult.write_trace`. The exploration records none:
            at its end each shown scenario runs once more, as ``only=`` would
            run it, with a :class:`~sdax.report.RunReport` attached
            (:attr:`ExploreResult.timelines`).

    Returns:
        The result: scenarios run, findings, report.

    Raises:
        RuntimeError: Called from a running event loop (use
            :func:`explore_async`), or ``virtual_time=True`` without looptime
            (or with a looptime that cannot drive asyncio's loop).
        ValueError: ``only`` names no scenario of this processor, or
            ``kinds`` or ``phases`` names something unknown.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "explore() runs its own event loops; from async code use "
            "`await sdax.testing.explore_async(...)`"
        )
    notes: list[str] = []
    available = have_virtual_time()
    if virtual_time and not available:
        raise RuntimeError('virtual_time=True needs looptime: pip install "sdax[testing]"')
    wanted_phases = phase_ids(phases)
    plan = Plan(processor)
    virtual = available if virtual_time is None else virtual_time
    if plan.unwrapped:
        names = ", ".join(f"{PHASE_NAMES[p]} of {task_label(t)}" for t, p in plan.unwrapped)
        notes.append(f"executor calls get no faults (they run in another thread): {names}")
        if virtual and virtual_time is None:
            # A virtual clock does not wait for work in executor threads: it
            # could jump to the next timer while that work runs.
            virtual = False
            notes.append("real time was used: the processor has executor calls")
    if not virtual and virtual_time is None and not available:
        notes.append(
            'looptime is not installed (pip install "sdax[testing]"): scenarios ran in '
            "real time, so timeouts, deadlines and retry delays were really waited for"
        )
    factory: Callable[[], asyncio.AbstractEventLoop] = _plain_loop
    if virtual:
        try:
            factory = _virtual_loop_factory()
        except Exception as exc:
            if virtual_time:
                raise RuntimeError(
                    f"virtual_time=True: looptime cannot drive a loop: {exc!r}"
                ) from exc
            virtual = False
            notes.append(
                f"real time was used: looptime could not drive asyncio's event loop ({exc!r})"
            )
    if hang_deadline is None:
        hang_deadline = HANG_DEADLINE if virtual else REAL_TIME_HANG_DEADLINE
    if max_time is None:
        max_time = 600.0 if virtual else 30.0
    with_scenario = _wants_scenario(check)
    findings: list[Finding] = []
    not_reached: list[str] = []
    started = time.perf_counter()
    base = dict(run_options or {})

    def run_once(
        scenario: Scenario, report: RunReport | None = None
    ) -> tuple[list[str], str, RunState]:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(
                _run_one(
                    plan,
                    scenario,
                    make_ctx,
                    check,
                    base,
                    hang_deadline,
                    max_time,
                    virtual,
                    with_scenario,
                    report,
                )
            )

    def run(scenario: Scenario) -> RunState:
        broken, outcome, state = run_once(scenario)
        if any(f not in state.reached for f in scenario.faults):
            not_reached.append(scenario.id)
        if broken:
            findings.append(Finding(scenario.id, tuple(broken), outcome, tuple(state.events)))
        return state

    if only is not None:
        scenarios = plan.find(only)
    else:
        # The baseline first: how often each call waits there tells how deep
        # into a call the faults that strike at a suspension can go.
        baseline = run(Scenario())
        scenarios = plan.scenarios(kinds, pairs, seed, baseline.suspensions, depth, wanted_phases)
    total = len(scenarios) + (only is None)
    show = progress if progress is not None else (sys.stderr.isatty() and total > 20)
    bar = _Progress(total, sys.stderr if show else None)
    for number, scenario in enumerate(scenarios, total - len(scenarios) + 1):
        run(scenario)
        bar.show(number, len(findings))
    result = ExploreResult(
        scenarios_run=total,
        findings=tuple(findings),
        not_reached=tuple(not_reached),
        virtual_time=virtual,
        notes=tuple(notes),
    )
    recorded: dict[str, RunTimeline] = {}
    if timelines and findings:
        by_id = {s.id: s for s in scenarios}
        by_id.setdefault(BASELINE, Scenario())
        for cause in result.causes:
            shown = cause.example.scenario
            timeline = _replay(run_once, by_id[shown])
            if timeline is not None:
                recorded[shown] = timeline
    return dataclasses.replace(result, seconds=time.perf_counter() - started, timelines=recorded)


def _replay(
    run_once: Callable[[Scenario, RunReport], object], scenario: Scenario
) -> RunTimeline | None:
    """Run ``scenario`` again with a RunReport attached; its timeline.

    ``None`` when the run never ended (a run cut at ``max_time`` whose
    cancellation did not finish either).
    """
    report = RunReport(max_runs=1)
    run_once(scenario, report)
    try:
        return report.last
    except LookupError:
        return None


async def explore_async(
    processor: AsyncDagTaskProcessor[Any, Any],
    make_ctx: Callable[[], Any],
    check: CheckFn | None = None,
    **options: Any,
) -> ExploreResult:
    """:func:`explore` for async code: runs it in a worker thread and awaits it.

    The scenarios still run on their own event loops (in that thread), never
    on the caller's loop. Keyword arguments are those of :func:`explore`.
    """
    return await asyncio.to_thread(explore, processor, make_ctx, check, **options)
