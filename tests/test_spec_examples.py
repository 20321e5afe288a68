"""The code examples of the behaviour spec (the reference's README), run with stand-ins.

Every example of ``shared/spec/sdax-0.7.1-README.md`` appears here as a running test: the
databases, caches, locks and notification services are tiny fakes defined in this file, and
the long sleeps of the examples are replaced by tiny ones (or by ``asyncio.sleep(0)``) that
only serve to create interleavings. Each test builds its own log and context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    RetryableException,
    SdaxExecutionError,
    SdaxTaskGroup,
    TaskFunction,
    flatten_exceptions,
    join,
    task_func,
    task_group_func,
    task_sync_func,
)
from sdax.sdax_core import LevelKey, PhaseId

# --------------------------------------------------------------------------------------------
# Stand-ins shared by several examples (classes only: every test makes its own instances).
# --------------------------------------------------------------------------------------------


class FakeConnection:
    """A database connection that records what is done with it."""

    def __init__(self, log: list[str], label: str = "db") -> None:
        self.log = log
        self.label = label
        self.closed = False
        self.close_calls = 0
        self.saved: list[dict[str, Any]] = []

    async def fetch_user(self, user_id: int = 7) -> dict[str, Any]:
        self.log.append(f"{self.label}.fetch_user")
        return {"user_id": user_id, "name": f"user-{user_id}"}

    async def save(self, data: dict[str, Any]) -> None:
        self.log.append(f"{self.label}.save")
        self.saved.append(dict(data))

    async def close(self) -> None:
        self.log.append(f"{self.label}.close")
        self.close_calls += 1
        self.closed = True


class FakeLock:
    """A lock whose ``acquire`` returns the lock itself and whose ``release`` is a coroutine."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.held = False
        self.acquire_calls = 0
        self.release_calls = 0

    async def acquire(self) -> FakeLock:
        self.acquire_calls += 1
        self.held = True
        self.log.append("lock.acquire")
        return self

    async def release(self) -> None:
        if not self.held:
            raise RuntimeError("release of an unlocked lock")
        self.release_calls += 1
        self.held = False
        self.log.append("lock.release")


def leaf_summary(exc: BaseException) -> list[tuple[type[BaseException], str]]:
    """Returns the (type, message) of every leaf exception, in a stable order."""
    leaves = flatten_exceptions(exc)
    return sorted(((type(leaf), str(leaf)) for leaf in leaves), key=lambda p: (p[0].__name__, p[1]))


def position(log: list[str], entry: str) -> int:
    assert entry in log, f"{entry!r} missing from {log!r}"
    return log.index(entry)


# --------------------------------------------------------------------------------------------
# TaskFunction helper functions
# --------------------------------------------------------------------------------------------


async def test_task_func_wraps_async_function_with_defaults_and_custom_configuration() -> None:
    calls: list[str] = []

    async def my_async_function(ctx: dict[str, Any]) -> None:
        calls.append("called")

    simple = task_func(my_async_function)
    assert simple.function is my_async_function
    assert simple.timeout is None
    assert simple.retries == 0
    assert simple.has_task_group_argument is False

    custom = task_func(
        my_async_function,
        timeout=30.0,
        retries=3,
        retryable_exceptions=(ValueError, RuntimeError),
    )
    assert custom.timeout == 30.0
    assert custom.retries == 3
    assert custom.retryable_exceptions == (ValueError, RuntimeError)

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(AsyncTask("Simple", execute=simple), depends_on=())
        .build()
    )
    await processor.process_tasks({})
    assert calls == ["called"]


async def test_task_func_custom_retryable_exceptions_are_retried() -> None:
    attempts: list[int] = []

    async def my_function(ctx: dict[str, Any]) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise ValueError("first attempt fails")
        if len(attempts) == 2:
            raise RuntimeError("second attempt fails")
        ctx["done"] = True

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(
            AsyncTask(
                "Flaky",
                execute=task_func(
                    my_function,
                    timeout=30.0,
                    retries=3,
                    initial_delay=0,
                    retryable_exceptions=(ValueError, RuntimeError),
                ),
            ),
            depends_on=(),
        )
        .build()
    )
    ctx: dict[str, Any] = {}
    await processor.process_tasks(ctx)
    assert attempts == [1, 2, 3]
    assert ctx == {"done": True}


async def test_task_group_func_parent_creates_and_awaits_a_subtask() -> None:
    log: list[str] = []

    async def subtask_func() -> str:
        log.append("subtask")
        return "sub-result"

    async def parent_task(ctx: dict[str, Any], task_group: SdaxTaskGroup) -> Any:
        subtask = task_group.create_task(subtask_func(), name="subtask")
        result = await subtask
        ctx["parent_saw"] = result
        return result

    wrapped = task_group_func(parent_task, retries=2)
    assert wrapped.has_task_group_argument is True
    assert wrapped.retries == 2

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(AsyncTask("Parent", execute=wrapped), depends_on=())
        .build()
    )
    ctx: dict[str, Any] = {}
    await processor.process_tasks(ctx)
    assert log == ["subtask"]
    assert ctx == {"parent_saw": "sub-result"}


async def test_task_sync_func_returns_value_and_mutates_dict_context() -> None:
    def sync_function(ctx: dict[str, Any]) -> int:
        ctx["result"] = ctx.get("input", 0) * 2
        return cast(int, ctx["result"])

    wrapped = task_sync_func(sync_function, retries=1)
    assert wrapped.retries == 1
    assert wrapped.has_task_group_argument is False

    # Called directly, the wrapper is awaitable and hands back the sync function's value.
    direct_ctx: dict[str, Any] = {"input": 5}
    call = cast(Callable[[dict[str, Any]], Awaitable[Any]], wrapped.function)
    assert await call(direct_ctx) == 10
    assert direct_ctx == {"input": 5, "result": 10}

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(AsyncTask("Double", execute=wrapped), depends_on=())
        .build()
    )
    ctx: dict[str, Any] = {"input": 21}
    await processor.process_tasks(ctx)
    assert ctx == {"input": 21, "result": 42}

    empty: dict[str, Any] = {}
    await processor.process_tasks(empty)
    assert empty == {"result": 0}


async def test_join_example_builds_a_synchronisation_node_and_runs_all_tasks() -> None:
    log: list[str] = []

    async def func_a(ctx: None) -> None:
        log.append("A")

    async def func_b(ctx: None) -> None:
        log.append("B")

    async def func_c(ctx: None) -> None:
        log.append("C")

    wait_for_both = join("WaitForBoth")
    assert wait_for_both.pre_execute is None
    assert wait_for_both.execute is None
    assert wait_for_both.post_execute is None

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("TaskA", execute=task_func(func_a)), depends_on=())
        .add_task(AsyncTask("TaskB", execute=task_func(func_b)), depends_on=())
        .add_task(wait_for_both, depends_on=("TaskA", "TaskB"))
        .add_task(AsyncTask("TaskC", execute=task_func(func_c)), depends_on=("WaitForBoth",))
        .build()
    )
    analysis = processor.analysis
    assert analysis.nodes == 1
    assert analysis.dependencies["WaitForBoth"] == ("TaskA", "TaskB")
    assert analysis.dependencies["TaskC"] == ("WaitForBoth",)

    await processor.process_tasks(None)
    # All executes run in the single execute phase; each exactly once.
    assert sorted(log) == ["A", "B", "C"]


