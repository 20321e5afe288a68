"""Blocking phase functions in executors: ``task_sync_func(fn, executor=...)``.

Worker functions block on ``threading.Event`` objects that the loop side sets, and
every side writes to one :class:`Trace`, so the tests check the order in which
things happened across threads (never durations). A worker gives up waiting after
``WORKER_HANG`` seconds, so a broken engine fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from _support import HANG_GUARD, Quiet, Trace, build_dag, guarded, leaf_types

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    CapacityLimit,
    SdaxExecutionError,
    TaskFunction,
    task_func,
    task_sync_func,
)
from sdax._build import default_thread_pool
from sdax.observe import RunObserver

WORKER_HANG = 5.0


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts submissions, and starts each one before returning it.

    ``submit`` returns only once a worker thread has begun the work, so a short
    timeout in a test can never fire while the work still sits in the queue (where
    it would be withdrawn instead of left running, which is another test's subject).
    """

    def __init__(self, max_workers: int = 4) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="test-pool")
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        begun = threading.Event()

        def run() -> Any:
            begun.set()
            return fn(*args, **kwargs)

        future = super().submit(run)
        assert begun.wait(WORKER_HANG), "no worker thread picked the work up"
        return future


@pytest.fixture
def pool() -> Iterator[CountingPool]:
    """A private thread pool, shut down (waiting for its work) after the test."""
    executor = CountingPool()
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)


@pytest.fixture(params=["thread", "pool"])
def executor(request: pytest.FixtureRequest, pool: CountingPool) -> Executor | str:
    """The shared ``"thread"`` pool, or a ThreadPoolExecutor of the test's own."""
    if request.param == "pool":
        return pool
    # Have an idle thread ready in the shared pool, so that the work of a test is
    # picked up at once (starting a thread is what can take long on a busy machine).
    default_thread_pool().submit(int).result()
    return "thread"


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while not condition():
            await asyncio.sleep(0.001)


def blocking(trace: Trace, go: threading.Event, label: str = "worker") -> Callable[[Any], str]:
    """A worker that logs its start, blocks until ``go`` is set, and logs its end."""

    def work(ctx: Any) -> str:
        trace.add(f"{label} start")
        if go.wait(WORKER_HANG):
            trace.add(f"{label} end")
        else:
            trace.add(f"{label} gave up")
        return "done"

    return work


def logs(trace: Trace, event: str, then: Callable[[], None] | None = None) -> TaskFunction[Any]:
    """An async phase function that logs ``event`` (then calls ``then``)."""

    async def fn(ctx: Any) -> None:
        trace.add(event)
        if then is not None:
            then()

    return task_func(fn)


def leftover_work_graph(
    work: TaskFunction[Any], trace: Trace, go: threading.Event
) -> AsyncDagTaskProcessor[Any, Any]:
    """``x`` runs ``work`` as its execute; ``y`` depends on ``x`` and its post sets ``go``.

    Posts run in reverse dependency order, so ``y``'s post comes first: if the run has
    stopped waiting for ``x``'s work, it gets there while that work still blocks, and
    only its ``go`` lets the work end. ``x``'s post must come after that end.
    """
    return build_dag(
        AsyncTask("x", execute=work, post_execute=logs(trace, "x post")),
        (AsyncTask("y", post_execute=logs(trace, "y post", go.set)), "x"),
    )


# -- off the loop thread ----------------------------------------------------------------------


async def test_executor_functions_run_off_the_loop_while_the_loop_runs_other_phases(
    executor: Executor | str,
) -> None:
    loop_thread = threading.get_ident()
    loop_side_ran = threading.Event()
    seen: dict[str, Any] = {}

    def blocking_work(ctx: Any) -> bool:
        seen["thread"] = threading.get_ident()
        seen["thread name"] = threading.current_thread().name
        # Inline, this would block the loop, and the other execute could never set it.
        return loop_side_ran.wait(WORKER_HANG)

    async def loop_side(ctx: Any) -> None:
        await asyncio.sleep(0)
        loop_side_ran.set()

    def store(ctx: dict[str, Any], value: bool) -> None:
        ctx["value"] = value
        ctx["stored on"] = threading.get_ident()

    processor = build_dag(
        AsyncTask(
            "blocking",
            execute=task_sync_func(blocking_work, executor=executor, result=store),
        ),
        AsyncTask("loop side", execute=task_func(loop_side)),
    )
    ctx: dict[str, Any] = {}
    await guarded(processor.process_tasks(ctx))
    assert ctx == {"value": True, "stored on": loop_thread}
    assert seen["thread"] != loop_thread
    expected_prefix = "sdax" if executor == "thread" else "test-pool"
    assert seen["thread name"].startswith(expected_prefix)


