"""Blocking steps on a real Dask cluster: ``client.get_executor(pure=False)`` and
``sdax.contrib.dask.dask_executor``.

Most tests share one in-process ``LocalCluster(processes=False)`` (fast to start); one
test starts a cluster with a worker process. Dask pickles every function it runs,
even in-process, so worker functions live at module level and reach the test's
state through ``PROBES`` (see :class:`Probe`), looked up by a key that the test
passes as the function's argument. Skipped where ``distributed`` is not installed.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from _support import Trace, build_dag, guarded, leaf_types  # noqa: E402

from sdax import (  # noqa: E402
    AsyncTask,
    FanOutItem,
    SdaxExecutionError,
    TaskFunction,
    fan_out,
    task_func,
    task_sync_func,
)
from sdax.contrib.dask import DaskExecutor, dask_executor  # noqa: E402

HANG_GUARD = 20.0
WORKER_HANG = 10.0


# -- state shared with the worker functions ---------------------------------------------------


@dataclass
class Probe:
    """What one test shares with the functions its Dask tasks run."""

    key: str
    trace: Trace = field(default_factory=Trace)
    go: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    threads: list[str] = field(default_factory=list)
    linger: float = 0.0  # seconds a blocked worker goes on running after ``go``

    def called(self) -> int:
        with self.lock:
            self.calls += 1
            self.threads.append(threading.current_thread().name)
            return self.calls


# Module-level on purpose: Dask pickles a test's functions by reference to this
# module, so this dict is the one place an in-process worker shares with the test.
# Each test registers its own Probe under a fresh key and removes it afterwards.
PROBES: dict[str, Probe] = {}


@pytest.fixture
def probe() -> Iterator[Probe]:
    entry = Probe(uuid.uuid4().hex)
    PROBES[entry.key] = entry
    try:
        yield entry
    finally:
        entry.go.set()  # never leave a worker blocked
        del PROBES[entry.key]


def square(n: int) -> tuple[int, int, str]:
    return n * n, os.getpid(), threading.current_thread().name


def record_and_square(key: str) -> int:
    probe = PROBES[key]
    return probe.called() ** 2


def fails(key: str) -> None:
    PROBES[key].called()
    raise ValueError("the worker failed")


def fails_once(key: str) -> int:
    calls = PROBES[key].called()
    if calls == 1:
        raise ConnectionError("first attempt fails")
    return calls


def blocks(key: str) -> str:
    probe = PROBES[key]
    probe.called()
    probe.trace.add("worker start")
    released = probe.go.wait(WORKER_HANG)
    time.sleep(probe.linger)
    probe.trace.add("worker end" if released else "worker gave up")
    return "done"


def count_in_file(path: str) -> int:
    """Counts its calls in a file: the only state worker processes share with the test."""
    file = Path(path)
    calls = int(file.read_text() or "0") + 1 if file.exists() else 1
    file.write_text(str(calls))
    if calls == 1:
        raise ConnectionError("first attempt fails")
    return calls


def explode(n: int) -> None:
    raise ValueError(f"cannot handle {n}")


def sleep_then_mark(path: str) -> None:
    """Outlasts its phase's timeout, then marks the file (worker processes share no memory)."""
    time.sleep(1.0)
    Path(path).write_text("finished")


# -- the cluster ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """One in-process cluster (worker threads) for the whole module."""
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=4, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(params=["get_executor", "dask_executor"])
def executor(request: pytest.FixtureRequest, client: Any) -> Iterator[Executor]:
    """Dask's own executor, or the one sdax.contrib.dask makes."""
    if request.param == "get_executor":
        made: Executor = client.get_executor(pure=False)
    else:
        made = dask_executor(client)
    yield made


def one_task(work: TaskFunction[Any], post: TaskFunction[Any] | None = None) -> Any:
    return build_dag(AsyncTask("t", execute=work, post_execute=post))


# -- in-process cluster -----------------------------------------------------------------------


async def test_a_fan_out_runs_each_items_work_on_the_cluster(executor: Executor) -> None:
    # Per item: a pre opens the item's session on the loop, the execute runs on a
    # Dask worker (only the item travels), the post closes the session.
    sessions: list[int] = []
    open_now: set[int] = set()
    most_open = 0

    async def open_session(ctx: FanOutItem[Any, int]) -> None:
        nonlocal most_open
        open_now.add(ctx.index)
        most_open = max(most_open, len(open_now))

    async def close_session(ctx: FanOutItem[Any, int]) -> None:
        open_now.remove(ctx.index)
        sessions.append(ctx.index)

    template = build_dag(
        AsyncTask(
            "square",
            pre_execute=task_func(open_session),
            execute=task_sync_func(
                square,
                executor=executor,
                arg=lambda ctx: ctx.item,
                result=lambda ctx, value: setattr(ctx, "value", value[0]),
            ),
            post_execute=task_func(close_session),
        )
    )
    squares = fan_out(template, over=lambda ctx: range(ctx["n"]), max_concurrency=3)
    result = await guarded(squares({"n": 12}), HANG_GUARD)
    assert [item.value for item in result] == [n * n for n in range(12)]
    assert sorted(sessions) == list(range(12)) and not open_now
    assert most_open <= 3