async def test_join_holds_back_dependent_pre_execute_until_both_sides_finish() -> None:
    log: list[str] = []

    def recorder(label: str, delay: float) -> TaskFunction[None]:
        async def run(ctx: None) -> None:
            log.append(f"{label}.start")
            await asyncio.sleep(delay)
            log.append(f"{label}.end")

        return task_func(run)

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("TaskA", pre_execute=recorder("A", 0.02)), depends_on=())
        .add_task(AsyncTask("TaskB", pre_execute=recorder("B", 0.0)), depends_on=())
        .add_task(join("WaitForBoth"), depends_on=("TaskA", "TaskB"))
        .add_task(AsyncTask("TaskC", pre_execute=recorder("C", 0.0)), depends_on=("WaitForBoth",))
        .build()
    )
    await processor.process_tasks(None)
    assert position(log, "C.start") > position(log, "A.end")
    assert position(log, "C.start") > position(log, "B.end")
    # A and B are independent, so they overlap.
    assert position(log, "B.start") < position(log, "A.end")


# --------------------------------------------------------------------------------------------
# Quick Start (graph) and its level-adapter twin
# --------------------------------------------------------------------------------------------


@dataclass
class QuickStartContext:
    log: list[str] = field(default_factory=list)
    db_connection: FakeConnection | None = None
    user_id: int | None = None
    feature_flags: dict[str, bool] | None = None
    fetched: bool = False


async def qs_open_db(ctx: QuickStartContext) -> None:
    ctx.log.append("open_db")
    await asyncio.sleep(0)
    ctx.db_connection = FakeConnection(ctx.log)


async def qs_close_db(ctx: QuickStartContext) -> None:
    ctx.log.append("close_db")
    if ctx.db_connection:
        await ctx.db_connection.close()


async def qs_check_auth(ctx: QuickStartContext) -> None:
    ctx.log.append("check_auth.start")
    await asyncio.sleep(0.01)
    ctx.user_id = 123
    ctx.log.append("check_auth.end")


async def qs_check_auth_denied(ctx: QuickStartContext) -> None:
    ctx.log.append("check_auth.start")
    await asyncio.sleep(0)
    ctx.log.append("check_auth.end")


async def qs_load_feature_flags(ctx: QuickStartContext) -> None:
    ctx.log.append("load_feature_flags.start")
    await asyncio.sleep(0.02)
    ctx.feature_flags = {"new_api": True}
    ctx.log.append("load_feature_flags.end")


async def qs_fetch_user_data(ctx: QuickStartContext) -> None:
    ctx.log.append("fetch_user_data")
    if not ctx.user_id:
        raise ValueError("Auth failed")
    await asyncio.sleep(0)
    ctx.fetched = True


def quick_start_graph(
    builder: Any, check_auth: Callable[[QuickStartContext], Awaitable[None]] = qs_check_auth
) -> AsyncDagTaskProcessor[QuickStartContext, str]:
    processor = (
        builder.add_task(
            AsyncTask(
                name="Database",
                pre_execute=task_func(qs_open_db),
                post_execute=task_func(qs_close_db),
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(name="Auth", pre_execute=task_func(check_auth)), depends_on=("Database",)
        )
        .add_task(
            AsyncTask(name="Flags", pre_execute=task_func(qs_load_feature_flags)),
            depends_on=("Database",),
        )
        .add_task(
            AsyncTask(name="Fetch", execute=task_func(qs_fetch_user_data)), depends_on=("Auth",)
        )
        .build()
    )
    return cast(AsyncDagTaskProcessor[QuickStartContext, str], processor)


def assert_quick_start_order(ctx: QuickStartContext) -> None:
    log = ctx.log
    assert log[0] == "open_db"
    # Auth and Flags start after the database and overlap each other.
    assert position(log, "check_auth.start") > position(log, "open_db")
    assert position(log, "load_feature_flags.start") > position(log, "open_db")
    assert position(log, "load_feature_flags.start") < position(log, "check_auth.end")
    # execute waits for every pre_execute, including the slower Flags.
    assert position(log, "fetch_user_data") > position(log, "check_auth.end")
    assert position(log, "fetch_user_data") > position(log, "load_feature_flags.end")
    assert log[-2:] == ["close_db", "db.close"]


async def test_quick_start_graph_runs_phases_in_dependency_order() -> None:
    processor = quick_start_graph(AsyncDagTaskProcessor[QuickStartContext, str].builder())
    ctx = QuickStartContext()
    await processor.process_tasks(ctx)

    assert_quick_start_order(ctx)
    assert ctx.user_id == 123
    assert ctx.feature_flags == {"new_api": True}
    assert ctx.fetched is True
    assert ctx.db_connection is not None
    assert ctx.db_connection.closed is True
    assert ctx.db_connection.close_calls == 1


async def test_quick_start_graph_with_single_type_argument_as_written() -> None:
    # differs from reference: AsyncDagTaskProcessor[Ctx] (one type argument, as the spec writes
    # it) works; the reference raises TypeError("Too few arguments") on Python 3.11.
    processor = quick_start_graph(
        AsyncDagTaskProcessor[QuickStartContext].builder()  # type: ignore[misc]
    )
    ctx = QuickStartContext()
    await processor.process_tasks(ctx)
    assert_quick_start_order(ctx)
    assert ctx.fetched is True


async def test_quick_start_graph_failed_auth_still_closes_database() -> None:
    processor = quick_start_graph(
        AsyncDagTaskProcessor[QuickStartContext, str].builder(), check_auth=qs_check_auth_denied
    )
    ctx = QuickStartContext()
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(ctx)

    assert leaf_summary(excinfo.value) == [(ValueError, "Auth failed")]
    assert ctx.fetched is False
    assert ctx.db_connection is not None
    assert ctx.db_connection.closed is True
    assert ctx.log[-2:] == ["close_db", "db.close"]


async def test_quick_start_level_adapter_twin_runs_the_same_lifecycle() -> None:
    processor = (
        AsyncTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "Database", pre_execute=task_func(qs_open_db), post_execute=task_func(qs_close_db)
            ),
            level=0,
        )
        .add_task(AsyncTask("Auth", pre_execute=task_func(qs_check_auth)), level=1)
        .add_task(AsyncTask("Flags", pre_execute=task_func(qs_load_feature_flags)), level=1)
        .add_task(AsyncTask("Fetch", execute=task_func(qs_fetch_user_data)), level=2)
        .build()
    )
    ctx = QuickStartContext()
    await processor.process_tasks(ctx)

    assert_quick_start_order(ctx)
    assert ctx.user_id == 123
    assert ctx.feature_flags == {"new_api": True}
    assert ctx.fetched is True
    assert ctx.db_connection is not None
    assert ctx.db_connection.close_calls == 1


# --------------------------------------------------------------------------------------------
# Cleanup guarantees: safe resource management
# --------------------------------------------------------------------------------------------