async def test_thread_executor_functions_see_the_callers_contextvars(
    executor: Executor | str,
) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    def read_and_write(ctx: Any) -> None:
        seen.append(var.get())
        var.set("set by the worker")

    processor = build_dag(AsyncTask("t", execute=task_sync_func(read_and_write, executor=executor)))
    token = var.set("set by the caller")
    try:
        await guarded(processor.process_tasks(object()))
        assert var.get() == "set by the caller"  # the worker changed its own copy only
    finally:
        var.reset(token)
    assert seen == ["set by the caller"]


async def test_the_shared_thread_pool_is_one_pool_for_every_run() -> None:
    names: list[str] = []

    def record(ctx: Any) -> None:
        names.append(threading.current_thread().name)

    processor = build_dag(AsyncTask("t", execute=task_sync_func(record, executor="thread")))
    await guarded(asyncio.gather(*(processor.process_tasks(object()) for _ in range(3))))
    assert len(names) == 3
    assert all(name.startswith("sdax") for name in names)


# -- process pools: picklable data in, results out --------------------------------------------


@dataclass
class Job:
    """A picklable context."""

    numbers: list[int]
    note: str = "original"
    report: Any = None
    stored_on: int | None = None
    extra: Any = field(default=None)


def total_and_pid(numbers: list[int]) -> tuple[int, int]:
    """Runs in a worker process."""
    return sum(numbers), os.getpid()


def change_everything(job: Job) -> tuple[int, int, str]:
    """Runs in a worker process, on an unpickled copy of the context."""
    job.numbers.append(99)
    job.note = "changed by the worker"
    return os.getpid(), len(job.numbers), job.note


@pytest.fixture(scope="module")
def process_pool() -> Iterator[ProcessPoolExecutor]:
    """One spawned worker process for the module (spawn: safe whatever threads exist)."""
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)


async def test_process_pool_gets_picklable_data_and_results_come_back_on_the_loop_thread(
    process_pool: ProcessPoolExecutor,
) -> None:
    def store(job: Job, value: tuple[int, int]) -> None:
        job.report = value
        job.stored_on = threading.get_ident()

    processor = build_dag(
        AsyncTask(
            "sum",
            execute=task_sync_func(
                total_and_pid,
                executor=process_pool,
                arg=lambda job: job.numbers,  # runs on the loop: need not be picklable
                result=store,
            ),
        )
    )
    job = Job([1, 2, 3, 4])
    await guarded(processor.process_tasks(job))
    total, pid = job.report
    assert total == 10
    assert pid != os.getpid()
    assert job.stored_on == threading.get_ident()


async def test_a_process_pool_function_cannot_change_the_callers_context(
    process_pool: ProcessPoolExecutor,
) -> None:
    processor = build_dag(
        AsyncTask(
            "change",
            execute=task_sync_func(
                change_everything,
                executor=process_pool,
                result=lambda job, value: setattr(job, "report", value),
            ),
        )
    )
    job = Job([1, 2])
    await guarded(processor.process_tasks(job))
    pid, length, note = job.report
    assert (length, note) == (3, "changed by the worker")  # what the worker saw
    assert pid != os.getpid()
    assert (job.numbers, job.note) == ([1, 2], "original")  # the caller's object is intact


