"""The analyzer's bookkeeping: collecting up to millions of tasks, then a Plan.

:class:`TaskTable` is what :class:`sdax.sdax_task_analyser.TaskAnalyzer` is
made of: it checks each task as it is added, keeps the tasks and their
dependencies in the cheapest form for a big graph, and hands them to
:class:`~sdax._build._plan.Plan`. The checks of a task's shape live here too, for
both builders.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Generic, Self, TypeVar

from sdax._build._declare import AsyncTask, TaskFunction
from sdax._build._plan import Plan

__all__ = ["TaskTable", "check_task", "depends_on"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_PHASES = ("pre_execute", "execute", "post_execute")


def _plain_phases(task: AsyncTask[Any, Any]) -> bool:
    """Whether each phase of ``task`` has the shape nearly every phase has.

    That is nothing, or a TaskFunction (not a subclass) of a callable;
    anything else gets the full check. One expression, not a loop over the
    phases: add_task() runs it for each of up to a million tasks.
    """
    tf = TaskFunction
    pre, exe, post = task.pre_execute, task.execute, task.post_execute
    return (
        (pre is None or (type(pre) is tf and callable(pre.function)))
        and (exe is None or (type(exe) is tf and callable(exe.function)))
        and (post is None or (type(post) is tf and callable(post.function)))
    )


def _check_phase(task: AsyncTask[Any, Any], phase: str) -> None:
    tf = getattr(task, phase)
    if not isinstance(tf, TaskFunction):
        raise TypeError(
            f"Task {task.name!r}: {phase} must be a TaskFunction (see task_func()), got {tf!r}"
        )
    if not callable(tf.function):
        raise TypeError(
            f"Task {task.name!r}: {phase} function must be callable, got {tf.function!r}"
        )


def check_task(task: Any) -> None:
    """Check that ``task`` is an AsyncTask with a hashable name and valid phases.

    Raises:
        TypeError: Naming what is wrong.
    """
    if type(task) is not AsyncTask and not isinstance(task, AsyncTask):
        raise TypeError(f"add_task() needs an AsyncTask, got {task!r}")
    try:
        hash(task.name)
    except TypeError:
        raise TypeError(
            f"Task name must be hashable, got {type(task.name).__name__} {task.name!r}"
        ) from None
    if not _plain_phases(task):
        for phase in _PHASES:
            if getattr(task, phase) is not None:
                _check_phase(task, phase)


def depends_on(name: Hashable, value: Any) -> tuple[Hashable, ...]:
    """The dependency names of ``name`` as a tuple; a bare string is one name.

    Raises:
        TypeError: ``value`` is neither a string nor an iterable of names.
    """
    if type(value) is tuple:
        return value
    if isinstance(value, str | bytes):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(value)
    raise TypeError(f"Task {name!r}: depends_on must be a tuple of task names, got {value!r}")


class TaskTable(Generic[T, K]):
    """Tasks and their dependencies as added, kept cheaply for large graphs.

    Args:
        tasks: Tasks to start from, by name.
        dependencies: Their dependencies, by task name.
    """

    # Graphs can have a million tasks. Until code reads the tasks dict,
    # add_task() keeps the tasks in lists and their names in a set: one set
    # probe costs much less than a dict insert at a random place in a big
    # table (the set keeps each hash beside its key, the dict of names reads
    # the key object). Once the dict has been read (or was given), it is the
    # truth and add_task() writes into it. The dependencies always wait in a
    # list until the dependencies dict is read.

    def __init__(
        self,
        tasks: dict[K, AsyncTask[T, K]] | None = None,
        dependencies: dict[K, tuple[K, ...]] | None = None,
    ) -> None:
        self._tasks: dict[K, AsyncTask[T, K]] = {} if tasks is None else tasks
        self._dependencies: dict[K, tuple[K, ...]] = {} if dependencies is None else dependencies
        # True once code outside may hold the tasks dict.
        self._shared = tasks is not None
        # Added since the last merge: every name with its dependencies, and
        # (while the tasks dict is not shared) the tasks, in the same order.
        self._added_names: list[K] = []
        self._added_deps: list[tuple[K, ...]] = []
        self._added_tasks: list[AsyncTask[T, K]] = []
        self._taken: set[K] = set()
        # True while a plan holds those three lists: add_task() copies them
        # before it appends (a build rarely adds tasks afterwards, and a
        # million-task graph makes lists of megabytes).
        self._lent = False

    def _merge(self) -> None:
        """Move what add_task() keeps aside into the two dicts."""
        if self._added_tasks:
            self._tasks.update(zip(self._added_names, self._added_tasks, strict=True))
            self._added_tasks = []
            self._taken = set()
        if self._added_names:
            self._dependencies.update(zip(self._added_names, self._added_deps, strict=True))
            self._added_names = []
            self._added_deps = []
            self._lent = False

    def _tasks_dict(self) -> dict[K, AsyncTask[T, K]]:
        """The tasks dict, from now on shared with the caller."""
        self._merge()
        self._shared = True
        return self._tasks

    def _set_tasks(self, value: dict[K, AsyncTask[T, K]]) -> None:
        self._merge()
        self._tasks = value
        self._shared = True

    def _dependencies_dict(self) -> dict[K, tuple[K, ...]]:
        self._merge()
        return self._dependencies

    def _set_dependencies(self, value: dict[K, tuple[K, ...]]) -> None:
        self._merge()
        self._dependencies = value

    def add_task(self, task: AsyncTask[T, K], depends_on: Iterable[K] | K = ()) -> Self:
        """Add a task and the names of the tasks it depends on.

        Args:
            task: The task.
            depends_on: Names of its dependencies; a bare string is one name.

        Returns:
            This analyzer, for chaining.

        Raises:
            TypeError: The task, its name, a phase function or a dependency
                name has the wrong type.
            ValueError: A task of that name already exists. The analyzer is
                unchanged and stays usable.
        """
        # Graphs can have a million tasks: the common case (an AsyncTask with
        # TaskFunctions or None, a tuple of names) takes the shortest path.
        if type(task) is not AsyncTask or not _plain_phases(task):
            check_task(task)
        name = task.name
        tasks = self._tasks
        shared = self._shared
        try:
            if shared:
                taken = name in tasks
            else:
                taken = name in self._taken or (name in tasks if tasks else False)
        except TypeError:
            check_task(task)  # names the unhashable name
            raise
        # Dependency names are checked by the plan: looking at each one here
        # would read every named object, scattered in memory, a second time.
        deps: Any = depends_on
        if type(deps) is not tuple:
            deps = _depends_on(name, deps)
        if taken:
            raise ValueError(f"Task {name!r} already exists")
        if self._lent:
            self._added_names = list(self._added_names)
            self._added_deps = list(self._added_deps)
            self._added_tasks = list(self._added_tasks)
            self._lent = False
        if shared:
            tasks[name] = task
        else:
            self._taken.add(name)
            self._added_tasks.append(task)
        self._added_names.append(name)
        self._added_deps.append(deps)
        return self

    def _plan(self) -> Plan[K]:
        """Validate the graph and compute its plan (see ``TaskAnalyzer.analyze``)."""
        if not self._shared and not self._tasks and not self._dependencies:
            # Only add_task filled this table and nothing was merged: the
            # lists are the graph, lent to the plan (see ``_lent``).
            plan = Plan(self._added_names, self._added_tasks, self._added_deps)
            self._lent = True
            return plan
        tasks = self._tasks
        if self._added_tasks:
            self._merge()
        names = list(tasks)
        if not self._dependencies and self._added_names == names:
            # Only add_task declared dependencies: its list is the dependencies.
            deps_of: list[tuple[K, ...]] = list(self._added_deps)
        else:
            deps = self._dependencies_dict()
            deps_of = [deps.get(name, ()) for name in names]
        return Plan(names, list(tasks.values()), deps_of)


_depends_on = depends_on  # add_task's parameter of that name hides the function