@dataclass
class LockContext:
    some_lock: FakeLock
    lock: FakeLock | None = None
    lock_acquired: bool = False
    release_calls: int = 0


async def acquire_lock(ctx: LockContext) -> None:
    ctx.lock = await ctx.some_lock.acquire()
    ctx.lock_acquired = True


async def acquire_lock_then_stall(ctx: LockContext) -> None:
    ctx.lock = await ctx.some_lock.acquire()
    # Cancelled here by a failing sibling: the lock is held but the flag is never set.
    await asyncio.Event().wait()
    ctx.lock_acquired = True


async def release_lock(ctx: LockContext) -> None:
    ctx.release_calls += 1
    if ctx.lock_acquired and ctx.lock:
        await ctx.lock.release()
    try:
        if ctx.lock:
            await ctx.lock.release()
    except Exception:
        pass  # already released or never acquired


async def failing_sibling(ctx: LockContext) -> None:
    await asyncio.sleep(0.01)
    raise ConnectionRefusedError("sibling could not connect")


def lock_processor(
    acquire: Callable[[LockContext], Awaitable[None]],
) -> AsyncDagTaskProcessor[LockContext, str]:
    return (
        AsyncDagTaskProcessor[LockContext, str]
        .builder()
        .add_task(
            AsyncTask("Lock", pre_execute=task_func(acquire), post_execute=task_func(release_lock)),
            depends_on=(),
        )
        .add_task(AsyncTask("Sibling", pre_execute=task_func(failing_sibling)), depends_on=())
        .build()
    )


@pytest.mark.parametrize(
    ("acquire", "acquired"),
    [
        pytest.param(acquire_lock, True, id="lock-taken-then-sibling-fails"),
        # The pre is cancelled midway: its cancellation is no failure of its own.
        pytest.param(acquire_lock_then_stall, False, id="own-pre-cancelled-midway"),
    ],
)
async def test_lock_is_released_once_when_a_sibling_pre_fails(
    acquire: Callable[[LockContext], Awaitable[None]], acquired: bool
) -> None:
    log: list[str] = []
    ctx = LockContext(some_lock=FakeLock(log))
    with pytest.raises(SdaxExecutionError) as excinfo:
        await lock_processor(acquire).process_tasks(ctx)

    # Only the sibling's error is reported.
    assert leaf_summary(excinfo.value) == [(ConnectionRefusedError, "sibling could not connect")]
    assert ctx.lock_acquired is acquired
    assert ctx.some_lock.held is False
    assert ctx.some_lock.release_calls == 1
    assert ctx.release_calls == 1
    assert log == ["lock.acquire", "lock.release"]


async def test_cleanup_runs_exactly_once_when_the_whole_run_is_cancelled() -> None:
    # differs from reference: cleanup runs exactly once; on outside cancellation the reference
    # starts the pre phase again and never finishes.
    log: list[str] = []
    ctx = LockContext(some_lock=FakeLock(log))
    pre_calls: list[str] = []

    async def acquire_and_wait(ctx: LockContext) -> None:
        pre_calls.append("pre")
        await acquire_lock_then_stall(ctx)

    processor = (
        AsyncDagTaskProcessor[LockContext, str]
        .builder()
        .add_task(
            AsyncTask(
                "Lock",
                pre_execute=task_func(acquire_and_wait),
                post_execute=task_func(release_lock),
            ),
            depends_on=(),
        )
        .build()
    )
    run = asyncio.create_task(processor.process_tasks(ctx))
    while not ctx.some_lock.held:
        await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, timeout=1.0)

    assert pre_calls == ["pre"]
    assert ctx.release_calls == 1
    assert ctx.some_lock.held is False
    assert log == ["lock.acquire", "lock.release"]


# --------------------------------------------------------------------------------------------
# Execution model: the advanced complex-dependency example
# --------------------------------------------------------------------------------------------


class FakeCache:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def get_cache(self) -> dict[str, Any]:
        self.log.append("cache.get")
        return {"theme": "dark"}


class FakeNotificationService:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.sent: list[int] = []

    async def send(self, user_id: int) -> None:
        self.log.append("notify.send")
        self.sent.append(user_id)


@dataclass
class DatabaseContext:
    log: list[str]
    redis_client: FakeCache
    notification_service: FakeNotificationService
    connection: FakeConnection | None = None
    user_data: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    processed: dict[str, Any] | None = None
    # All executes run together in one phase, whatever the graph says, so the stand-ins
    # that consume data wait for the ones that produce it.
    user_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    cache_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    data_processed: asyncio.Event = field(default_factory=asyncio.Event)


def process_user_data(user_data: dict[str, Any], cache: dict[str, Any]) -> dict[str, Any]:
    return {**user_data, **cache}


async def connect_db(ctx: DatabaseContext) -> None:
    ctx.log.append("connect_db")
    ctx.connection = FakeConnection(ctx.log)


async def load_user(ctx: DatabaseContext) -> None:
    assert ctx.connection is not None
    ctx.user_data = await ctx.connection.fetch_user()
    ctx.user_loaded.set()


async def load_cache(ctx: DatabaseContext) -> None:
    ctx.cache = await ctx.redis_client.get_cache()
    ctx.cache_loaded.set()


async def process_data(ctx: DatabaseContext) -> dict[str, Any]:
    await ctx.user_loaded.wait()
    await ctx.cache_loaded.wait()
    result = process_user_data(ctx.user_data, ctx.cache)
    ctx.processed = result
    ctx.data_processed.set()
    return result


async def cleanup_db(ctx: DatabaseContext) -> None:
    ctx.log.append("cleanup_db")
    if ctx.connection:
        await ctx.connection.close()


async def save_results(ctx: DatabaseContext) -> None:
    await ctx.data_processed.wait()
    assert ctx.connection is not None
    await ctx.connection.save(ctx.user_data)


async def notify_user(ctx: DatabaseContext) -> None:
    await ctx.data_processed.wait()
    await ctx.notification_service.send(ctx.user_data["user_id"])


def complex_processor() -> AsyncDagTaskProcessor[DatabaseContext, str]:
    return (
        AsyncDagTaskProcessor[DatabaseContext, str]
        .builder()
        .add_task(
            AsyncTask(
                name="ConnectDB",
                pre_execute=task_func(connect_db, timeout=5.0, retries=2),
                post_execute=task_func(cleanup_db),
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                name="LoadUser",
                execute=task_func(load_user, retryable_exceptions=(ConnectionError,)),
            ),
            depends_on=("ConnectDB",),
        )
        .add_task(
            AsyncTask(name="LoadCache", execute=task_func(load_cache, timeout=3.0)),
            depends_on=("ConnectDB",),
        )
        .add_task(
            AsyncTask(name="ProcessData", execute=task_func(process_data)),
            depends_on=("LoadUser", "LoadCache"),
        )
        .add_task(join("SyncPoint"), depends_on=("LoadUser", "LoadCache", "ProcessData"))
        .add_task(
            AsyncTask(name="SaveResults", execute=task_func(save_results)),
            depends_on=("SyncPoint",),
        )
        .add_task(
            AsyncTask(name="SendNotification", execute=task_func(notify_user)),
            depends_on=("SyncPoint",),
        )
        .build()
    )


