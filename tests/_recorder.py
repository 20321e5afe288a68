"""Logging phase functions for the engine's behaviour tests.

Each test makes its own :class:`Recorder`; its phase functions append
``Entry(name, phase, event)`` records to ``recorder.log``, so a test can check
the order in which phases started and ended and how often each ran. Nothing
here is shared between tests.

Events:
    ``start``: the phase function was entered.
    ``end``: it returned normally.
    ``fail``: it raised (anything but a cancellation).
    ``cancel``: a ``CancelledError`` reached it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sdax import AsyncTask, TaskFunction, task_func

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
