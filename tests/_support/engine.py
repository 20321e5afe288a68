"""Helpers of the engine's behaviour tests: logging phase functions and guards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Hashable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, TaskFunction, task_func
from sdax.observe import RunObserver

HANG_GUARD = 10.0  # seconds; only ever reached when the engine hangs
T = TypeVar("T")

# -- the recorder ----------------------------------------------------------------

Phase = str  # "pre", "exec" or "post"
PhaseFn = Callable[[Any], Coroutine[Any, Any, None]]

PRE = "pre"
EXEC = "exec"
POST = "post"
PHASES = (PRE, EXEC, POST)


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the log."""

    name: Hashable
    phase: Phase
    event: str


class Recorder:
    """Builds phase functions that log what happens to them."""

    def __init__(self) -> None:
        self.log: list[Entry] = []

    # -- building phase functions ------------------------------------------------

    def fn(
        self,
        name: Hashable,
        phase: Phase,
        *,
        steps: int = 0,
        fail: BaseException | None = None,
        wait_for: asyncio.Event | None = None,
        then_set: asyncio.Event | None = None,
        before: Callable[[], None] | None = None,
    ) -> PhaseFn:
        """A phase function that logs its start and how it ended.

        Args:
            name: The task name to log.
            phase: The phase to log.
            steps: How many ``await asyncio.sleep(0)`` to make before finishing.
            fail: Raised at the end (after the steps and the wait) when given.
            wait_for: An event to wait for after the steps.
            then_set: An event to set just before finishing (or failing).
            before: A callback run right after logging the start.
        """

        async def phase_fn(ctx: Any) -> None:
            self.log.append(Entry(name, phase, "start"))
            if before is not None:
                before()
            try:
                for _ in range(steps):
                    await asyncio.sleep(0)
                if wait_for is not None:
                    await wait_for.wait()
                if then_set is not None:
                    then_set.set()
                if fail is not None:
                    raise fail
            except asyncio.CancelledError:
                self.log.append(Entry(name, phase, "cancel"))
                raise
            except BaseException:
                self.log.append(Entry(name, phase, "fail"))
                raise
            self.log.append(Entry(name, phase, "end"))

        return phase_fn

    def tf(self, name: Hashable, phase: Phase, **kwargs: Any) -> TaskFunction[Any]:
        """``task_func(self.fn(name, phase, **kwargs))``."""
        return task_func(self.fn(name, phase, **kwargs))

    def task(
        self,
        name: Hashable,
        phases: Iterable[Phase] = PHASES,
        **per_phase: dict[str, Any],
    ) -> AsyncTask[Any, Any]:
        """A task whose given phases are logging functions.

        Args:
            name: The task name.
            phases: Which of ``"pre"``, ``"exec"``, ``"post"`` it has.
            per_phase: Keyword arguments of :meth:`fn` for a phase, e.g.
                ``pre={"fail": ValueError()}``.
        """
        wanted = set(phases) | set(per_phase)
        funcs: dict[str, TaskFunction[Any] | None] = {}
        for phase in PHASES:
            funcs[phase] = (
                self.tf(name, phase, **per_phase.get(phase, {})) if phase in wanted else None
            )
        return AsyncTask(
            name, pre_execute=funcs[PRE], execute=funcs[EXEC], post_execute=funcs[POST]
        )

    # -- reading the log ---------------------------------------------------------

    def index(self, name: Hashable, phase: Phase, event: str) -> int:
        """Position of the only matching entry (fails when there are 0 or 2+)."""
        found = [
            i
            for i, e in enumerate(self.log)
            if e.name == name and e.phase == phase and e.event == event
        ]
        assert len(found) == 1, f"expected one {event} of {name!r} {phase}, got {found}"
        return found[0]

    def count(self, name: Hashable, phase: Phase, event: str = "start") -> int:
        """How many matching entries there are."""
        return sum(1 for e in self.log if e.name == name and e.phase == phase and e.event == event)

    def names(self, phase: Phase, event: str = "start") -> list[Hashable]:
        """The names of the matching entries, in log order."""
        return [e.name for e in self.log if e.phase == phase and e.event == event]

    def events(self, name: Hashable, phase: Phase) -> list[str]:
        """The events of one phase of one task, in order."""
        return [e.event for e in self.log if e.name == name and e.phase == phase]

    def before(
        self, first: tuple[Hashable, Phase, str], second: tuple[Hashable, Phase, str]
    ) -> bool:
        """Whether the one ``first`` entry comes before the one ``second`` entry."""
        return self.index(*first) < self.index(*second)


