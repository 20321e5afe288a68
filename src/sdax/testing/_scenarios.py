"""Scenarios derived from a processor's plan, and the processor that injects them.

Every phase call (a task and one of its phases) gets one scenario per fault
kind that applies to it; then seeded random pairs of faults on two different
calls, up to a budget. A scenario's id is one line (``hang@pre:Database``,
``raise-start@pre:Auth + cancel@post:Database``) that selects it again.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sdax.sdax_core import AsyncDagTaskProcessor, AsyncTask, PhaseId, TaskFunction
from sdax.sdax_task_analyser import TaskAnalyzer
from sdax.testing._faults import KINDS, PHASE_NAMES, Attempt, Call, Fault, RunState

__all__ = ["BASELINE", "DEEP_KINDS", "PHASES", "Plan", "Scenario", "phase_ids"]

DEEP_KINDS = ("raise-suspend", "hang", "cancel", "retry-once")
"""The kinds that also strike at later suspensions of a call."""

PHASES: tuple[str, ...] = ("pre", "execute", "post")
"""The phase names ``phases=`` takes (as scenario ids write them)."""

BASELINE = "baseline"
"""The id of the scenario without faults."""

_FIELDS: dict[PhaseId, str] = {
    PhaseId.PRE_EXEC: "pre_execute",
    PhaseId.EXECUTE: "execute",
    PhaseId.POST_EXEC: "post_execute",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """The faults of one run (none for the baseline).

    A two-parameter check, ``check(ctx, scenario)``, gets the scenario that
    just ran, with each fault's :attr:`Fault.struck` set: it can then excuse
    exactly the work a fault undid (a release that was itself cut short).

    Attributes:
        faults: At most one fault per phase call, in the order of the id.
    """

    faults: tuple[Fault, ...] = ()

    @property
    def id(self) -> str:
        """The one-line id that selects this scenario again (``only=``)."""
        return " + ".join(f.id for f in self.faults) or BASELINE

    def struck(self, phase: str | PhaseId | None = None, task: Hashable = None) -> bool:
        """Whether a fault struck in the run (in ``phase``, of ``task``, when given).

        Args:
            phase: ``"pre"``, ``"execute"``, ``"post"`` or a :class:`PhaseId`;
                ``None``: any phase.
            task: A task's name; ``None``: any task.
        """
        wanted = None if phase is None else phase_ids([phase])[0]
        return any(
            f.struck and (wanted is None or f.phase is wanted) and (task is None or f.task == task)
            for f in self.faults
        )


def phase_ids(phases: Iterable[str | PhaseId]) -> tuple[PhaseId, ...]:
    """The phases named (``"pre"``, ``"execute"``, ``"post"``, or :class:`PhaseId` values).

    Raises:
        ValueError: A name that is not a phase.
    """
    by_name = {name: phase for phase, name in PHASE_NAMES.items()}
    out: list[PhaseId] = []
    for phase in [phases] if isinstance(phases, str) else phases:
        if isinstance(phase, PhaseId):
            out.append(phase)
        elif isinstance(phase, str) and phase.strip() in by_name:
            out.append(by_name[phase.strip()])
        else:
            raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    return tuple(out)


def _retryable_class(tf: TaskFunction[Any]) -> type[BaseException] | None:
    # The first retryable class that can be raised with a message.
    for cls in tf.retryable_exceptions:
        if not issubclass(cls, Exception):
            continue
        try:
            cls("probe")
        except Exception:
            continue
        return cls
    return None


class _Holder:
    """Points the wrapped functions at the scenario that is running."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: RunState | None = None


def _wrap(tf: TaskFunction[Any], call: Call, holder: _Holder) -> TaskFunction[Any]:
    fn: Any = tf.function
    if tf.has_task_group_argument:

        async def wrapped_group(ctx: Any, tg: Any) -> Any:
            assert holder.state is not None
            return await Attempt(holder.state, call, lambda: fn(ctx, tg))

        return dataclasses.replace(tf, function=wrapped_group)

    async def wrapped(ctx: Any) -> Any:
        assert holder.state is not None
        return await Attempt(holder.state, call, lambda: fn(ctx))

    return dataclasses.replace(tf, function=wrapped)