async def test_a_blocking_step_runs_on_a_dask_worker(executor: Executor) -> None:
    stored_on: list[int] = []

    def store(ctx: dict[str, Any], value: tuple[int, int, str]) -> None:
        stored_on.append(threading.get_ident())
        ctx["result"] = value

    work: TaskFunction[Any] = task_sync_func(
        square, executor=executor, arg=lambda ctx: ctx["n"], result=store
    )
    ctx: dict[str, Any] = {"n": 12}
    await guarded(one_task(work).process_tasks(ctx), HANG_GUARD)
    value, pid, thread_name = ctx["result"]
    assert value == 144
    assert pid == os.getpid()  # processes=False: worker threads in this process
    assert thread_name != threading.current_thread().name
    assert "Dask" in thread_name
    assert stored_on == [threading.get_ident()]


async def test_a_failure_on_the_cluster_fails_the_phase(executor: Executor, probe: Probe) -> None:
    trace = Trace()

    async def post(ctx: Any) -> None:
        trace.add("post")

    work: TaskFunction[Any] = task_sync_func(fails, executor=executor, arg=lambda ctx: probe.key)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(one_task(work, task_func(post)).process_tasks(object()), HANG_GUARD)
    assert leaf_types(info.value) == [ValueError]
    assert "the worker failed" in str(info.value.leaf_exceptions()[0])
    assert probe.calls == 1
    assert trace.events == ["post"]


async def test_retries_resubmit_to_the_cluster(executor: Executor, probe: Probe) -> None:
    work: TaskFunction[Any] = task_sync_func(
        fails_once,
        executor=executor,
        retries=2,
        initial_delay=0,
        arg=lambda ctx: probe.key,
        result=lambda ctx, value: ctx.__setitem__("calls", value),
    )
    ctx: dict[str, Any] = {}
    await guarded(one_task(work).process_tasks(ctx), HANG_GUARD)
    assert ctx == {"calls": 2}
    assert probe.calls == 2


def _timeout_graph(executor: Executor, probe: Probe) -> Any:
    """``x`` blocks on the cluster past its timeout; ``y`` (after ``x``) sets ``go`` in its post."""
    trace = probe.trace

    async def x_post(ctx: Any) -> None:
        trace.add("x post")

    async def y_post(ctx: Any) -> None:
        trace.add("y post")
        probe.go.set()

    work: TaskFunction[Any] = task_sync_func(
        blocks, executor=executor, timeout=0.2, arg=lambda ctx: probe.key
    )
    return build_dag(
        AsyncTask("x", execute=work, post_execute=task_func(x_post)),
        (AsyncTask("y", post_execute=task_func(y_post)), "x"),
    )


async def _time_out_while_the_task_runs(executor: Executor, probe: Probe) -> None:
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(_timeout_graph(executor, probe).process_tasks(object()), HANG_GUARD)
    assert leaf_types(info.value) == [TimeoutError]


async def test_a_timeout_stops_the_wait_and_the_post_waits_for_the_dask_task(
    executor: Executor, probe: Probe
) -> None:
    # Dask cannot stop a running task, and its futures accept cancel() all the same:
    # the run must not trust that, and wait for the task's real end before x's post.
    probe.linger = 0.3  # the task outlives y's post by far: a post that does not wait loses
    await _time_out_while_the_task_runs(executor, probe)
    # The run went on to y's post while the task still ran (only that post lets it
    # end), and x's post began only after the task had ended.
    assert probe.trace.in_order("y post", "worker end", "x post")
    assert probe.calls == 1


# -- the helper: where it connects, and what it refuses ---------------------------------------


async def test_dask_executor_connects_to_a_scheduler_address(client: Any, probe: Probe) -> None:
    executor = dask_executor(client.scheduler.address)
    try:
        assert executor.client is not client
        work: TaskFunction[Any] = task_sync_func(
            record_and_square,
            executor=executor,
            arg=lambda ctx: probe.key,
            result=lambda ctx, value: ctx.__setitem__("value", value),
        )
        ctx: dict[str, Any] = {}
        await guarded(one_task(work).process_tasks(ctx), HANG_GUARD)
        assert ctx == {"value": 1}
    finally:
        executor.shutdown()
    assert executor.client.status == "closed"  # the helper opened it, so it closed it
    assert client.status == "running"