async def test_complex_dependency_example_runs_every_task_and_cleans_up() -> None:
    log: list[str] = []
    ctx = DatabaseContext(log, FakeCache(log), FakeNotificationService(log))
    await asyncio.wait_for(complex_processor().process_tasks(ctx), timeout=1.0)

    assert log[0] == "connect_db"
    assert log[-2:] == ["cleanup_db", "db.close"]
    assert sorted(log[1:-2]) == ["cache.get", "db.fetch_user", "db.save", "notify.send"]
    assert ctx.user_data == {"user_id": 7, "name": "user-7"}
    assert ctx.cache == {"theme": "dark"}
    assert ctx.processed == {"user_id": 7, "name": "user-7", "theme": "dark"}
    assert ctx.connection is not None
    assert ctx.connection.saved == [{"user_id": 7, "name": "user-7"}]
    assert ctx.connection.close_calls == 1
    assert ctx.notification_service.sent == [7]


def test_complex_dependency_example_analysis() -> None:
    analysis = complex_processor().analysis
    assert [w.tasks for w in analysis.pre_execute_graph.waves] == [("ConnectDB",)]
    assert [w.tasks for w in analysis.post_execute_graph.waves] == [("ConnectDB",)]
    assert set(analysis.execute_task_names) == {
        "LoadUser",
        "LoadCache",
        "ProcessData",
        "SaveResults",
        "SendNotification",
    }
    assert analysis.total_tasks == 7
    assert analysis.nodes == 1
    assert analysis.dependencies["SyncPoint"] == ("LoadUser", "LoadCache", "ProcessData")


async def test_complex_dependency_example_is_reusable_across_runs() -> None:
    processor = complex_processor()
    for _ in range(2):
        log: list[str] = []
        ctx = DatabaseContext(log, FakeCache(log), FakeNotificationService(log))
        await asyncio.wait_for(processor.process_tasks(ctx), timeout=1.0)
        assert ctx.notification_service.sent == [7]
        assert ctx.connection is not None
        assert ctx.connection.close_calls == 1


# --------------------------------------------------------------------------------------------
# Execution model: failure semantics
# --------------------------------------------------------------------------------------------


def phase_recorder(
    log: list[str], label: str, *, fail: bool = False, delay: float | None = None
) -> TaskFunction[None]:
    async def run(ctx: None) -> None:
        log.append(f"{label}.start")
        if delay is not None:
            await asyncio.sleep(delay)
        if fail:
            raise ValueError(label)
        log.append(f"{label}.end")

    return task_func(run)


async def test_pre_failure_cancels_pending_pres_skips_execute_and_cleans_up_started_tasks() -> None:
    log: list[str] = []

    def rec(label: str, *, fail: bool = False, delay: float | None = None) -> TaskFunction[None]:
        return phase_recorder(log, label, fail=fail, delay=delay)

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "A", pre_execute=rec("A.pre"), execute=rec("A.exec"), post_execute=rec("A.post")
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                "Slow", pre_execute=rec("Slow.pre", delay=0.05), post_execute=rec("Slow.post")
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask("Bad", pre_execute=rec("Bad.pre", delay=0.0, fail=True)), depends_on=("A",)
        )
        .add_task(
            AsyncTask(
                "AfterSlow", pre_execute=rec("AfterSlow.pre"), post_execute=rec("AfterSlow.post")
            ),
            depends_on=("Slow",),
        )
        .add_task(AsyncTask("CleanupA", post_execute=rec("CleanupA.post")), depends_on=("A",))
        .add_task(
            AsyncTask("CleanupSlow", post_execute=rec("CleanupSlow.post")), depends_on=("Slow",)
        )
        .add_task(AsyncTask("Work", execute=rec("Work.exec")), depends_on=())
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)

    assert leaf_summary(excinfo.value) == [(ValueError, "Bad.pre")]
    # The slow pre was cancelled (started, never ended) and no later wave was started.
    assert "Slow.pre.start" in log
    assert "Slow.pre.end" not in log
    assert "AfterSlow.pre.start" not in log
    # The execute phase was skipped entirely.
    assert not [entry for entry in log if ".exec" in entry]
    # Cleanup: tasks whose pre started, plus post-only tasks whose chain succeeded.
    posts = sorted(entry for entry in log if entry.endswith(".post.end"))
    assert posts == ["A.post.end", "CleanupA.post.end", "Slow.post.end"]
    assert position(log, "A.post.start") > position(log, "CleanupA.post.end")


async def test_execute_failure_lets_other_executes_finish_and_runs_cleanup() -> None:
    # differs from reference: an execute failure does not cancel the other executes (as the
    # spec's failure semantics say); the reference cancels them.
    log: list[str] = []
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "Fails",
                execute=phase_recorder(log, "Fails.exec", fail=True, delay=0.0),
                post_execute=phase_recorder(log, "Fails.post"),
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                "Slow",
                execute=phase_recorder(log, "Slow.exec", delay=0.02),
                post_execute=phase_recorder(log, "Slow.post"),
            ),
            depends_on=(),
        )
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)

    assert leaf_summary(excinfo.value) == [(ValueError, "Fails.exec")]
    assert "Slow.exec.end" in log
    assert position(log, "Slow.post.start") > position(log, "Slow.exec.end")
    assert "Fails.post.end" in log


async def test_post_failure_does_not_cancel_other_cleanup_and_is_aggregated() -> None:
    log: list[str] = []
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "Root",
                pre_execute=phase_recorder(log, "Root.pre"),
                post_execute=phase_recorder(log, "Root.post", fail=True),
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                "Slow",
                pre_execute=phase_recorder(log, "Slow.pre"),
                post_execute=phase_recorder(log, "Slow.post", delay=0.02),
            ),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                "Child",
                pre_execute=phase_recorder(log, "Child.pre"),
                post_execute=phase_recorder(log, "Child.post", fail=True, delay=0.0),
            ),
            depends_on=("Root",),
        )
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)

    assert leaf_summary(excinfo.value) == [(ValueError, "Child.post"), (ValueError, "Root.post")]
    # The child's failed cleanup does not stop its parent's cleanup, nor the sibling's.
    assert position(log, "Root.post.start") > position(log, "Child.post.start")
    assert "Slow.post.end" in log


async def test_post_waits_only_for_the_posts_of_its_dependents() -> None:
    # differs from reference: a post waits only for the posts of tasks that depend on it; the
    # reference also waits for unrelated branches that share its cleanup wave.
    log: list[str] = []

    def rec(label: str, delay: float | None = None) -> TaskFunction[None]:
        return phase_recorder(log, label, delay=delay)

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("Base", pre_execute=rec("Base.pre"), post_execute=rec("Base.post")))
        .add_task(
            AsyncTask("Top", pre_execute=rec("Top.pre"), post_execute=rec("Top.post")),
            depends_on=("Base",),
        )
        .add_task(
            AsyncTask("OtherBase", pre_execute=rec("OtherBase.pre"), post_execute=rec("OB.post")),
            depends_on=(),
        )
        .add_task(
            AsyncTask(
                "OtherTop", pre_execute=rec("OtherTop.pre"), post_execute=rec("OT.post", 0.03)
            ),
            depends_on=("OtherBase",),
        )
        .build()
    )
    await processor.process_tasks(None)
    assert position(log, "Base.post.start") > position(log, "Top.post.end")
    assert position(log, "OB.post.start") > position(log, "OT.post.end")
    # Base's cleanup does not wait for the slow, unrelated OtherTop cleanup.
    assert position(log, "Base.post.end") < position(log, "OT.post.end")


