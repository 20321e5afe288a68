"""Processors and builders (public in :mod:`sdax.sdax_core`): a built plan and the runs it starts.

The builders collect tasks (with dependencies, or on levels) and ``build()``
an :class:`AsyncDagTaskProcessor`, which holds the validated analysis and
starts one :class:`~sdax._engine._run.Run` per ``process_tasks(ctx)`` or
``open(ctx)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from sdax._build import (
    AsyncTask,
    Plan,
    TaskAnalysis,
    TaskAnalyzer,
    add_levels,
    check_task,
    validate,
)
from sdax._engine._events import RunObserver
from sdax._engine._phase_runner import AsyncPhaseRunner
from sdax._engine._run import DEFAULT_CLEANUP_GRACE, Run, RunOptions

__all__ = [
    "AsyncDagLevelAdapterBuilder",
    "AsyncDagTaskProcessor",
    "AsyncDagTaskProcessorBuilder",
    "AsyncTaskProcessor",
    "AsyncTaskProcessorBuilder",
    "LevelKey",
]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

LevelKey: TypeAlias = tuple[int, Literal["below"]] | tuple[int, Literal["above"]] | str
"""Keys of a level-built graph: task names plus one entry and one exit node per level."""


def _observer(value: Any) -> RunObserver:
    return validate.instance_of(value, RunObserver, "observer must be a sdax.observe.RunObserver")


def _one_or_two(params: Any) -> Any:
    # ``Processor[Ctx]`` is shorthand for ``Processor[Ctx, Hashable]``.
    if isinstance(params, tuple):
        return params
    return (params, Hashable)


class AsyncTaskProcessor(ABC, Generic[T, K]):
    """A built, immutable set of tasks that can be run many times.

    The class also hosts the builder entry points of the reference API.
    """

    def __class_getitem__(cls, params: Any) -> Any:
        return super().__class_getitem__(_one_or_two(params))  # type: ignore[misc]  # typeshed: no Generic.__class_getitem__

    @abstractmethod
    async def process_tasks(self, ctx: T) -> None:
        """Run every phase over ``ctx``; raise SdaxExecutionError on failures."""

    @abstractmethod
    def open(self, ctx: T) -> AsyncPhaseRunner[T, K]:
        """Return a runner that runs the phases over ``ctx`` one at a time."""

    @staticmethod
    def builder() -> AsyncDagLevelAdapterBuilder[Any]:
        """A builder that places tasks on numbered levels."""
        return AsyncDagLevelAdapterBuilder()

    @staticmethod
    def elevator_builder() -> AsyncDagLevelAdapterBuilder[Any]:
        """Same as :meth:`builder`: levels run up for pre, down for post."""
        return AsyncDagLevelAdapterBuilder()

    @staticmethod
    def graph_builder() -> AsyncDagTaskProcessorBuilder[Any, Any]:
        """A builder that takes explicit dependencies between tasks."""
        return AsyncDagTaskProcessorBuilder()


class AsyncTaskProcessorBuilder(ABC, Generic[T, K]):
    """Interface of the level-based builders."""

    @abstractmethod
    def add_task(self, task: AsyncTask[T, K], level: int) -> AsyncTaskProcessorBuilder[T, K]:
        """Add ``task`` on ``level``; return the builder."""

    @abstractmethod
    def build(self) -> AsyncTaskProcessor[T, K]:
        """Validate and return the processor."""


@dataclass(frozen=True, eq=False)
class AsyncDagTaskProcessor(AsyncTaskProcessor[T, K]):
    """Runs a validated task graph. Immutable and safe to share between runs.

    Attributes:
        analysis: The validated plan (waves, orders, counts).
    """

    analysis: TaskAnalysis[T, K]
    observers: tuple[RunObserver, ...] = ()
    cleanup_grace: float = DEFAULT_CLEANUP_GRACE
    """Default grace of this processor's runs (see ``process_tasks``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.analysis, TaskAnalysis):
            raise TypeError(f"AsyncDagTaskProcessor needs a TaskAnalysis, got {self.analysis!r}")
        object.__setattr__(self, "cleanup_grace", validate.cleanup_grace(self.cleanup_grace))

    @property
    def _plan(self) -> Plan[K]:
        return self.analysis.plan

    @cached_property
    def _default_options(self) -> RunOptions:
        """The options of a run given none (made once: most runs are such)."""
        return RunOptions(cleanup_grace=self.cleanup_grace, observers=self.observers)

    @staticmethod
    def builder() -> AsyncDagTaskProcessorBuilder[Any, Any]:  # type: ignore[override]  # 0.7's API: a graph builder here, a level builder in the base
        """A builder that takes explicit dependencies between tasks."""
        return AsyncDagTaskProcessorBuilder()

    async def process_tasks(
        self,
        ctx: T,
        *,
        timeout: float | None = None,
        cleanup_timeout: float | None = None,
        observer: RunObserver | None = None,
        max_concurrency: int | None = None,
        cleanup_grace: float | None = None,
    ) -> None:
        """Run all phases over ``ctx``.

        Pre functions run in dependency order, then every execute, then the
        owed post functions in reverse dependency order.

        Args:
            ctx: The context object handed to every phase function.
            timeout: Deadline in seconds for the pre and execute phases. When
                it passes, running pre/execute functions are cancelled, none
                starts any more, the owed posts run, and
                :class:`SdaxTimeoutError` is raised.
            cleanup_timeout: Budget in seconds for the post phase. When it
                runs out, running posts are cancelled and reported as
                failures (``TimeoutError``); posts that become ready later
                still start, but are cancelled at their first suspension.
            observer: An observer for this run only (in addition to the
                processor's observers); see :mod:`sdax.observe`.
            max_concurrency: At most this many phase functions of this run
                run at once (calls wait, in order, before they start; their
                timeouts start when they do).
            cleanup_grace: Once an outside cancellation arrived (wherever it
                lands) or the deadline passed: the seconds each post may take
                from its start (a post running at the cancellation: from
                then); one still running then is cancelled where it waits
                (not a failure of its own). Posts that had not started still
                start, once. ``0`` cuts each at its first wait, ``math.inf``
                shields without bound; with ``cleanup_timeout`` the budget is
                the grace. Default: the processor's ``cleanup_grace`` (0.1 s
                unless set).

        Raises:
            SdaxExecutionError: One or more phase functions failed; raised
                after every owed post has run.
            asyncio.CancelledError: The caller was cancelled; raised after
                every owed post has run.
            KeyboardInterrupt: Or SystemExit, raised by a phase function;
                re-raised after every owed post has run.
            SdaxTimeoutError: The ``timeout`` passed (a ``TimeoutError``).
        """
        options = self._options(timeout, cleanup_timeout, observer, max_concurrency, cleanup_grace)
        await Run(self._plan, ctx, options).run_all()

    def _options(
        self,
        timeout: float | None,
        cleanup_timeout: float | None,
        observer: RunObserver | None,
        max_concurrency: int | None,
        cleanup_grace: float | None,
    ) -> RunOptions:
        """The options of one run, checked, with this processor's defaults filled in."""
        if (
            timeout is None
            and cleanup_timeout is None
            and observer is None
            and max_concurrency is None
            and cleanup_grace is None
        ):
            return self._default_options
        observers = self.observers
        if observer is not None:
            observers = (*observers, _observer(observer))
        return RunOptions(
            timeout=validate.seconds(timeout, "timeout"),
            cleanup_timeout=validate.seconds(cleanup_timeout, "cleanup_timeout"),
            # In the order the checks ran before (the first bad option is named).
            max_concurrency=validate.optional_int_at_least(max_concurrency, 1, "max_concurrency"),
            cleanup_grace=(
                self.cleanup_grace
                if cleanup_grace is None
                else validate.cleanup_grace(cleanup_grace)
            ),
            observers=observers,
        )

    def open(
        self,
        ctx: T,
        *,
        timeout: float | None = None,
        cleanup_timeout: float | None = None,
        observer: RunObserver | None = None,
        max_concurrency: int | None = None,
        cleanup_grace: float | None = None,
    ) -> AsyncPhaseRunner[T, K]:
        """Return a runner that runs the phases over ``ctx`` one at a time.

        ``timeout``, ``cleanup_timeout``, ``observer``, ``max_concurrency``
        and ``cleanup_grace`` mean what they mean for :meth:`process_tasks`;
        the deadline counts from the first ``run_next()``.
        """
        options = self._options(timeout, cleanup_timeout, observer, max_concurrency, cleanup_grace)
        return AsyncPhaseRunner(self, ctx, run=Run(self._plan, ctx, options))

    def __repr__(self) -> str:
        return f"AsyncDagTaskProcessor({self.analysis.total_tasks} tasks)"