async def test_dask_executor_reads_a_scheduler_file(
    client: Any, probe: Probe, tmp_path: Path
) -> None:
    # What ``dask scheduler --scheduler-file`` writes, reduced to what a client reads.
    # (``client.write_scheduler_file`` is not used: it dumps the whole scheduler_info(),
    # which JSON cannot encode once workers report metrics keyed by tuples.)
    scheduler_file = tmp_path / "scheduler.json"
    address = client.scheduler_info()["address"]
    scheduler_file.write_text(json.dumps({"type": "Scheduler", "address": address}))
    executor = dask_executor(str(scheduler_file))
    try:
        assert executor.client.scheduler_info()["address"] == address
        await guarded(
            one_task(
                task_sync_func(record_and_square, executor=executor, arg=lambda ctx: probe.key)
            ).process_tasks(object()),
            HANG_GUARD,
        )
        assert probe.calls == 1
    finally:
        executor.shutdown()


def test_dask_executor_uses_the_current_client(client: Any) -> None:
    with client.as_current():
        executor = dask_executor()
    assert isinstance(executor, DaskExecutor)
    assert executor.client is client
    executor.shutdown()
    assert client.status == "running"  # not the executor's to close


def test_dask_executor_without_any_client_says_what_to_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_client() -> Any:
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "default_client", no_client)
    with pytest.raises(ValueError, match="Client, a scheduler address or a scheduler file"):
        dask_executor()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [((42,), {}, "needs a distributed.Client"), ((None,), {"pure": True}, "pure=False")],
)
def test_dask_executor_refuses_what_it_cannot_use(
    client: Any, args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with client.as_current(), pytest.raises(TypeError, match=match):
        dask_executor(*args, **kwargs)


def test_each_submission_is_a_new_dask_task(client: Any, probe: Probe) -> None:
    executor = dask_executor(client)
    first = executor.submit(record_and_square, probe.key)
    second = executor.submit(record_and_square, probe.key)  # same function, same argument
    assert sorted([first.result(WORKER_HANG), second.result(WORKER_HANG)]) == [1, 4]
    assert probe.calls == 2


# -- worker processes -------------------------------------------------------------------------


async def test_steps_on_worker_processes_succeed_fail_retry_and_time_out(
    tmp_path: Path,
) -> None:
    ctx: dict[str, Any] = {
        "n": 9,
        "counter": str(tmp_path / "calls"),
        "marker": str(tmp_path / "slow-step"),
    }
    with (
        distributed.LocalCluster(
            processes=True, n_workers=1, threads_per_worker=4, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as process_client,
    ):
        executor = dask_executor(process_client)
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(_process_graph(executor).process_tasks(ctx), HANG_GUARD)
    errors = sorted(info.value.leaf_exceptions(), key=lambda e: type(e).__name__)
    assert [type(e) for e in errors] == [TimeoutError, ValueError]
    assert "cannot handle 9" in str(errors[1])
    value, pid, _ = ctx["square"]
    assert value == 81
    assert pid != os.getpid()  # it ran in the worker process
    assert ctx["retried"] == 2  # the first attempt failed; the retry was a new submission
    assert Path(ctx["counter"]).read_text() == "2"
    # The slow step's post ran only after the worker process had finished the step.
    assert ctx["slow post saw"] == "finished"


def _process_graph(executor: Executor) -> Any:
    def store(key: str) -> Callable[[dict[str, Any], Any], None]:
        return lambda ctx, value: ctx.__setitem__(key, value)

    async def slow_post(ctx: dict[str, Any]) -> None:
        marker = Path(ctx["marker"])
        ctx["slow post saw"] = marker.read_text() if marker.exists() else "nothing"

    return build_dag(
        AsyncTask(
            "square",
            execute=task_sync_func(
                square, executor=executor, arg=lambda ctx: ctx["n"], result=store("square")
            ),
        ),
        AsyncTask(
            "retried",
            execute=task_sync_func(
                count_in_file,
                executor=executor,
                retries=1,
                initial_delay=0,
                arg=lambda ctx: ctx["counter"],
                result=store("retried"),
            ),
        ),
        AsyncTask(
            "explodes",
            execute=task_sync_func(explode, executor=executor, arg=lambda ctx: ctx["n"]),
        ),
        AsyncTask(
            "slow",
            execute=task_sync_func(
                sleep_then_mark, executor=executor, timeout=0.2, arg=lambda ctx: ctx["marker"]
            ),
            post_execute=task_func(slow_post),
        ),
    )