# --------------------------------------------------------------------------------------------
# The elevator pattern (level adapter)
# --------------------------------------------------------------------------------------------


async def test_elevator_pattern_levels_up_execute_then_levels_down() -> None:
    log: list[str] = []

    def rec(label: str) -> TaskFunction[None]:
        return phase_recorder(log, label, delay=0.0)

    def full(name: str, with_execute: bool = True) -> AsyncTask[None, str]:
        return AsyncTask(
            name,
            pre_execute=rec(f"{name}.pre"),
            execute=rec(f"{name}.exec") if with_execute else None,
            post_execute=rec(f"{name}.post"),
        )

    processor = (
        AsyncTaskProcessor.builder()
        .add_task(full("A"), level=1)
        .add_task(full("B"), level=1)
        .add_task(full("C", with_execute=False), level=1)
        .add_task(full("D"), level=2)
        .add_task(full("E"), level=2)
        .build()
    )
    await processor.process_tasks(None)

    level1, level2 = ["A", "B", "C"], ["D", "E"]
    # 1. Within a level, pres run in parallel: all start before any ends.
    assert max(position(log, f"{n}.pre.start") for n in level1) < min(
        position(log, f"{n}.pre.end") for n in level1
    )
    # 2. Levels are sequential.
    assert min(position(log, f"{n}.pre.start") for n in level2) > max(
        position(log, f"{n}.pre.end") for n in level1
    )
    # 3. execute runs after all pre phases, for the tasks that have one.
    execs = [entry for entry in log if entry.endswith(".exec.start")]
    assert sorted(execs) == ["A.exec.start", "B.exec.start", "D.exec.start", "E.exec.start"]
    assert min(log.index(e) for e in execs) > max(
        position(log, f"{n}.pre.end") for n in level1 + level2
    )
    # 4. post runs in reverse level order, after every execute.
    assert min(position(log, f"{n}.post.start") for n in level2) > max(
        position(log, f"{n}.exec.end") for n in ["A", "B", "D", "E"]
    )
    assert min(position(log, f"{n}.post.start") for n in level1) > max(
        position(log, f"{n}.post.end") for n in level2
    )


async def test_elevator_failure_cancels_remaining_tasks_but_cleanup_still_runs() -> None:
    log: list[str] = []

    def rec(label: str, *, fail: bool = False, delay: float | None = None) -> TaskFunction[None]:
        return phase_recorder(log, label, fail=fail, delay=delay)

    processor = (
        AsyncTaskProcessor.builder()
        .add_task(AsyncTask("Conn", pre_execute=rec("Conn.pre"), post_execute=rec("Conn.post")), 1)
        .add_task(AsyncTask("Bad", pre_execute=rec("Bad.pre", fail=True, delay=0.0)), 2)
        .add_task(
            AsyncTask(
                "Slow", pre_execute=rec("Slow.pre", delay=0.05), post_execute=rec("Slow.post")
            ),
            2,
        )
        .add_task(AsyncTask("Late", pre_execute=rec("Late.pre"), post_execute=rec("Late.post")), 3)
        .add_task(AsyncTask("Work", execute=rec("Work.exec")), 3)
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)

    assert leaf_summary(excinfo.value) == [(ValueError, "Bad.pre")]
    assert "Slow.pre.end" not in log
    assert "Late.pre.start" not in log
    assert "Work.exec.start" not in log
    assert position(log, "Conn.post.start") > position(log, "Slow.post.end")
    assert "Late.post.start" not in log


# --------------------------------------------------------------------------------------------
# Error handling
# --------------------------------------------------------------------------------------------


class CriticalError(Exception):
    pass


def failing_processor(
    execute_error: BaseException, post_error: BaseException
) -> AsyncDagTaskProcessor[None, str]:
    async def execute(ctx: None) -> None:
        raise execute_error

    async def post(ctx: None) -> None:
        raise post_error

    async def fine(ctx: None) -> None:
        pass

    return (
        AsyncDagTaskProcessor[None, str]
        .builder()
        .add_task(AsyncTask("Validate", pre_execute=task_func(fine), execute=task_func(execute)))
        .add_task(AsyncTask("Remote", pre_execute=task_func(fine), post_execute=task_func(post)))
        .build()
    )


async def test_error_handling_inspects_leaf_exceptions_and_flattened_failures() -> None:
    processor = failing_processor(ValueError("bad input"), TimeoutError())
    handled: list[str] = []
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    exc = excinfo.value
    assert isinstance(exc, ExceptionGroup)

    for leaf in exc.leaf_exceptions():
        if isinstance(leaf, ValueError):
            handled.append(f"validation:{leaf}")
        elif isinstance(leaf, asyncio.TimeoutError):
            handled.append("timeout")
        else:
            handled.append(f"other:{leaf!r}")
    assert sorted(handled) == ["timeout", "validation:bad input"]

    failures = flatten_exceptions(exc)
    assert sorted(type(f).__name__ for f in failures) == ["TimeoutError", "ValueError"]
    assert not any(isinstance(f, CriticalError) for f in failures)


async def test_error_handling_escalates_a_critical_error() -> None:
    processor = failing_processor(CriticalError("disk on fire"), KeyError("cleanup"))
    with pytest.raises(SdaxExecutionError) as excinfo:
        try:
            await processor.process_tasks(None)
        except SdaxExecutionError as exc:
            failures = flatten_exceptions(exc)
            if any(isinstance(f, CriticalError) for f in failures):
                raise  # escalate
    assert leaf_summary(excinfo.value) == [
        (CriticalError, "disk on fire"),
        (KeyError, "'cleanup'"),
    ]


async def test_error_handling_except_star_clauses_match_leaves() -> None:
    processor = failing_processor(ValueError("bad input"), ConnectionResetError("peer gone"))
    caught: list[str] = []
    try:
        await processor.process_tasks(None)
    except* ValueError as group:
        caught.extend(f"value:{e}" for e in flatten_exceptions(group))
    except* ConnectionError as group:
        caught.extend(f"conn:{e}" for e in flatten_exceptions(group))
    assert sorted(caught) == ["conn:peer gone", "value:bad input"]


async def test_execution_error_leaves_are_the_original_exceptions() -> None:
    # differs from reference: SdaxExecutionError's leaves are the original exceptions (flat);
    # the reference wraps each one in a TaskGroup's ExceptionGroup.
    original = ValueError("bad input")
    processor = failing_processor(original, KeyError("cleanup"))
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    direct = excinfo.value.exceptions
    assert not any(isinstance(e, BaseExceptionGroup) for e in direct)
    assert any(e is original for e in direct)
    assert sorted(type(e).__name__ for e in direct) == ["KeyError", "ValueError"]