# -- building processors ---------------------------------------------------------

Node = AsyncTask[Any, Any] | tuple[AsyncTask[Any, Any], Sequence[Hashable]]


def build_dag(*nodes: Node) -> AsyncDagTaskProcessor[Any, Any]:
    """A processor of ``nodes``, added in the order given, then built.

    A node is a task with no dependencies, or ``(task, depends_on)`` (names, or
    one bare name, as ``add_task`` takes them)::

        build_dag(rec.task("A"), (rec.task("B"), ("A",)))

    is ``AsyncDagTaskProcessor.builder().add_task(rec.task("A"))``
    ``.add_task(rec.task("B"), depends_on=("A",)).build()``.
    """
    builder = AsyncDagTaskProcessor.builder()
    for node in nodes:
        if isinstance(node, tuple):
            task, depends_on = node
            builder.add_task(task, depends_on=depends_on)
        else:
            builder.add_task(node)
    return builder.build()


def pending_tasks() -> set[asyncio.Task[Any]]:
    """The unfinished tasks of the running loop."""
    return {t for t in asyncio.all_tasks() if not t.done()}


@contextmanager
def no_new_pending_tasks() -> Iterator[None]:
    """Fail when the block leaves a task pending that was not pending before it."""
    before = pending_tasks()
    yield
    left = pending_tasks() - before
    assert not left, f"tasks left pending: {left}"


# -- other helpers ---------------------------------------------------------------


class Trace:
    """An ordered log written from the loop and from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[str] = []

    def add(self, event: str) -> None:
        """Append ``event``."""
        with self._lock:
            self.events.append(event)

    def __contains__(self, event: str) -> bool:
        with self._lock:
            return event in self.events

    def index(self, event: str) -> int:
        """Position of ``event``, which must have happened exactly once."""
        with self._lock:
            assert self.events.count(event) == 1, f"{event!r} in {self.events}"
            return self.events.index(event)

    def in_order(self, *events: str) -> bool:
        """Whether ``events``, each logged exactly once, were logged in this order."""
        positions = [self.index(e) for e in events]
        return positions == sorted(positions)


async def guarded(awaitable: Awaitable[T], seconds: float = HANG_GUARD) -> T:
    """Await ``awaitable``; fail if it takes ``seconds`` or leaves a new task pending."""
    with no_new_pending_tasks():
        async with asyncio.timeout(seconds):
            return await awaitable


def assign(obj: object, attribute: str, value: object) -> None:
    """Plain attribute assignment, spelled so that type checkers let the test try it."""
    setattr(obj, attribute, value)


def leaf_types(error: BaseException) -> list[type[BaseException]]:
    """The types of the leaves of an ``SdaxExecutionError``."""
    assert isinstance(error, SdaxExecutionError)
    return [type(e) for e in error.leaf_exceptions()]


class Quiet(RunObserver):
    """An observer that does nothing: attaching it makes the run take the observed path."""


def retry_then_fail(
    first_error: Exception, failure: Exception, *observers: RunObserver
) -> AsyncDagTaskProcessor[object, Any]:
    """A run with a retry, a failure and a cleanup, for the observers' tests.

    ``db`` (pre and post) comes first; ``("flags", 1)`` has a pre that raises
    ``first_error`` and succeeds on its one retry; ``fetch`` has an execute that
    raises ``failure``. Every phase that succeeds suspends once first.
    """
    calls = 0

    async def ok(ctx: object) -> None:
        await asyncio.sleep(0)

    async def flaky(ctx: object) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise first_error

    async def bad(ctx: object) -> None:
        raise failure

    builder = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("db", pre_execute=task_func(ok), post_execute=task_func(ok)))
        .add_task(
            AsyncTask(("flags", 1), pre_execute=task_func(flaky, retries=1, initial_delay=0)),
            depends_on=("db",),
        )
        .add_task(AsyncTask("fetch", execute=task_func(bad)), depends_on=(("flags", 1),))
    )
    for observer in observers:
        builder.add_observer(observer)
    return builder.build()


class Interrupt(BaseException):
    """Not an Exception: the engine handles it like ``KeyboardInterrupt``."""
