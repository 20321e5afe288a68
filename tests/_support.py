"""Helpers shared by the test modules: one copy of each.

- The twins: :func:`env_flag` reads the switches, :func:`load_core` imports one
  twin of the integer core (skipped, or failed under ``SDAX_REQUIRE_EXTENSIONS=1``,
  when the compiled one is missing).
- Core inputs: the phase bits, :func:`csr`, :func:`sets_of`, :func:`outcome`,
  and the seeded random graphs (:func:`random_core_graph` for the kernels,
  :func:`random_dag` for built processors).
- The engine's behaviour tests: :class:`Recorder`, whose phase functions log
  ``Entry(name, phase, event)`` records (events: ``start``; ``end`` when it
  returned; ``fail`` when it raised anything but a cancellation; ``cancel`` when
  a ``CancelledError`` reached it), :func:`no_new_pending_tasks`, the
  thread-safe :class:`Trace`, :func:`guarded`, :func:`assign`,
  :func:`leaf_types`, :class:`Quiet`,
  :class:`Interrupt` and the sample run :func:`retry_then_fail`.

Nothing here keeps state between tests: each test makes its own objects.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import threading
from array import array
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
from types import ModuleType
from typing import Any, TypeVar

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, TaskFunction, task_func
from sdax.observe import RunObserver

HANG_GUARD = 10.0  # seconds; only ever reached when the engine hangs
T = TypeVar("T")

# -- the twins -------------------------------------------------------------------


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to something other than 0."""
    return os.environ.get(name, "").strip() not in ("", "0")


def load_core(kind: str) -> ModuleType:
    """Import one twin: ``"python"`` or ``"cython"``; skip or fail when it is missing."""
    if kind == "python":
        return importlib.import_module("sdax._core_py")
    try:
        return importlib.import_module("sdax._core")
    except ImportError as exc:
        if env_flag("SDAX_REQUIRE_EXTENSIONS"):
            pytest.fail(
                f"SDAX_REQUIRE_EXTENSIONS=1 but the compiled core cannot be imported: {exc}",
                pytrace=False,
            )
        pytest.skip("the compiled core (sdax._core) is not built")


# -- core inputs -----------------------------------------------------------------

# The core's pre, execute and post bits, spelled out rather than read from the code under test.
PHASE_BITS = (1, 2, 4)
PRE_BIT, EXEC_BIT, POST_BIT = PHASE_BITS

Deps = list[list[int]]


def csr(deps: Sequence[Sequence[int]]) -> tuple[array[int], array[int]]:
    """Predecessor lists as ``(ptr, idx)`` int arrays."""
    ptr = array("i", [0])
    idx = array("i")
    for d in deps:
        idx.extend(d)
        ptr.append(len(idx))
    return ptr, idx


def sets_of(
    set_of: Sequence[int], set_ptr: Sequence[int], set_idx: Sequence[int]
) -> list[list[int]]:
    """Each node's set, spelled out (set ids depend on the walk, sets do not)."""
    return [list(set_idx[set_ptr[s] : set_ptr[s + 1]]) for s in set_of]


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call gives: its result, or the type and words of its error."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def random_dag(rng: random.Random, n: int, fan_in: Sequence[int]) -> Deps:
    """Sorted predecessor lists of ``n`` nodes, each on lower-numbered ones.

    Node ``v`` depends on ``min(v, k)`` distinct earlier nodes, ``k`` drawn from
    ``fan_in``.
    """
    return [sorted(rng.sample(range(v), min(v, rng.choice(fan_in)))) for v in range(n)]


# The generator of random_core_graph.


def _size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.08:
        return rng.randint(0, 3)
    if roll < 0.70:
        return rng.randint(4, 60)
    if roll < 0.92:
        return rng.randint(61, 600)
    return rng.randint(601, 3000)