# --------------------------------------------------------------------------------------------
# Generic key types
# --------------------------------------------------------------------------------------------


@dataclass
class KeyContext:
    log: list[str] = field(default_factory=list)


def key_step(label: str) -> TaskFunction[KeyContext]:
    async def run(ctx: KeyContext) -> None:
        ctx.log.append(label)

    return task_func(run)


async def test_default_string_keys_example() -> None:
    processor = (
        AsyncDagTaskProcessor[KeyContext, str]
        .builder()
        .add_task(AsyncTask(name="Database", execute=key_step("open_db")), depends_on=())
        .add_task(AsyncTask(name="Auth", execute=key_step("check_auth")), depends_on=("Database",))
        .build()
    )
    ctx = KeyContext()
    await processor.process_tasks(ctx)
    assert sorted(ctx.log) == ["check_auth", "open_db"]
    assert processor.analysis.dependencies == {"Database": (), "Auth": ("Database",)}


async def test_tuple_keys_of_one_shape_drive_the_graph() -> None:
    processor = (
        AsyncDagTaskProcessor[KeyContext, tuple[str, str]]
        .builder()
        .add_task(
            AsyncTask(name=("database", "connect"), pre_execute=key_step("db")), depends_on=()
        )
        .add_task(
            AsyncTask(name=("auth", "validate"), pre_execute=key_step("auth")),
            depends_on=(("database", "connect"),),
        )
        .build()
    )
    ctx = KeyContext()
    await processor.process_tasks(ctx)
    assert ctx.log == ["db", "auth"]
    waves = processor.analysis.pre_execute_graph.waves
    assert [w.tasks for w in waves] == [(("database", "connect"),), (("auth", "validate"),)]


async def test_custom_key_types_example_mixes_key_shapes_in_one_graph() -> None:
    # differs from reference: mixed key types work; ("database", "connect") and
    # (1, "high_priority") cannot be ordered, and the reference raises TypeError sorting them.
    processor = (
        AsyncDagTaskProcessor[KeyContext, Hashable]
        .builder()
        .add_task(
            AsyncTask(name=("database", "connect"), pre_execute=key_step("db")), depends_on=()
        )
        .add_task(
            AsyncTask(name=("auth", "validate"), pre_execute=key_step("auth")),
            depends_on=(("database", "connect"),),
        )
        .add_task(
            AsyncTask(name=(1, "high_priority"), pre_execute=key_step("important")), depends_on=()
        )
        .build()
    )
    ctx = KeyContext()
    await processor.process_tasks(ctx)
    assert sorted(ctx.log) == ["auth", "db", "important"]
    assert ctx.log.index("auth") > ctx.log.index("db")
    root = processor.analysis.pre_wave_containing(("database", "connect"))
    assert root is not None
    assert set(root.tasks) == {("database", "connect"), (1, "high_priority")}


async def test_frozenset_keys_drive_the_graph() -> None:
    first, second = frozenset(["a", "b"]), frozenset(["c"])
    processor = (
        AsyncDagTaskProcessor[KeyContext, frozenset[str]]
        .builder()
        .add_task(AsyncTask(name=first, pre_execute=key_step("first")), depends_on=())
        .add_task(
            AsyncTask(name=second, pre_execute=key_step("second")),
            depends_on=(frozenset(["b", "a"]),),
        )
        .build()
    )
    ctx = KeyContext()
    await processor.process_tasks(ctx)
    assert ctx.log == ["first", "second"]
    assert processor.analysis.dependencies[second] == (first,)


@pytest.mark.parametrize(
    "bad_name",
    [["list", "not_hashable"], {"dict": "not_hashable"}, {"set", "not_hashable"}],
    ids=["list", "dict", "set"],
)
def test_unhashable_task_name_is_rejected_with_type_error(bad_name: Any) -> None:
    with pytest.raises(TypeError):
        (
            AsyncDagTaskProcessor.builder()
            .add_task(AsyncTask(name=bad_name, execute=key_step("never")), depends_on=())
            .build()
        )


# --------------------------------------------------------------------------------------------
# Per-task configuration: timeouts, retries, backoff
# --------------------------------------------------------------------------------------------


async def test_timeouts_are_retried_until_an_attempt_finishes_in_time() -> None:
    attempts: list[int] = []

    async def call_external_api(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            await asyncio.Event().wait()  # never answers: times out

    tf = task_func(call_external_api, timeout=0.01, retries=3, initial_delay=0, backoff_factor=2.0)
    assert (tf.timeout, tf.retries, tf.initial_delay, tf.backoff_factor) == (0.01, 3, 0, 2.0)
    processor = AsyncDagTaskProcessor.builder().add_task(AsyncTask("FlakeyAPI", execute=tf)).build()
    await processor.process_tasks(None)
    assert attempts == [1, 2, 3]


async def test_exhausted_timeout_retries_report_a_timeout_error() -> None:
    attempts: list[int] = []

    async def never_answers(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        await asyncio.Event().wait()

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "FlakeyAPI",
                execute=task_func(never_answers, timeout=0.01, retries=1, initial_delay=0),
            )
        )
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    assert attempts == [1, 2]
    assert [type(e) for e in flatten_exceptions(excinfo.value)] == [TimeoutError]


async def test_backoff_retries_connection_errors_with_small_delays() -> None:
    attempts: list[int] = []

    async def call_external_api(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= 3:
            raise ConnectionError(f"attempt {len(attempts)}")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "FlakeyAPI",
                execute=task_func(
                    call_external_api, retries=3, initial_delay=0.001, backoff_factor=2.0
                ),
            )
        )
        .build()
    )
    await processor.process_tasks(None)
    assert attempts == [1, 2, 3, 4]


async def test_errors_outside_the_retryable_set_are_not_retried() -> None:
    attempts: list[int] = []

    async def call_external_api(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        raise ValueError("not retryable by default")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask("Once", execute=task_func(call_external_api, retries=3, initial_delay=0))
        )
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    assert attempts == [1]
    assert leaf_summary(excinfo.value) == [(ValueError, "not retryable by default")]


# --------------------------------------------------------------------------------------------
# Task group integration
# --------------------------------------------------------------------------------------------


async def test_task_group_parent_gathers_its_subtasks() -> None:
    async def subtask_a() -> int:
        await asyncio.sleep(0)
        return 2

    async def subtask_b() -> int:
        return 40

    async def parent_task(ctx: dict[str, Any], tg: SdaxTaskGroup) -> Any:
        subtask1 = tg.create_task(subtask_a(), name="subtask_a")
        subtask2 = tg.create_task(subtask_b(), name="subtask_b")
        result1, result2 = await asyncio.gather(subtask1, subtask2)
        ctx["total"] = result1 + result2
        return result1 + result2

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(AsyncTask(name="ParentTask", execute=task_group_func(parent_task)))
        .build()
    )
    ctx: dict[str, Any] = {}
    await processor.process_tasks(ctx)
    assert ctx == {"total": 42}


