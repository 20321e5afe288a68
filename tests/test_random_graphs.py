"""Seeded random graphs: the ordering and exactly-once cleanup rules, checked on an event log.

Every graph (5 to 40 nodes, random dependencies, random phase subsets including join nodes)
gets a random behaviour per phase function: return at once, suspend a few times, fail
before or after suspending, exceed a tiny timeout, fail then succeed with retries, run out
of retries, run synchronously, or raise an interrupt. Each run's context records every
attempt's start and how it ended; the checks below derive, from the graph alone, what the
engine had to do and compare it with the log. Some runs are cancelled from outside at a
random point.

A failing check prints the seed: ``check_graph(seed)`` replays that one graph.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest
from _support import Interrupt, random_dag

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    RetryableException,
    SdaxExecutionError,
    TaskFunction,
    task_func,
    task_sync_func,
)

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core

PHASES = ("pre", "exec", "post")
GRAPHS = 300
CHUNKS = 10
TIMEOUT = 0.002


class Injected(Exception):
    """A non-retryable failure raised by a phase function."""


class Flaky(RetryableException):
    """A retryable failure raised by a phase function."""


@dataclass(frozen=True)
class Behaviour:
    kind: str
    steps: int = 0
    failures: int = 0  # flaky: attempts that fail before one succeeds
    retries: int = 0

    @property
    def attempts(self) -> int:
        return self.retries + 1


@dataclass
class Entry:
    node: int
    phase: str
    event: str  # start, end, fail, cancel
    attempt: int
    exc: BaseException | None = None


@dataclass
class RunLog:
    """The context object of one run: its event log."""

    entries: list[Entry] = field(default_factory=list)
    attempts: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))

    def begin(self, node: int, phase: str) -> int:
        attempt = self.attempts[node, phase]
        self.attempts[node, phase] = attempt + 1
        self.entries.append(Entry(node, phase, "start", attempt))
        return attempt


@dataclass
class Graph:
    seed: int
    n: int
    deps: list[list[int]]
    phases: list[set[str]]
    behaviour: dict[tuple[int, str], Behaviour]
    order: list[int]  # declaration order

    def name(self, v: int) -> Hashable:
        return (v, "t") if v % 3 == 0 else f"n{v}" if v % 3 == 1 else v

    def describe(self) -> str:
        lines = [f"seed={self.seed} n={self.n}"]
        for v in range(self.n):
            beh = {p: self.behaviour[v, p] for p in PHASES if p in self.phases[v]}
            lines.append(f"  {v}: deps={self.deps[v]} {beh}")
        return "\n".join(lines)


KINDS = ["ok", "steps", "sync_ok", "flaky"]
FAILING = ["fail_now", "fail_later", "timeout", "flaky_exhaust", "sync_fail"]


def random_behaviour(rng: random.Random, failure_rate: float) -> Behaviour:
    if rng.random() < failure_rate:
        kind = rng.choice(FAILING) if rng.random() > 0.03 else "interrupt"
    else:
        kind = rng.choice(KINDS)
    steps = rng.randint(1, 3) if kind in ("steps", "fail_later", "flaky", "interrupt") else 0
    if kind == "interrupt" and rng.random() < 0.5:
        steps = 0
    if kind == "flaky":
        failures = rng.randint(1, 2)
        return Behaviour(kind, steps, failures, retries=failures)
    if kind == "flaky_exhaust":
        return Behaviour(kind, rng.randint(0, 1), failures=99, retries=1)
    return Behaviour(kind, steps)


def random_graph(seed: int) -> Graph:
    rng = random.Random(seed)
    n = rng.randint(5, 40)
    deps = random_dag(rng, n, fan_in=[0, 1, 1, 2, 2, 3])
    phases: list[set[str]] = []
    for _ in range(n):
        if rng.random() < 0.15:
            phases.append(set())  # a join node
        else:
            phases.append({p for p in PHASES if rng.random() < 0.6})
    failure_rate = rng.choice([0.0, 0.01, 0.03, 0.08, 0.2])
    behaviour = {(v, p): random_behaviour(rng, failure_rate) for v in range(n) for p in phases[v]}
    order = list(range(n))
    rng.shuffle(order)
    if rng.random() < 0.3:
        order.sort()  # every task added after its dependencies (the plan walks this order)
    return Graph(seed, n, deps, phases, behaviour, order)


def phase_function(v: int, phase: str, beh: Behaviour) -> TaskFunction[RunLog]:
    if beh.kind in ("sync_ok", "sync_fail"):

        def sync_fn(ctx: RunLog) -> int:
            attempt = ctx.begin(v, phase)
            if beh.kind == "sync_fail":
                exc = Injected(v, phase, attempt)
                ctx.entries.append(Entry(v, phase, "fail", attempt, exc))
                raise exc
            ctx.entries.append(Entry(v, phase, "end", attempt))
            return attempt

        return task_sync_func(sync_fn)

    async def fn(ctx: RunLog) -> None:
        attempt = ctx.begin(v, phase)
        try:
            for _ in range(beh.steps):
                await asyncio.sleep(0)
            kind = beh.kind
            if kind in ("fail_now", "fail_later"):
                raise Injected(v, phase, attempt)
            if kind in ("flaky", "flaky_exhaust") and attempt < beh.failures:
                raise Flaky(v, phase, attempt)
            if kind == "timeout":
                await asyncio.Event().wait()
            if kind == "interrupt":
                raise Interrupt(v, phase, attempt)
        except asyncio.CancelledError:
            ctx.entries.append(Entry(v, phase, "cancel", attempt))
            raise
        except BaseException as exc:
            ctx.entries.append(Entry(v, phase, "fail", attempt, exc))
            raise
        ctx.entries.append(Entry(v, phase, "end", attempt))

    timeout = TIMEOUT if beh.kind == "timeout" else None
    return task_func(fn, timeout=timeout, retries=beh.retries, initial_delay=0)


def build(graph: Graph) -> AsyncDagTaskProcessor[RunLog, Any]:
    field_of = {"pre": "pre_execute", "exec": "execute", "post": "post_execute"}
    builder = AsyncDagTaskProcessor.builder()
    for v in graph.order:
        functions = {
            field_of[p]: phase_function(v, p, graph.behaviour[v, p]) for p in graph.phases[v]
        }
        builder.add_task(
            AsyncTask(graph.name(v), **functions),
            depends_on=[graph.name(u) for u in graph.deps[v]],
        )
    return builder.build()


# -- the model --------------------------------------------------------------------------------


@dataclass
class Call:
    """All attempts of one phase function in one run."""

    starts: list[int] = field(default_factory=list)  # log positions
    ends: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # terminal events, per attempt
    excs: list[BaseException | None] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.starts[0]

    @property
    def last_end(self) -> int:
        return self.ends[-1]

    @property
    def final(self) -> str:
        return self.events[-1]


def parse(graph: Graph, log: RunLog) -> dict[tuple[int, str], Call]:
    calls: dict[tuple[int, str], Call] = {}
    for pos, e in enumerate(log.entries):
        call = calls.setdefault((e.node, e.phase), Call())
        if e.event == "start":
            assert len(call.starts) == len(call.ends), f"{e}: attempt started while one runs"
            assert e.attempt == len(call.starts), f"{e}: attempts out of sequence"
            call.starts.append(pos)
        else:
            assert len(call.starts) == len(call.ends) + 1, f"{e}: ended without start"
            assert e.attempt == len(call.ends)
            call.ends.append(pos)
            call.events.append(e.event)
            call.excs.append(e.exc)
    for key, call in calls.items():
        assert len(call.starts) == len(call.ends), f"{key}: an attempt never ended"
        assert len(call.starts) <= graph.behaviour[key].attempts, f"{key}: too many attempts"
    return calls


def is_final_failure(beh: Behaviour, call: Call) -> bool:
    """Whether the call's last attempt raised and no retry could follow it."""
    if call.final != "fail":
        return False
    exc = call.excs[-1]
    return not isinstance(exc, RetryableException) or len(call.starts) == beh.attempts


