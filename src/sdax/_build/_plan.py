"""From named tasks to integer arrays: the build step of every processor.

Names are mapped to ``0..n-1`` in declaration order, once. Everything the
runs need (the core graph, the phase specs per node) and everything the
analysis shows (topological order, wave assignments) is computed here and
kept in a :class:`Plan`. All messages naming tasks are formatted here, from
the names, whichever core is active.
"""

from __future__ import annotations

import enum
import inspect
from array import array
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Generic

from sdax._kernels import core
from sdax._build._declare import AsyncTask, TaskFunction
from sdax._build._executors import SyncCall
from sdax._build._phases import describe_name

if TYPE_CHECKING:
    # A default lets the engine write a bare ``Plan`` (keys of any kind)
    # while the analysis keeps the user's key type; a plan never takes keys
    # in after it is built, so a plan of str keys is a plan of Hashable ones.
    from typing_extensions import TypeVar

    K = TypeVar("K", bound=Hashable, covariant=True, default=Hashable)
else:
    from typing import TypeVar

    K = TypeVar("K", bound=Hashable, covariant=True)

__all__ = [
    "CallKind",
    "KIND_ASYNC",
    "KIND_CALL",
    "KIND_EXECUTOR",
    "KIND_GROUP",
    "PhaseSpec",
    "Plan",
    "describe_name",
]

PRE = core.PRE
EXEC = core.EXEC
POST = core.POST

class CallKind(enum.Enum):
    """How a phase function is called (``PhaseSpec.kind``)."""

    ASYNC = "async"  # an ``async def``: calling it only creates the coroutine
    CALL = "call"  # any other callable: its result is checked at run time
    GROUP = "group"  # takes a task group: each attempt runs inside one
    EXECUTOR = "executor"  # a blocking function sent to an executor


# Module names for the members, compared with ``is``: a global load, as ints were.
KIND_ASYNC = CallKind.ASYNC
KIND_CALL = CallKind.CALL
KIND_GROUP = CallKind.GROUP
KIND_EXECUTOR = CallKind.EXECUTOR


class PhaseSpec:
    """A phase function prepared for runs; one per distinct TaskFunction.

    Holds the fields of the :class:`TaskFunction` that the run loop reads, as
    plain attributes, plus how the function must be called.
    """

    __slots__ = (
        "backoff_factor",
        "executor",
        "fast",
        "fn",
        "initial_delay",
        "kind",
        "limits",
        "retries",
        "retryable",
        "task_function",
        "timeout",
    )

    def __init__(self, tf: TaskFunction[Any]) -> None:
        self.task_function = tf
        fn: Any = tf.function
        self.fn = fn
        self.executor = tf.executor
        # One fixed order for taking several limits, so that two calls never
        # wait for each other's slots.
        self.limits = tuple(sorted(tf.limits, key=lambda lim: (lim.name, id(lim))))
        if tf.executor is not None:
            self.kind = KIND_EXECUTOR
            if not isinstance(fn, SyncCall):
                self.fn = SyncCall(fn)
        elif tf.has_task_group_argument:
            self.kind = KIND_GROUP
        elif inspect.iscoroutinefunction(tf.function):
            self.kind = KIND_ASYNC
        else:
            self.kind = KIND_CALL
        self.timeout: float | None = None if tf.timeout is None else float(tf.timeout)
        self.retries: int = tf.retries
        self.retryable = tf.retryable_exceptions
        self.initial_delay = float(tf.initial_delay)
        self.backoff_factor = float(tf.backoff_factor)
        # The common case takes the shortest path: an async def without timeout.
        self.fast = self.kind is KIND_ASYNC and self.timeout is None and not self.limits


def _phase_spec(tf: TaskFunction[Any] | None) -> PhaseSpec | None:
    return None if tf is None else PhaseSpec(tf)


def _unresolved(
    names: Sequence[Hashable], deps_of: Sequence[tuple[Hashable, ...]]
) -> Exception | None:
    """The error for the first dependency that names no task or is unhashable."""
    known = set(names)
    for name, deps in zip(names, deps_of, strict=True):
        for dep in deps:
            try:
                if dep in known:
                    continue
            except TypeError:
                return TypeError(f"Task {name!r}: dependency names must be hashable, got {dep!r}")
            return ValueError(f"Task {name!r} depends on non-existent task {dep!r}")
    return None


def _sorted_names(names: Sequence[K], nodes: Sequence[int]) -> tuple[K, ...]:
    picked: list[Any] = [names[v] for v in nodes]  # compared only when they can be
    try:
        return tuple(sorted(picked))
    except TypeError:
        # Keys of different kinds do not compare: keep declaration order.
        return tuple(names[v] for v in sorted(nodes))