class Plan:
    """What the explorer knows of a processor: its calls and their order rules.

    Args:
        processor: The user's processor. It is not changed: :attr:`wrapped`
            is a new processor with the same tasks, dependencies and options
            whose phase functions are wrapped to inject faults.
    """

    def __init__(self, processor: AsyncDagTaskProcessor[Any, Any]) -> None:
        analysis = processor.analysis
        self.tasks: dict[Hashable, AsyncTask[Any, Any]] = dict(analysis.tasks)
        self.deps: dict[Hashable, tuple[Hashable, ...]] = dict(analysis.dependencies)
        self.order: tuple[Hashable, ...] = tuple(analysis.topological_order)
        self.functions: dict[Call, TaskFunction[Any]] = {}
        for name in self.order:
            task = self.tasks[name]
            for phase, attr in _FIELDS.items():
                tf = getattr(task, attr)
                if tf is not None:
                    self.functions[(name, phase)] = tf
        # Executor calls run in another thread or process: they are not wrapped.
        self.unwrapped: tuple[Call, ...] = tuple(
            c for c, tf in self.functions.items() if tf.executor is not None
        )
        self.pre_prereqs = {name: self._prereqs(name, "pre_execute") for name in self.order}
        self.post_after = self._post_after()
        self.holder = _Holder()
        self.wrapped = self._build_wrapped(processor)

    def has(self, name: Hashable, phase: PhaseId) -> bool:
        """Whether task ``name`` has a function for ``phase``."""
        return (name, phase) in self.functions

    def _prereqs(self, name: Hashable, attr: str) -> frozenset[Hashable]:
        # The effective prerequisites: through tasks that lack the phase.
        found: set[Hashable] = set()
        seen: set[Hashable] = set()
        stack = list(self.deps[name])
        while stack:
            dep = stack.pop()
            if dep in seen:
                continue
            seen.add(dep)
            if getattr(self.tasks[dep], attr) is not None:
                found.add(dep)
            else:
                stack.extend(self.deps[dep])
        return frozenset(found)

    def _post_after(self) -> dict[Hashable, frozenset[Hashable]]:
        """For each task with a post: the tasks with a post that depend on it."""
        dependents: dict[Hashable, list[Hashable]] = {n: [] for n in self.order}
        for name, deps in self.deps.items():
            for dep in deps:
                dependents[dep].append(name)
        out: dict[Hashable, frozenset[Hashable]] = {}
        for name in self.order:
            if not self.has(name, PhaseId.POST_EXEC):
                continue
            found: set[Hashable] = set()
            stack = list(dependents[name])
            while stack:
                other = stack.pop()
                if other in found:
                    continue
                found.add(other)
                stack.extend(dependents[other])
            out[name] = frozenset(o for o in found if self.has(o, PhaseId.POST_EXEC))
        return out

    def _build_wrapped(
        self, processor: AsyncDagTaskProcessor[Any, Any]
    ) -> AsyncDagTaskProcessor[Any, Any]:
        analyzer: TaskAnalyzer[Any, Any] = TaskAnalyzer()
        for name, task in self.tasks.items():
            fns: dict[str, TaskFunction[Any] | None] = {}
            for phase, attr in _FIELDS.items():
                tf = getattr(task, attr)
                call = (name, phase)
                if tf is not None and call not in self.unwrapped:
                    tf = _wrap(tf, call, self.holder)
                fns[attr] = tf
            analyzer.add_task(AsyncTask(name, **fns), self.deps[name])
        return AsyncDagTaskProcessor(
            analyzer.analyze(), processor.observers, processor.cleanup_grace
        )

    def single_faults(
        self,
        kinds: Iterable[str] = KINDS,
        suspensions: dict[Call, int] | None = None,
        depth: int = 3,
        phases: Iterable[str | PhaseId] = PHASES,
    ) -> list[Fault]:
        """One fault per applicable kind per wrapped phase call, in plan order.

        Args:
            kinds: The fault kinds wanted.
            suspensions: How many times each call waited in the baseline run:
                the kinds of :data:`DEEP_KINDS` then also strike at the 2nd,
                3rd, ... suspension, up to ``depth``.
            depth: The deepest suspension a fault strikes at.
            phases: The phases whose calls get faults.
        """
        wanted = set(kinds)
        unknown = wanted - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {list(KINDS)}")
        in_phases = set(phase_ids(phases))
        faults: list[Fault] = []
        for call, tf in self.functions.items():
            if call in self.unwrapped or call[1] not in in_phases:
                continue
            waits = min(depth, (suspensions or {}).get(call, 1))
            for kind in KINDS:
                if kind not in wanted:
                    continue
                if kind == "raise-start" and call[1] is PhaseId.POST_EXEC:
                    # A post that never runs can release nothing: that would
                    # only test the user's check. raise-suspend covers a
                    # failing post (and that the other posts still run).
                    continue
                retry_with = None
                if kind == "retry-once":
                    retry_with = _retryable_class(tf) if tf.retries > 0 else None
                    if retry_with is None:
                        continue
                last = waits if kind in DEEP_KINDS else 1
                faults.extend(
                    Fault(kind, call[0], call[1], retry_with, at=n) for n in range(1, last + 1)
                )
        return faults

    def scenarios(
        self,
        kinds: Iterable[str] = KINDS,
        pairs: int = 50,
        seed: int = 0,
        suspensions: dict[Call, int] | None = None,
        depth: int = 3,
        phases: Iterable[str | PhaseId] = PHASES,
    ) -> list[Scenario]:
        """Every single fault, then up to ``pairs`` random pairs (no baseline)."""
        singles = self.single_faults(kinds, suspensions, depth, phases)
        out = [Scenario((f,)) for f in singles]
        out.extend(_pairs(singles, pairs, seed))
        return out

    def find(self, ids: str | Iterable[str]) -> list[Scenario]:
        """The scenarios named by ``ids`` (as :attr:`Scenario.id` writes them).

        Raises:
            ValueError: An id names no fault of this processor.
        """
        if isinstance(ids, str):
            ids = [ids]
        by_id = {f.id: f for f in self.single_faults()}
        found: list[Scenario] = []
        for text in ids:
            text = text.strip()
            if text == BASELINE:
                found.append(Scenario())
                continue
            found.append(
                Scenario(tuple(self._fault(part.strip(), by_id) for part in text.split(" + ")))
            )
        return found

    @staticmethod
    def _fault(text: str, by_id: dict[str, Fault]) -> Fault:
        kind, sep, rest = text.partition("@")
        base, _, at = kind.partition("#")
        fault = by_id.get(f"{base}{sep}{rest}")
        if fault is not None and at.isdigit() and int(at) > 1 and base in DEEP_KINDS:
            return dataclasses.replace(fault, at=int(at))
        if fault is None or at:
            example = next(iter(by_id), "hang@pre:Task")
            raise ValueError(f"no fault {text!r} in this processor (ids look like {example!r})")
        return fault


def _pairs(singles: list[Fault], budget: int, seed: int) -> list[Scenario]:
    # Two faults on two different calls, drawn at random (seeded): the number
    # of pairs grows with the square of the number of calls.
    rng = random.Random(seed)
    index = {f: i for i, f in enumerate(singles)}
    chosen: dict[tuple[int, int], Scenario] = {}
    tries = 0
    while len(chosen) < budget and tries < budget * 20 and len(singles) >= 2:
        tries += 1
        a, b = rng.sample(singles, 2)
        if a.call == b.call:
            continue
        if index[a] > index[b]:
            a, b = b, a
        chosen.setdefault((index[a], index[b]), Scenario((a, b)))
    return list(chosen.values())