async def test_task_group_early_return_still_waits_for_subtasks() -> None:
    log: list[str] = []

    async def sleeper(label: str, delay: float) -> None:
        await asyncio.sleep(delay)
        log.append(f"{label}.done")

    async def parent_task(ctx: None, tg: SdaxTaskGroup) -> str:
        tg.create_task(sleeper("slow_task", 0.03), name="slow_task")
        tg.create_task(sleeper("faster_task", 0.01), name="faster_task")
        log.append("parent.return")
        return "parent_done"

    async def cleanup(ctx: None) -> None:
        log.append("parent.post")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "Parent", execute=task_group_func(parent_task), post_execute=task_func(cleanup)
            )
        )
        .build()
    )
    await processor.process_tasks(None)
    # The execute phase is not over (and cleanup does not start) until both subtasks finish.
    assert log == ["parent.return", "faster_task.done", "slow_task.done", "parent.post"]


async def test_task_group_subtask_failure_fails_the_task() -> None:
    log: list[str] = []

    async def broken() -> None:
        raise KeyError("subtask broke")

    async def parent_task(ctx: None, tg: SdaxTaskGroup) -> str:
        tg.create_task(broken(), name="broken")
        return "parent_done"

    async def setup(ctx: None) -> None:
        log.append("setup")

    async def cleanup(ctx: None) -> None:
        log.append("cleanup")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "Parent",
                pre_execute=task_func(setup),
                execute=task_group_func(parent_task),
                post_execute=task_func(cleanup),
            )
        )
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    assert leaf_summary(excinfo.value) == [(KeyError, "'subtask broke'")]
    assert log == ["setup", "cleanup"]


# --------------------------------------------------------------------------------------------
# Phase-by-phase execution
# --------------------------------------------------------------------------------------------


@dataclass
class RunnerContext:
    log: list[str] = field(default_factory=list)
    audits: list[str] = field(default_factory=list)


def runner_processor(*, pre_fails: bool = False) -> AsyncDagTaskProcessor[RunnerContext, LevelKey]:
    def step(label: str, fail: bool = False) -> TaskFunction[RunnerContext]:
        async def run(ctx: RunnerContext) -> None:
            ctx.log.append(label)
            if fail:
                raise ValueError(label)

        return task_func(run)

    return (
        AsyncTaskProcessor[RunnerContext, str]
        .builder()
        .add_task(
            AsyncTask(
                "Resource",
                pre_execute=step("Resource.pre"),
                execute=step("Resource.exec"),
                post_execute=step("Resource.post"),
            ),
            level=0,
        )
        .add_task(
            AsyncTask(
                "Check",
                pre_execute=step("Check.pre", fail=pre_fails),
                execute=step("Check.exec"),
                post_execute=step("Check.post"),
            ),
            level=1,
        )
        .build()
    )


async def test_phase_by_phase_runner_example() -> None:
    ctx = RunnerContext()
    processor = runner_processor()
    async with processor.open(ctx) as runner:
        assert runner.next_phase_id() is PhaseId.PRE_EXEC
        assert runner.last_phase_id() is None
        while await runner.run_next():
            match runner.last_phase_id():
                case PhaseId.PRE_EXEC:
                    ctx.audits.append(f"pre:{len(ctx.log)}")
                case PhaseId.EXECUTE:
                    ctx.audits.append(f"exec:{len(ctx.log)}")
                case PhaseId.POST_EXEC:
                    ctx.audits.append("post")

        assert runner.has_failures() is False
        assert runner.failures() == []
        runner.raise_failures()  # nothing to raise
        # run_next() reports whether another phase remains, so the loop ends right after post.
        assert runner.last_phase_id() is PhaseId.POST_EXEC
        assert runner.next_phase_id() is None
        assert await runner.run_next() is False

    assert ctx.audits == ["pre:2", "exec:4"]
    assert ctx.log[:2] == ["Resource.pre", "Check.pre"]
    assert sorted(ctx.log[2:4]) == ["Check.exec", "Resource.exec"]
    assert ctx.log[4:] == ["Check.post", "Resource.post"]


async def test_phase_by_phase_runner_reports_failures() -> None:
    ctx = RunnerContext()
    logged: list[BaseException] = []
    phases: list[tuple[PhaseId | None, PhaseId | None]] = []
    # Assertions stay outside the block: leaving it raises the run's failures.
    with pytest.raises(SdaxExecutionError) as exit_excinfo:
        async with runner_processor(pre_fails=True).open(ctx) as runner:
            while await runner.run_next():
                phases.append((runner.last_phase_id(), runner.next_phase_id()))

            if runner.has_failures():
                try:
                    runner.raise_failures()
                except SdaxExecutionError as exc:
                    for failure in flatten_exceptions(exc):
                        logged.append(failure)

    # After a failed pre phase, execute is skipped: cleanup comes next and ends the loop.
    assert phases == [(PhaseId.PRE_EXEC, PhaseId.POST_EXEC)]
    assert [(type(e), str(e)) for e in logged] == [(ValueError, "Check.pre")]
    # Leaving the block does not swallow the failures.
    assert leaf_summary(exit_excinfo.value) == [(ValueError, "Check.pre")]
    assert "Resource.exec" not in ctx.log
    assert ctx.log[-2:] == ["Check.post", "Resource.post"]


async def test_runner_failures_returns_the_leaf_exceptions() -> None:
    # differs from reference: runner.failures() returns the leaf exceptions; the reference
    # returns the TaskGroup's ExceptionGroup wrappers.
    ctx = RunnerContext()
    seen: list[tuple[bool, list[BaseException]]] = []
    with pytest.raises(SdaxExecutionError):
        async with runner_processor(pre_fails=True).open(ctx) as runner:
            await runner.run_next()
            seen.append((runner.has_failures(), runner.failures()))
    assert len(seen) == 1
    has_failures, failures = seen[0]
    assert has_failures is True
    assert [(type(e), str(e)) for e in failures] == [(ValueError, "Check.pre")]


async def test_runner_leaving_before_any_phase_runs_nothing() -> None:
    ctx = RunnerContext()
    async with runner_processor().open(ctx) as runner:
        assert runner.has_failures() is False
    assert ctx.log == []


async def test_runner_leaving_after_pre_skips_execute_but_cleans_up() -> None:
    ctx = RunnerContext()
    async with runner_processor().open(ctx) as runner:
        assert await runner.run_next() is True
        assert runner.last_phase_id() is PhaseId.PRE_EXEC
    assert ctx.log == ["Resource.pre", "Check.pre", "Check.post", "Resource.post"]


async def test_runner_leaving_after_execute_finishes_cleanup() -> None:
    ctx = RunnerContext()
    async with runner_processor().open(ctx) as runner:
        await runner.run_next()
        await runner.run_next()
        assert runner.last_phase_id() is PhaseId.EXECUTE
    assert ctx.log[-2:] == ["Check.post", "Resource.post"]
    assert len(ctx.log) == 6


async def test_run_next_on_a_closed_runner_returns_false() -> None:
    # differs from reference: run_next() on a closed runner returns False; the reference
    # raises RuntimeError.
    ctx = RunnerContext()
    async with runner_processor().open(ctx) as runner:
        await runner.run_next()
    assert await runner.run_next() is False
    assert ctx.log == ["Resource.pre", "Check.pre", "Check.post", "Resource.post"]