class Plan(Generic[K]):
    """The integer form of a task graph, shared by every run of a processor.

    Args:
        names: The task names, in declaration order.
        declared: The tasks, in the same order.
        deps_of: The declared dependencies of each task, in the same order.

    Raises:
        ValueError: A dependency names no task, or the graph has a cycle.
        TypeError: A dependency name is unhashable.
    """

    __slots__ = (
        "any_post",
        "any_pre",
        "declared",
        "deps_of",
        "exec_nodes",
        "exec_spec",
        "flags",
        "graph",
        "names",
        "order",
        "post_level",
        "post_levels",
        "post_spec",
        "pre_set_idx",
        "pre_set_of",
        "pre_set_ptr",
        "pre_spec",
        "pre_wave_of",
        "pre_wave_set",
        "pred_idx",
        "pred_ptr",
        "succ_idx",
        "succ_ptr",
    )

    def __init__(
        self,
        names: list[K],
        declared: list[AsyncTask[Any, K]],
        deps_of: list[tuple[K, ...]],
    ) -> None:
        # The lists are kept, not copied: a million tasks make big lists.
        n = len(names)
        try:
            pred_ptr, pred_idx = core.resolve_names(names, deps_of)
        except (KeyError, TypeError):
            error = _unresolved(names, deps_of)
            if error is None:
                raise
            raise error from None

        # One PhaseSpec per distinct TaskFunction object: tasks often share them.
        # (One list per phase: a million tasks make lists of megabytes.)
        pre_spec = core.memo_map(_phase_spec, [t.pre_execute for t in declared])
        exec_spec = core.memo_map(_phase_spec, [t.execute for t in declared])
        post_spec = core.memo_map(_phase_spec, [t.post_execute for t in declared])
        flags = core.phase_flags(pre_spec, exec_spec, post_spec)

        succ_ptr, succ_idx = core.successors(n, pred_ptr, pred_idx)
        order = core.topological_order(n, pred_ptr, succ_ptr, succ_idx)
        if len(order) != n:
            cycle = core.find_cycle(n, pred_ptr, pred_idx)
            path = " -> ".join(describe_name(names[v]) for v in cycle)
            raise ValueError(f"Cycle detected: {path}")

        self.names = names
        self.declared = declared
        self.deps_of = deps_of
        self.flags = flags
        self.pred_ptr = pred_ptr
        self.pred_idx = pred_idx
        self.succ_ptr = succ_ptr
        self.succ_idx = succ_idx
        self.order = order
        self.pre_spec = pre_spec
        self.exec_spec = exec_spec
        self.post_spec = post_spec
        self.exec_nodes = core.nodes_with(flags, EXEC)
        self.any_pre = any(pre_spec)
        self.any_post = any(post_spec)
        self.graph = core.Graph(pred_ptr, pred_idx, succ_ptr, succ_idx, self.flags)
        # When every task was added after its dependencies, declaration order
        # is a topological order too, and walking it reads the per-node arrays
        # front to back instead of all over memory. The sets and levels are
        # the same whichever order computes them (only the internal set ids
        # differ); waves are numbered in ``order``, the public one.
        walk = core.forward_order(n, pred_ptr, pred_idx)
        if walk is None:
            walk = order
        self.pre_set_of, self.pre_set_ptr, self.pre_set_idx = core.effective_sets(
            n, walk, pred_ptr, pred_idx, self.flags, PRE
        )
        self.pre_wave_of, self.pre_wave_set = core.pre_waves(order, self.flags, self.pre_set_of)
        self.post_level, self.post_levels = core.post_levels(walk, succ_ptr, succ_idx, self.flags)

    def pre_wave_members(self) -> list[list[int]]:
        """Nodes of each pre wave, in node order."""
        members: list[list[int]] = [[] for _ in self.pre_wave_set]
        for v, w in enumerate(self.pre_wave_of):
            if w >= 0:
                members[w].append(v)
        return members

    def pre_wave_deps(self, wave: int) -> list[int]:
        """Effective prerequisites of a pre wave."""
        s = self.pre_wave_set[wave]
        return list(self.pre_set_idx[self.pre_set_ptr[s] : self.pre_set_ptr[s + 1]])

    def post_wave_members(self) -> list[list[int]]:
        """Nodes of each post level, in node order."""
        members: list[list[int]] = [[] for _ in range(self.post_levels)]
        for v, w in enumerate(self.post_level):
            if w >= 0:
                members[w].append(v)
        return members

    def post_wave_deps(self) -> list[list[int]]:
        """For each post level, the union of its members' effective dependents."""
        n = len(self.names)
        reverse = array("i", reversed(self.order))
        set_of, set_ptr, set_idx = core.effective_sets(
            n, reverse, self.succ_ptr, self.succ_idx, self.flags, POST
        )
        uptr, uidx = core.group_unions(self.post_level, self.post_levels, set_of, set_ptr, set_idx)
        return [list(uidx[uptr[g] : uptr[g + 1]]) for g in range(self.post_levels)]

    def sorted_names(self, nodes: Sequence[int]) -> tuple[K, ...]:
        """Names of ``nodes``, sorted when they compare, else in declaration order."""
        return _sorted_names(self.names, nodes)
