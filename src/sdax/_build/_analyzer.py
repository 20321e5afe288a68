"""The analyzer and its analysis (public in :mod:`sdax.sdax_task_analyser`).

``TaskAnalyzer`` collects tasks and dependencies; ``analyze()`` validates
them and returns the immutable ``TaskAnalysis`` with its two wave graphs.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from sdax._build._analysis import TaskTable
from sdax._build._declare import AsyncTask
from sdax._build._phases import describe_name
from sdax._build._plan import Plan

__all__ = [
    "ExecutionGraph",
    "ExecutionWave",
    "TaskAnalysis",
    "TaskAnalyzer",
]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_REPR_WAVES = 40  # waves shown per graph in repr()


@dataclass(frozen=True)
class ExecutionWave(Generic[K]):
    """A group of tasks that share their start condition.

    Attributes:
        wave_num: Index of this wave in its graph's ``waves``.
        tasks: The tasks of the wave (sorted when the names compare).
        depends_on_tasks: The tasks whose phase must finish before this wave's
            tasks may start (sorted when the names compare).
    """

    wave_num: int
    tasks: tuple[K, ...]
    depends_on_tasks: tuple[K, ...] = ()

    def __str__(self) -> str:
        names = ", ".join(describe_name(t) for t in self.tasks)
        deps = ", ".join(describe_name(t) for t in self.depends_on_tasks) or "nothing"
        return f"wave {self.wave_num}: [{names}] after [{deps}]"


@dataclass(frozen=True)
class ExecutionGraph(Generic[K]):
    """The waves of one phase, in order.

    Attributes:
        waves: The waves; ``waves[i].wave_num == i``.
    """

    waves: tuple[ExecutionWave[K], ...]

    @cached_property
    def _by_task(self) -> dict[K, ExecutionWave[K]]:
        return {name: wave for wave in self.waves for name in wave.tasks}

    def wave_containing(self, task_name: K) -> ExecutionWave[K] | None:
        """Return the wave holding ``task_name``, or ``None`` if no wave does."""
        return self._by_task.get(task_name)

    def __str__(self) -> str:
        lines = [f"{len(self.waves)} wave(s)"]
        lines.extend(f"  {wave}" for wave in self.waves)
        return "\n".join(lines)


class TaskAnalyzer(TaskTable[T, K]):
    """Collects tasks and dependencies, then analyzes them.

    Args:
        tasks: Tasks to start from, by name.
        dependencies: Their dependencies, by task name.
    """

    # The bookkeeping (how a million tasks are kept until analyze()) is
    # TaskTable's, in sdax._analysis; add_task() is its method.

    @property
    def tasks(self) -> dict[K, AsyncTask[T, K]]:
        """The tasks by name, in declaration order.

        The dict itself: changes made to it count in the next :meth:`analyze`.
        """
        return self._tasks_dict()

    @tasks.setter
    def tasks(self, value: dict[K, AsyncTask[T, K]]) -> None:
        self._set_tasks(value)

    @property
    def dependencies(self) -> dict[K, tuple[K, ...]]:
        """The declared dependencies of each task, by task name.

        The dict itself: changes made to it count in the next :meth:`analyze`.
        """
        return self._dependencies_dict()

    @dependencies.setter
    def dependencies(self, value: dict[K, tuple[K, ...]]) -> None:
        self._set_dependencies(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tasks={self.tasks!r}, dependencies={self.dependencies!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, TaskAnalyzer)
        return (self.tasks, self.dependencies) == (other.tasks, other.dependencies)

    __hash__ = None  # type: ignore[assignment]  # unhashable, as dict; typeshed wants a method

    def analyze(self) -> TaskAnalysis[T, K]:
        """Validate the graph and compute the plan.

        Returns:
            The immutable analysis.

        Raises:
            ValueError: A dependency names no task ("non-existent task"), or
                the dependencies form a cycle ("Cycle detected: A -> B -> A").
            TypeError: A dependency name is unhashable.
        """
        return TaskAnalysis(self._plan())


@dataclass(frozen=True, eq=False, repr=False)
class TaskAnalysis(Generic[T, K]):
    """The validated plan of a task graph. Immutable; safe to share.

    Attributes:
        plan: The integer form of the graph that runs use.
    """

    plan: Plan[K] = field(compare=False)

    @cached_property
    def tasks(self) -> dict[K, AsyncTask[T, K]]:
        """The tasks by name, in declaration order."""
        return dict(zip(self.plan.names, self.plan.declared, strict=True))

    @cached_property
    def dependencies(self) -> dict[K, tuple[K, ...]]:
        """The declared dependencies of each task, by task name, in declaration order."""
        return dict(zip(self.plan.names, self.plan.deps_of, strict=True))

    # -- wave graphs -----------------------------------------------------------

    @cached_property
    def pre_execute_graph(self) -> ExecutionGraph[K]:
        """Waves of ``pre_execute``: tasks grouped by identical effective prerequisites."""
        plan = self.plan
        waves = tuple(
            ExecutionWave(w, plan.sorted_names(members), plan.sorted_names(plan.pre_wave_deps(w)))
            for w, members in enumerate(plan.pre_wave_members())
        )
        return ExecutionGraph(waves)

    @cached_property
    def post_execute_graph(self) -> ExecutionGraph[K]:
        """Waves of ``post_execute``, by cleanup level (dependents first)."""
        plan = self.plan
        deps = plan.post_wave_deps()
        waves = tuple(
            ExecutionWave(w, plan.sorted_names(members), plan.sorted_names(deps[w]))
            for w, members in enumerate(plan.post_wave_members())
        )
        return ExecutionGraph(waves)

    def pre_wave_containing(self, task_name: K) -> ExecutionWave[K] | None:
        """The pre wave of ``task_name``, or ``None`` if it has no ``pre_execute``."""
        return self.pre_execute_graph.wave_containing(task_name)

    def post_wave_containing(self, task_name: K) -> ExecutionWave[K] | None:
        """The post wave of ``task_name``, or ``None`` if it has no ``post_execute``."""
        return self.post_execute_graph.wave_containing(task_name)

    # -- orders and name lists --------------------------------------------------

    def _names_with(self, phase: str) -> tuple[K, ...]:
        nodes = [i for i, t in enumerate(self.plan.declared) if getattr(t, phase) is not None]
        return self.plan.sorted_names(nodes)

    @cached_property
    def topological_order(self) -> tuple[K, ...]:
        """All task names, dependencies first (ties in declaration order)."""
        names = self.plan.names
        return tuple(names[v] for v in self.plan.order)

    @cached_property
    def pre_task_names(self) -> tuple[K, ...]:
        """Names of the tasks that have a ``pre_execute``."""
        return self._names_with("pre_execute")

    @cached_property
    def execute_task_names(self) -> tuple[K, ...]:
        """Names of the tasks that have an ``execute``."""
        return self._names_with("execute")

    @cached_property
    def post_task_names(self) -> tuple[K, ...]:
        """Names of the tasks that have a ``post_execute``."""
        return self._names_with("post_execute")

    @cached_property
    def post_only_task_names(self) -> tuple[K, ...]:
        """Names of the tasks with a ``post_execute`` but no ``pre_execute``."""
        nodes = [
            i
            for i, t in enumerate(self.plan.declared)
            if t.post_execute is not None and t.pre_execute is None
        ]
        return self.plan.sorted_names(nodes)

    # -- wave indexes (kept for code written against the reference) -------------

    @cached_property
    def wave_index_by_task(self) -> dict[K, int]:
        """Pre wave number of each task that has a ``pre_execute``."""
        return {t: w.wave_num for w in self.pre_execute_graph.waves for t in w.tasks}

    @cached_property
    def post_wave_index_by_task(self) -> dict[K, int]:
        """Post wave number of each task that has a ``post_execute``."""
        return {t: w.wave_num for w in self.post_execute_graph.waves for t in w.tasks}

    @staticmethod
    def _consumers(graph: ExecutionGraph[K]) -> dict[K, tuple[int, ...]]:
        out: dict[K, list[int]] = {}
        for wave in graph.waves:
            for dep in wave.depends_on_tasks:
                out.setdefault(dep, []).append(wave.wave_num)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def task_to_consumer_waves(self) -> dict[K, tuple[int, ...]]:
        """For each task, the pre waves that wait for it."""
        return self._consumers(self.pre_execute_graph)

    @cached_property
    def post_task_to_consumer_waves(self) -> dict[K, tuple[int, ...]]:
        """For each task, the post waves that wait for its cleanup."""
        return self._consumers(self.post_execute_graph)

    @cached_property
    def wave_dep_count(self) -> tuple[int, ...]:
        """Number of prerequisite tasks of each pre wave."""
        return tuple(len(w.depends_on_tasks) for w in self.pre_execute_graph.waves)

    @cached_property
    def post_wave_dep_count(self) -> tuple[int, ...]:
        """Number of dependent tasks each post wave waits for."""
        return tuple(len(w.depends_on_tasks) for w in self.post_execute_graph.waves)

    @property
    def pre_root_wave_id(self) -> int | None:
        """The pre wave with no prerequisites (0), or ``None`` without pre waves."""
        return 0 if self.plan.pre_wave_set else None

    @property
    def post_root_wave_id(self) -> int | None:
        """The first post wave (0), or ``None`` without post waves."""
        return 0 if self.plan.post_levels else None

    @property
    def max_pre_wave_num(self) -> int:
        """Number of pre waves."""
        return len(self.plan.pre_wave_set)

    @property
    def max_post_wave_num(self) -> int:
        """Number of post waves."""
        return int(self.plan.post_levels)

    # -- counts -----------------------------------------------------------------

    @property
    def total_tasks(self) -> int:
        """Number of tasks, join nodes included."""
        return len(self.plan.names)

    def _count(self, bit: int) -> int:
        return sum(1 for f in self.plan.flags if f & bit)

    @cached_property
    def tasks_with_pre_execute(self) -> int:
        """Number of tasks with a ``pre_execute``."""
        return self._count(1)

    @cached_property
    def tasks_with_execute(self) -> int:
        """Number of tasks with an ``execute``."""
        return self._count(2)

    @cached_property
    def tasks_with_post_execute(self) -> int:
        """Number of tasks with a ``post_execute``."""
        return self._count(4)

    @cached_property
    def nodes(self) -> int:
        """Number of tasks without any phase function (join nodes)."""
        return sum(1 for f in self.plan.flags if not f)

    def _summary(self) -> str:
        return (
            f"{self.total_tasks} tasks: {self.tasks_with_pre_execute} with pre_execute, "
            f"{self.tasks_with_execute} with execute, {self.tasks_with_post_execute} with "
            f"post_execute, {self.nodes} without functions"
        )

    def __repr__(self) -> str:
        lines = [f"TaskAnalysis({self._summary()})"]
        for title, graph in (
            ("pre_execute", self.pre_execute_graph),
            ("post_execute", self.post_execute_graph),
        ):
            lines.append(f"{title}: {len(graph.waves)} wave(s)")
            shown = graph.waves[:_REPR_WAVES]
            lines.extend(f"  {wave}" for wave in shown)
            if len(graph.waves) > len(shown):
                lines.append(f"  ... {len(graph.waves) - len(shown)} more")
        return "\n".join(lines)