def check_run(
    graph: Graph, log: RunLog, outcome: BaseException | None, cancel_delivered: bool
) -> None:
    n = graph.n
    has = graph.phases
    calls = parse(graph, log)
    preds = graph.deps
    succs: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        for u in preds[v]:
            succs[u].append(v)

    def call(v: int, p: str) -> Call | None:
        return calls.get((v, p))

    # Effective prerequisites for pre: nearest ancestors with a pre (through nodes without).
    eff_pre: list[set[int]] = []
    for v in range(n):  # nodes are numbered in a topological order
        s: set[int] = set()
        for u in preds[v]:
            s |= {u} if "pre" in has[u] else eff_pre[u]
        eff_pre.append(s)
    descendants: list[set[int]] = [set() for _ in range(n)]
    for v in reversed(range(n)):
        for w in succs[v]:
            descendants[v] |= {w} | descendants[w]

    pre_started = [call(v, "pre") is not None for v in range(n)]
    pre_ok = [(c := call(v, "pre")) is not None and c.final == "end" for v in range(n)]
    completed: list[bool] = []
    for v in range(n):
        if "pre" in has[v]:
            completed.append(pre_ok[v])
        else:
            completed.append(all(completed[u] for u in preds[v]))
    owed = [
        "post" in has[v] and (pre_started[v] if "pre" in has[v] else completed[v]) for v in range(n)
    ]

    # Calls only exist for phases the task has.
    for v, p in calls:
        assert p in has[v]

    # Pre: in dependency order.
    for v in range(n):
        c = call(v, "pre")
        if c is None:
            continue
        for u in eff_pre[v]:
            cu = call(u, "pre")
            assert cu is not None and cu.final == "end", f"pre {v} started before pre {u} ok"
            assert cu.last_end < c.first, f"pre {v} started before pre {u} ended"

    # Pre failure: no new pre starts afterwards.
    final_pre_failures = [
        c.last_end
        for (v, p), c in calls.items()
        if p == "pre" and is_final_failure(graph.behaviour[v, p], c)
    ]
    if final_pre_failures:
        first_failure = min(final_pre_failures)
        for (v, p), c in calls.items():
            if p == "pre":
                assert c.first < first_failure, f"pre {v} started after a pre failed"

    # Execute: only when every pre succeeded, after all of them ended.
    pre_calls = [c for (v, p), c in calls.items() if p == "pre"]
    exec_calls = {v: c for (v, p), c in calls.items() if p == "exec"}
    all_pre_ok = all(pre_ok[v] for v in range(n) if "pre" in has[v])
    if exec_calls:
        assert all_pre_ok, "an execute ran although a pre did not succeed"
        last_pre = max((c.last_end for c in pre_calls), default=-1)
        assert min(c.first for c in exec_calls.values()) > last_pre

    # Post: exactly the owed ones, each once, after pre and execute, dependents first.
    last_before_post = max((c.last_end for (v, p), c in calls.items() if p != "post"), default=-1)
    for v in range(n):
        c = call(v, "post")
        if not owed[v]:
            assert c is None, f"post {v} ran but was not owed"
            continue
        assert c is not None, f"owed post {v} never ran"
        assert c.first > last_before_post, f"post {v} started before pre/execute ended"
        for w in descendants[v]:
            cw = call(w, "post")
            if owed[w]:
                assert cw is not None and cw.last_end < c.first, f"post {v} before post {w}"

    # Posts are never cut short (not even by an outside cancellation).
    for (v, p), c in calls.items():
        if p == "post" and graph.behaviour[v, p].kind != "timeout":
            assert "cancel" not in c.events, f"post {v} was cancelled"

    interrupts = [
        c.excs[-1]
        for c in calls.values()
        if c.final == "fail" and isinstance(c.excs[-1], Interrupt)
    ]
    stopped = cancel_delivered or bool(interrupts)
    if not stopped:
        # An execute failure cancels nobody.
        for v, c in exec_calls.items():
            if graph.behaviour[v, "exec"].kind != "timeout":
                assert "cancel" not in c.events, f"execute {v} was cancelled"
        if all_pre_ok:
            for v in range(n):
                if "exec" in has[v]:
                    assert v in exec_calls, f"execute {v} never ran"

    # What reached the caller.
    if interrupts:
        assert any(outcome is i for i in interrupts), f"expected an interrupt, got {outcome!r}"
        return
    if cancel_delivered:
        assert isinstance(outcome, asyncio.CancelledError), f"expected cancel, got {outcome!r}"
        return
    expected = [
        c.excs[-1] for (v, p), c in calls.items() if is_final_failure(graph.behaviour[v, p], c)
    ]
    timed_out = sum(
        1
        for (v, p), c in calls.items()
        if graph.behaviour[v, p].kind == "timeout" and c.final == "cancel"
    )
    if outcome is None:
        assert expected == [], f"failures {expected} were not reported"
        return
    assert isinstance(outcome, SdaxExecutionError), f"unexpected outcome {outcome!r}"
    leaves = outcome.leaf_exceptions()
    for exc in expected:
        assert sum(1 for leaf in leaves if leaf is exc) == 1, f"{exc!r} not reported once"
    others = [leaf for leaf in leaves if not any(leaf is exc for exc in expected)]
    assert all(type(leaf) is TimeoutError for leaf in others), f"unexpected leaves {others}"
    assert len(others) <= timed_out
    assert leaves, "an empty error group"