@dataclass
class AsyncDagTaskProcessorBuilder(Generic[T, K]):
    """Collects tasks with their dependencies; ``build()`` validates them.

    Attributes:
        taskAnalyzer: The analyzer that collects the tasks.
    """

    taskAnalyzer: TaskAnalyzer[T, K] = field(default_factory=TaskAnalyzer)
    observers: list[RunObserver] = field(default_factory=list)

    def __class_getitem__(cls, params: Any) -> Any:
        return super().__class_getitem__(_one_or_two(params))  # type: ignore[misc]  # typeshed: no Generic.__class_getitem__

    def add_task(
        self, task: AsyncTask[T, K], depends_on: Iterable[K] | K = ()
    ) -> AsyncDagTaskProcessorBuilder[T, K]:
        """Add ``task``, which waits for the tasks named in ``depends_on``.

        A task without phase functions is a join node (what ``join(name)``
        makes), as in the reference.

        Args:
            task: The task.
            depends_on: Names of the tasks it depends on; a bare string is one
                name. The named tasks may be added later.

        Returns:
            This builder.

        Raises:
            TypeError: Bad task, name, phase function or dependency name.
            ValueError: The name is taken (the builder stays usable).
        """
        self.taskAnalyzer.add_task(task, depends_on)
        return self

    def add_observer(self, observer: RunObserver) -> AsyncDagTaskProcessorBuilder[T, K]:
        """Attach ``observer`` to every run of the processor (see :mod:`sdax.observe`)."""
        self.observers.append(_observer(observer))
        return self

    def build(self, *, cleanup_grace: float = DEFAULT_CLEANUP_GRACE) -> AsyncDagTaskProcessor[T, K]:
        """Validate the graph and return the processor.

        Args:
            cleanup_grace: The processor's default grace for posts after an
                outside cancellation or the deadline (see ``process_tasks``).

        Raises:
            ValueError: A missing dependency or a cycle, naming the tasks.
        """
        return AsyncDagTaskProcessor(
            self.taskAnalyzer.analyze(), tuple(self.observers), cleanup_grace
        )