# --------------------------------------------------------------------------------------------
# Retryable exceptions
# --------------------------------------------------------------------------------------------


class CustomRetryableError(RetryableException):
    pass


async def test_custom_retryable_exception_subclass_is_retried() -> None:
    attempts: list[int] = []

    async def my_function(ctx: dict[str, Any]) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise CustomRetryableError(f"attempt {len(attempts)}")
        ctx["ok"] = True

    processor = (
        AsyncDagTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(
            AsyncTask(
                "Custom",
                execute=task_func(
                    my_function,
                    retries=3,
                    initial_delay=0,
                    retryable_exceptions=(TimeoutError, CustomRetryableError),
                ),
            )
        )
        .build()
    )
    ctx: dict[str, Any] = {}
    await processor.process_tasks(ctx)
    assert attempts == [1, 2, 3]
    assert ctx == {"ok": True}


async def test_retryable_exception_is_retried_by_default() -> None:
    attempts: list[int] = []

    async def my_function(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise CustomRetryableError("first")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("Default", execute=task_func(my_function, retries=1, initial_delay=0)))
        .build()
    )
    await processor.process_tasks(None)
    assert attempts == [1, 2]


async def test_exhausted_retryable_exception_is_reported_once_per_run() -> None:
    # differs from reference: RetryableException is an Exception subclass, so an exhausted
    # retry is reported in SdaxExecutionError after retries + 1 attempts; the reference's
    # BaseException subclass escapes as a bare BaseExceptionGroup after extra attempts.
    attempts: list[int] = []

    async def my_function(ctx: None) -> None:
        attempts.append(len(attempts) + 1)
        raise CustomRetryableError("still failing")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("Exhaust", execute=task_func(my_function, retries=2, initial_delay=0)))
        .build()
    )
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(None)
    assert attempts == [1, 2, 3]
    assert leaf_summary(excinfo.value) == [(CustomRetryableError, "still failing")]


# --------------------------------------------------------------------------------------------
# Shared context, concurrent execution, mixing sync and async
# --------------------------------------------------------------------------------------------


@dataclass
class SharedContext:
    user_id: int | None = None
    permissions: list[str] = field(default_factory=list)
    db_connection: Any = None
    seen_user_id: int | None = None


async def test_shared_context_carries_data_between_tasks() -> None:
    async def task_a(ctx: SharedContext) -> None:
        await asyncio.sleep(0)
        ctx.user_id = 123

    async def task_b(ctx: SharedContext) -> None:
        ctx.seen_user_id = ctx.user_id
        ctx.permissions.append("read")

    processor = (
        AsyncDagTaskProcessor[SharedContext, str]
        .builder()
        .add_task(AsyncTask("A", pre_execute=task_func(task_a)))
        .add_task(AsyncTask("B", pre_execute=task_func(task_b)), depends_on=("A",))
        .build()
    )
    ctx = SharedContext()
    await processor.process_tasks(ctx)
    assert (ctx.user_id, ctx.seen_user_id, ctx.permissions) == (123, 123, ["read"])


class FakePool:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.handed_out: list[FakeConnection] = []

    async def acquire(self) -> FakeConnection:
        conn = FakeConnection(self.log, label=f"conn{len(self.handed_out)}")
        self.handed_out.append(conn)
        await asyncio.sleep(0)
        return conn


@dataclass
class RequestContext:
    user_id: int
    db_pool: FakePool
    db_connection: FakeConnection | None = None
    api_results: dict[str, Any] = field(default_factory=dict)


async def test_one_processor_serves_several_contexts_concurrently() -> None:
    async def open_db(ctx: RequestContext) -> None:
        ctx.db_connection = await ctx.db_pool.acquire()

    async def fetch_user_data(ctx: RequestContext) -> None:
        assert ctx.db_connection is not None
        # Smaller ids wait longer, so the runs finish in an order unlike their start.
        await asyncio.sleep(0.001 * (1000 - ctx.user_id) / 100)
        ctx.api_results["user"] = await ctx.db_connection.fetch_user(ctx.user_id)

    async def close_db(ctx: RequestContext) -> None:
        if ctx.db_connection:
            await ctx.db_connection.close()

    processor = (
        AsyncTaskProcessor[RequestContext, str]
        .builder()
        .add_task(
            AsyncTask("DB", pre_execute=task_func(open_db), post_execute=task_func(close_db)),
            level=1,
        )
        .add_task(AsyncTask("Fetch", execute=task_func(fetch_user_data)), level=2)
        .build()
    )
    pool = FakePool()
    contexts = [RequestContext(user_id=uid, db_pool=pool) for uid in (123, 456, 789)]
    await asyncio.gather(*(processor.process_tasks(ctx) for ctx in contexts))

    for ctx in contexts:
        assert ctx.api_results == {"user": {"user_id": ctx.user_id, "name": f"user-{ctx.user_id}"}}
        assert ctx.db_connection is not None
        assert ctx.db_connection.close_calls == 1
    assert len({id(ctx.db_connection) for ctx in contexts}) == 3
    assert len(pool.handed_out) == 3


async def test_mixing_sync_and_async_functions_in_one_level() -> None:
    def sync_data_processor(ctx: dict[str, Any]) -> None:
        ctx["processed_data"] = []
        for item in ctx.get("raw_data", []):
            ctx["processed_data"].append(item * 2)
        ctx["processing_complete"] = True

    async def async_api_call(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        ctx["api_data"] = {"status": "ok"}

    def validate_user_input(ctx: dict[str, Any]) -> None:
        user_id = ctx.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise ValueError("Invalid user ID")
        ctx["validated"] = True

    def format_response_data(ctx: dict[str, Any]) -> None:
        ctx["formatted_data"] = {
            "user_id": ctx["user_id"],
            "timestamp": ctx.get("timestamp", "unknown"),
        }

    processor = (
        AsyncTaskProcessor[dict[str, Any], str]
        .builder()
        .add_task(AsyncTask("Validate", pre_execute=task_sync_func(validate_user_input)), level=0)
        .add_task(AsyncTask("ProcessData", execute=task_sync_func(sync_data_processor)), level=1)
        .add_task(AsyncTask("FetchAPI", execute=task_func(async_api_call)), level=1)
        .add_task(AsyncTask("Format", post_execute=task_sync_func(format_response_data)), level=2)
        .build()
    )
    ctx: dict[str, Any] = {"raw_data": [1, 2, 3], "user_id": 5}
    await processor.process_tasks(ctx)
    assert ctx["processed_data"] == [2, 4, 6]
    assert ctx["processing_complete"] is True
    assert ctx["api_data"] == {"status": "ok"}
    assert ctx["validated"] is True
    assert ctx["formatted_data"] == {"user_id": 5, "timestamp": "unknown"}

    bad: dict[str, Any] = {"raw_data": [1], "user_id": -1}
    with pytest.raises(SdaxExecutionError) as excinfo:
        await processor.process_tasks(bad)
    assert leaf_summary(excinfo.value) == [(ValueError, "Invalid user ID")]
    assert "processed_data" not in bad