async def run_once(
    processor: AsyncDagTaskProcessor[RunLog, Any], cancel_after: int | None
) -> tuple[RunLog, BaseException | None, bool]:
    log = RunLog()
    before = {t for t in asyncio.all_tasks() if not t.done()}
    task = asyncio.create_task(processor.process_tasks(log))
    delivered = False
    if cancel_after is not None:
        for _ in range(cancel_after):
            await asyncio.sleep(0)
        delivered = task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10.0)
    assert done, "the run hung"
    outcome: BaseException | None
    if task.cancelled():
        try:
            task.result()
        except asyncio.CancelledError as exc:
            outcome = exc
    else:
        outcome = task.exception()
    left = {t for t in asyncio.all_tasks() if not t.done()} - before
    assert not left, f"tasks left pending: {left}"
    return log, outcome, delivered


async def check_graph(seed: int) -> None:
    graph = random_graph(seed)
    processor = build(graph)
    rng = random.Random(seed * 7919 + 1)
    runs: list[int | None] = [None]
    if seed % 3 == 0:
        runs.append(rng.randint(1, 12))  # 1+: the run has started
    for cancel_after in runs:
        log, outcome, delivered = await run_once(processor, cancel_after)
        try:
            check_run(graph, log, outcome, delivered)
        except AssertionError as exc:
            entries = "\n".join(f"    {e}" for e in log.entries)
            raise AssertionError(
                f"{exc}\n{graph.describe()}\ncancel_after={cancel_after} "
                f"delivered={delivered} outcome={outcome!r}\n  log:\n{entries}"
            ) from exc


@pytest.mark.parametrize("chunk", range(CHUNKS))
async def test_random_graphs(chunk: int) -> None:
    per_chunk = GRAPHS // CHUNKS
    for seed in range(chunk * per_chunk, (chunk + 1) * per_chunk):
        await check_graph(seed)


def test_generator_covers_the_behaviours() -> None:
    # The random graphs must actually exercise every behaviour and joins (guards against a
    # generator change that silently stops testing something).
    kinds: set[str] = set()
    joins = 0
    for seed in range(GRAPHS):
        graph = random_graph(seed)
        kinds |= {b.kind for b in graph.behaviour.values()}
        joins += sum(1 for p in graph.phases if not p)
    assert kinds == {*KINDS, *FAILING, "interrupt"}
    assert joins > 0