class CountingProcessPool(ProcessPoolExecutor):
    """A process pool that counts submissions (it starts no process until one arrives)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("what", ["context", "function"])
async def test_unpicklable_work_for_a_process_pool_fails_with_a_clear_type_error(
    what: str,
) -> None:
    trace = Trace()
    executor = CountingProcessPool()
    if what == "context":
        ctx: Any = Job([1], extra=threading.Lock())
        fn: Callable[[Any], Any] = change_everything
    else:
        ctx = Job([1])
        fn = lambda job: len(job.numbers)  # noqa: E731 - a lambda cannot be pickled
    processor = build_dag(
        AsyncTask(
            "t",
            execute=task_sync_func(fn, executor=executor),
            post_execute=logs(trace, "post"),
        )
    )
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(ctx))
    finally:
        executor.shutdown(wait=True)
    [error] = info.value.leaf_exceptions()
    assert isinstance(error, TypeError)
    assert "picklable" in str(error) and "process pool" in str(error)
    assert "arg=" in str(error)  # says how to fix it
    assert executor.submitted == 0
    assert trace.events == ["post"]  # the failure is an ordinary execute failure


# -- timeouts, cancellation and the leftover work ---------------------------------------------


@pytest.mark.parametrize("observed", [False, True], ids=["plain", "observed"])
async def test_a_timeout_stops_the_wait_at_once_and_the_post_waits_for_the_work(
    executor: Executor | str, observed: bool
) -> None:
    trace, go = Trace(), threading.Event()
    work: TaskFunction[Any] = task_sync_func(blocking(trace, go), executor=executor, timeout=0.1)
    processor = leftover_work_graph(work, trace, go)
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(object(), observer=Quiet() if observed else None))
    finally:
        go.set()
    assert leaf_types(info.value) == [TimeoutError]
    # The run went on to the cleanup while the work still blocked...
    assert trace.in_order("worker start", "y post", "worker end")
    # ...and x's own cleanup started only once its work had ended.
    assert trace.in_order("worker end", "x post")


async def test_cancelling_the_run_stops_the_wait_at_once_and_the_post_waits_for_the_work(
    executor: Executor | str,
) -> None:
    trace, go = Trace(), threading.Event()
    processor = leftover_work_graph(
        task_sync_func(blocking(trace, go), executor=executor), trace, go
    )
    run = asyncio.create_task(processor.process_tasks(object()))
    try:
        await wait_until(lambda: "worker start" in trace)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await guarded(run)
    finally:
        go.set()
    assert trace.in_order("worker start", "y post", "worker end", "x post")


async def test_a_pre_cancelled_by_a_failing_sibling_leaves_its_post_waiting_for_the_work(
    executor: Executor | str,
) -> None:
    trace, go = Trace(), threading.Event()

    async def fails(ctx: Any) -> None:
        await wait_until(lambda: "worker start" in trace)
        raise ValueError("sibling pre failed")

    processor = build_dag(
        AsyncTask(
            "x",
            pre_execute=task_sync_func(blocking(trace, go), executor=executor),
            post_execute=logs(trace, "x post"),
        ),
        AsyncTask("z", pre_execute=task_func(fails), post_execute=logs(trace, "z post", go.set)),
    )
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(object()))
    finally:
        go.set()
    assert leaf_types(info.value) == [ValueError]
    assert trace.in_order("worker start", "z post", "worker end", "x post")


async def test_work_still_queued_when_the_wait_stops_is_withdrawn_and_not_waited_for() -> None:
    # One worker thread, busy with "x": "q" is queued behind it when its timeout
    # passes. Its work must never run, and its post need not wait for anything.
    trace, go = Trace(), threading.Event()

    class ReleaseWhenQFails(RunObserver):
        def phase_failed(self, event: Any) -> None:
            if event.task == "q":
                trace.add("q failed")
                go.set()

    single = ThreadPoolExecutor(max_workers=1)
    processor = build_dag(
        AsyncTask(
            "x",
            execute=task_sync_func(blocking(trace, go, "x"), executor=single),
            post_execute=logs(trace, "x post"),
        ),
        AsyncTask(
            "q",
            execute=task_sync_func(blocking(trace, go, "q"), executor=single, timeout=0.05),
            post_execute=logs(trace, "q post"),
        ),
    )
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(object(), observer=ReleaseWhenQFails()))
    finally:
        go.set()
        single.shutdown(wait=True)
    assert leaf_types(info.value) == [TimeoutError]
    assert "q start" not in trace  # withdrawn before it started, and never run later
    assert trace.in_order("x start", "q failed", "x end", "q post")
    assert trace.in_order("x end", "x post")


class ThreadPerCall(Executor):
    """An executor like a distributed engine's: ``cancel()`` succeeds on work that runs.

    Its futures stay pending while the work runs in a thread of its own, so cancelling
    one reports success although nothing stops the work.
    """

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                if not future.cancelled():
                    future.set_exception(exc)
            else:
                if not future.cancelled():
                    future.set_result(value)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for thread in self.threads:
            thread.join(WORKER_HANG)


async def test_work_of_other_executors_is_never_taken_as_stopped_by_a_cancel() -> None:
    trace, go = Trace(), threading.Event()
    engine = ThreadPerCall()
    work: TaskFunction[Any] = task_sync_func(blocking(trace, go), executor=engine, timeout=0.1)
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(leftover_work_graph(work, trace, go).process_tasks(object()))
    finally:
        go.set()
        engine.shutdown()
    assert leaf_types(info.value) == [TimeoutError]
    assert trace.in_order("worker start", "y post", "worker end", "x post")


async def test_a_failing_result_callback_fails_the_phase(executor: Executor | str) -> None:
    def store(ctx: Any, value: int) -> None:
        raise KeyError("no room for the result")

    processor = build_dag(
        AsyncTask("t", execute=task_sync_func(lambda ctx: 1, executor=executor, result=store))
    )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(processor.process_tasks(object()))
    assert leaf_types(info.value) == [KeyError]


async def test_the_cleanup_budget_bounds_the_wait_for_leftover_work(pool: CountingPool) -> None:
    trace, go = Trace(), threading.Event()
    processor = build_dag(
        AsyncTask(
            "x",
            execute=task_sync_func(blocking(trace, go), executor=pool, timeout=0.05),
            post_execute=logs(trace, "x post"),
        )
    )
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(object(), cleanup_timeout=0.1))
        # The run ended while the work still blocked: nothing has released it yet.
        assert trace.events == ["worker start"]
    finally:
        go.set()
    execute_error, post_error = info.value.leaf_exceptions()
    assert isinstance(execute_error, TimeoutError)
    assert isinstance(post_error, TimeoutError)
    assert "cleanup budget" in str(post_error)
    pool.shutdown(wait=True)
    assert trace.events == ["worker start", "worker end"]  # x's post never started


async def test_retries_resubmit_the_function(pool: CountingPool) -> None:
    calls: list[int] = []

    def flaky(n: int) -> int:
        calls.append(threading.get_ident())
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return n * 2

    processor = build_dag(
        AsyncTask(
            "t",
            execute=task_sync_func(
                flaky,
                executor=pool,
                retries=2,
                initial_delay=0,
                arg=lambda ctx: ctx["n"],
                result=lambda ctx, value: ctx.__setitem__("out", value),
            ),
        )
    )
    ctx = {"n": 21}
    await guarded(processor.process_tasks(ctx))
    assert ctx["out"] == 42
    assert pool.submitted == 3
    assert len(calls) == 3


async def test_a_failure_that_outlasts_the_retries_is_reported(pool: CountingPool) -> None:
    def always(ctx: Any) -> None:
        raise ConnectionError("down")

    processor = build_dag(
        AsyncTask("t", execute=task_sync_func(always, executor=pool, retries=1, initial_delay=0))
    )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(processor.process_tasks(object()))
    assert leaf_types(info.value) == [ConnectionError]
    assert pool.submitted == 2


async def test_a_retry_after_a_timeout_resubmits_and_the_post_waits_for_every_submission(
    pool: CountingPool,
) -> None:
    trace, go = Trace(), threading.Event()
    attempts: list[int] = []

    def first_blocks(ctx: Any) -> str:
        attempts.append(len(attempts) + 1)
        label = f"attempt {len(attempts)}"
        trace.add(f"{label} start")
        if len(attempts) == 1:
            go.wait(WORKER_HANG)
        trace.add(f"{label} end")
        return label

    work: TaskFunction[Any] = task_sync_func(
        first_blocks,
        executor=pool,
        timeout=0.05,
        retries=1,
        initial_delay=0,
        result=lambda ctx, value: ctx.__setitem__("value", value),
    )
    ctx: dict[str, Any] = {}
    try:
        await guarded(leftover_work_graph(work, trace, go).process_tasks(ctx))
    finally:
        go.set()
    assert ctx == {"value": "attempt 2"}  # the retry succeeded: the run did too
    assert pool.submitted == 2
    assert trace.in_order("attempt 1 start", "attempt 2 end", "y post", "attempt 1 end", "x post")


async def test_a_capacity_slot_is_held_while_the_work_runs(pool: CountingPool) -> None:
    limit = CapacityLimit("cpu", 2)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    gate = threading.Barrier(2, timeout=WORKER_HANG)

    def work(ctx: Any) -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        gate.wait()  # two holders meet; a third one would mean the limit leaked
        with lock:
            state["now"] -= 1

    builder = AsyncDagTaskProcessor.builder()
    for i in range(6):
        builder.add_task(AsyncTask(i, execute=task_sync_func(work, executor=pool, limits=limit)))
    await guarded(builder.build().process_tasks(object()))
    assert state["peak"] == 2
    assert pool.submitted == 6
    assert (limit.in_use, limit.waiting) == (0, 0)


async def test_a_capacity_slot_comes_back_at_the_timeout_even_if_the_work_goes_on(
    pool: CountingPool,
) -> None:
    # Limits count attempts, not leftover work: once the run stops waiting for an
    # attempt, its slot goes to the next caller even though the work still runs.
    limit = CapacityLimit("db", 1)
    trace, go = Trace(), threading.Event()

    async def next_holder(ctx: Any) -> None:
        trace.add("next holder start")
        go.set()

    processor = build_dag(
        AsyncTask(
            "x",
            execute=task_sync_func(blocking(trace, go), executor=pool, timeout=0.05, limits=limit),
            post_execute=logs(trace, "x post"),
        ),
        AsyncTask("next", execute=task_func(next_holder, limits=limit)),
    )
    try:
        with pytest.raises(SdaxExecutionError) as info:
            await guarded(processor.process_tasks(object()))
    finally:
        go.set()
    assert leaf_types(info.value) == [TimeoutError]
    assert trace.in_order("worker start", "next holder start", "worker end", "x post")
    assert (limit.in_use, limit.waiting) == (0, 0)


# -- inline, as before ------------------------------------------------------------------------


@pytest.mark.eager_start
async def test_without_an_executor_a_sync_function_runs_inline_and_may_return_a_value() -> None:
    seen: list[tuple[int, bool]] = []
    ticked: list[bool] = []

    def answer(ctx: Any) -> int:
        seen.append((threading.get_ident(), bool(ticked)))
        return 42

    # A callback queued before the run has not run when the function does: the
    # function ran on the loop thread, without the loop turning in between.
    asyncio.get_running_loop().call_soon(ticked.append, True)
    processor = build_dag(AsyncTask("t", execute=task_sync_func(answer)))
    await guarded(processor.process_tasks(object()))
    assert seen == [(threading.get_ident(), False)]


async def test_arg_and_result_work_inline_too() -> None:
    seen: list[tuple[Any, int]] = []

    def square(n: int) -> int:
        seen.append((n, threading.get_ident()))
        return n * n

    processor = build_dag(
        AsyncTask(
            "t",
            execute=task_sync_func(
                square,
                arg=lambda ctx: ctx["n"],
                result=lambda ctx, value: ctx.__setitem__("out", value),
            ),
        )
    )
    ctx = {"n": 7}
    await guarded(processor.process_tasks(ctx))
    assert ctx == {"n": 7, "out": 49}
    assert seen == [(7, threading.get_ident())]


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["process", "threads", 42, ThreadPoolExecutor, object()])
def test_executor_must_be_thread_or_an_executor(bad: Any) -> None:
    with pytest.raises(TypeError, match="executor must be"):
        task_sync_func(lambda ctx: None, executor=bad)
    with pytest.raises(TypeError, match="executor must be"):
        TaskFunction(lambda ctx: None, executor=bad)  # type: ignore[arg-type]


def test_an_executor_needs_a_plain_function() -> None:
    async def coroutine_function(ctx: Any) -> None:
        return None

    with pytest.raises(TypeError, match="plain"):
        TaskFunction(coroutine_function, executor="thread")

    async def grouped(ctx: Any, group: Any) -> None:
        return None

    with pytest.raises(TypeError, match="task-group"):
        TaskFunction(grouped, has_task_group_argument=True, executor="thread")


@pytest.mark.parametrize(
    "kwargs",
    [{"function": 3}, {"arg": 3}, {"result": "store"}],
    ids=["function", "arg", "result"],
)
def test_sync_function_parts_must_be_callable(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"function": lambda ctx: None, **kwargs}
    function = options.pop("function")
    with pytest.raises(TypeError, match="callable"):
        task_sync_func(function, **options)


# -- the Dask helper without Dask -------------------------------------------------------------


def test_the_dask_helper_explains_how_to_install_distributed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes "import distributed" fail
    monkeypatch.delitem(sys.modules, "sdax.contrib.dask", raising=False)
    helper = importlib.import_module("sdax.contrib.dask")  # importing it needs no Dask
    with pytest.raises(ImportError, match=r'pip install "sdax\[dask\]"'):
        helper.dask_executor("tcp://127.0.0.1:8786")