def _shape(rng: random.Random, n: int) -> tuple[str, Deps]:
    """Predecessor lists where every dependency has a lower index."""
    kind = rng.choice(
        ["chain", "fan_out", "joins", "shared_joins", "layers", "wide_join", "random"]
    )
    deps: Deps = [[] for _ in range(n)]
    if kind == "chain":
        for v in range(1, n):
            if rng.random() < 0.95:
                deps[v].append(v - 1)
    elif kind == "fan_out":
        roots = max(1, n // 50)
        for v in range(roots, n):
            deps[v].append(rng.randrange(min(v, roots + (v - roots) // 4 + 1)))
    elif kind == "joins":
        # Groups of nodes merged by a join node, on which the next group depends.
        v = 0
        previous: list[int] = []
        while v < n:
            width = rng.randint(1, 8)
            group = list(range(v, min(n, v + width)))
            for g in group:
                deps[g].extend(previous)
            v += len(group)
            if v < n:
                deps[v].extend(group)
                previous = [v]
                v += 1
    elif kind == "shared_joins":
        # Several joins over the same group (equal effective sets), and nodes
        # that depend on many of them at once.
        group = list(range(min(n, rng.randint(1, 12))))
        joins = list(range(len(group), min(n, len(group) + rng.randint(1, 10))))
        for j in joins:
            deps[j].extend(group)
        for v in range(len(group) + len(joins), n):
            deps[v].extend(rng.sample(joins, rng.randint(1, len(joins))))
            if rng.random() < 0.3:
                deps[v].append(rng.randrange(v))
    elif kind == "layers":
        width = rng.randint(1, 30)
        for v in range(width, n):
            layer_start = (v // width - 1) * width
            for _ in range(rng.randint(1, 4)):
                deps[v].append(rng.randrange(layer_start, layer_start + width))
    elif kind == "wide_join":
        hub = n // 2
        for v in range(hub + 1, n):
            deps[v].append(hub)
            if rng.random() < 0.1:
                deps[v].append(rng.randrange(hub))
        if n:
            deps[hub].extend(range(hub))
    else:
        for v in range(1, n):
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 4, 5, 6])):
                deps[v].append(rng.randrange(v))
    if n and rng.random() < 0.2:
        # Repeated dependencies are allowed by the core.
        v = rng.randrange(n)
        deps[v].extend(deps[v][:2])
    return kind, deps


def _flags(rng: random.Random, n: int, deps: Deps, kind: str) -> bytes:
    profile = rng.choice(["all", "mixed", "sparse", "none"])
    p_pre, p_exec, p_post = {
        "all": (1.0, 1.0, 1.0),
        "mixed": (0.8, 0.5, 0.7),
        "sparse": (0.5, 0.3, 0.4),
        "none": (0.0, 0.3, 0.0),
    }[profile]
    # Many phase-less nodes make effective sets large; keep big graphs tractable.
    p_join = 0.5 if n <= 600 else 0.15
    out = bytearray(n)
    for v in range(n):
        if len(deps[v]) > 1 and rng.random() < p_join:
            continue  # a join: no phase at all
        bits = 0
        if rng.random() < p_pre:
            bits |= PRE_BIT
        if rng.random() < p_exec:
            bits |= EXEC_BIT
        if rng.random() < p_post:
            bits |= POST_BIT
        out[v] = bits
    if kind == "wide_join" and n:
        out[n // 2] = 0
    if kind == "shared_joins":
        for v in range(n):
            if len(deps[v]) > 1 and rng.random() < 0.8:
                out[v] = 0
    return bytes(out)


def _add_cycle(rng: random.Random, deps: Deps) -> None:
    n = len(deps)
    if rng.random() < 0.2:
        v = rng.randrange(n)
        deps[v].append(v)
        return
    a, b = sorted(rng.sample(range(n), 2))
    # a depends on b, and b on a (it may already, directly or not).
    deps[a].append(b)
    if a not in deps[b]:
        deps[b].append(a)


def _relabel(rng: random.Random, deps: Deps, flags: bytes) -> tuple[Deps, bytes]:
    """The same graph with shuffled node numbers, so index order is not an order."""
    n = len(deps)
    perm = list(range(n))
    rng.shuffle(perm)
    new_deps: Deps = [[] for _ in range(n)]
    new_flags = bytearray(n)
    for v in range(n):
        new_deps[perm[v]] = [perm[u] for u in deps[v]]
        new_flags[perm[v]] = flags[v]
    return new_deps, bytes(new_flags)


def random_core_graph(seed: int) -> tuple[str, Deps, bytes]:
    """One seeded graph for the kernels: its kind, predecessor lists and phase bits.

    Kinds: chains, fan-outs, joins, joins sharing one set, layers, wide joins
    and random DAGs, of 0 to 3,000 nodes, sometimes with a cycle added
    (``"+cycle"``), and in most seeds renumbered so that index order is no order.
    """
    rng = random.Random(seed)
    n = _size(rng)
    kind, deps = _shape(rng, n)
    flags = _flags(rng, n, deps, kind)
    if n >= 2 and rng.random() < 0.15:
        _add_cycle(rng, deps)
        kind += "+cycle"
    if rng.random() < 0.7:
        deps, flags = _relabel(rng, deps, flags)
    return kind, deps, flags


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