class AsyncDagLevelAdapterBuilder(AsyncTaskProcessorBuilder[T, LevelKey]):
    """Builds a graph from levels: level N+1 starts after level N.

    Every task of a level depends on the level's entry node, which depends on
    the exit node of the level below; the exit node depends on every task of
    its level. Pre runs level by level upwards, post level by level
    downwards.
    """

    def __init__(self) -> None:
        self._levels: dict[int, list[AsyncTask[T, Any]]] = {}
        self._names: set[Hashable] = set()
        self._observers: list[RunObserver] = []

    def add_observer(self, observer: RunObserver) -> AsyncDagLevelAdapterBuilder[T]:
        """Attach ``observer`` to every run of the processor (see :mod:`sdax.observe`)."""
        self._observers.append(_observer(observer))
        return self

    def add_task(self, task: AsyncTask[T, Any], level: int) -> AsyncDagLevelAdapterBuilder[T]:
        """Add ``task`` on ``level`` (any int, negative too; levels run in increasing order).

        A task without phase functions is accepted, as in the reference: it
        runs nothing (the levels order the rest).

        Raises:
            TypeError: Bad task, name or phase function, or a level that is
                not an int.
            ValueError: The name is taken (the builder stays usable).
        """
        check_task(task)
        validate.level(task.name, level)
        if task.name in self._names:
            raise ValueError(f"Task {task.name!r} already exists")
        self._names.add(task.name)
        self._levels.setdefault(level, []).append(task)
        return self

    def build(
        self, *, cleanup_grace: float = DEFAULT_CLEANUP_GRACE
    ) -> AsyncDagTaskProcessor[T, LevelKey]:
        """Return the processor for the levels added so far.

        ``cleanup_grace`` is the processor's default grace (see
        ``AsyncDagTaskProcessor.process_tasks``).
        """
        analyzer: TaskAnalyzer[T, Any] = TaskAnalyzer()
        add_levels(analyzer, self._levels)
        return AsyncDagTaskProcessor(analyzer.analyze(), tuple(self._observers), cleanup_grace)
