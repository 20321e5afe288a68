"""Outside cancellation and interrupts: running functions stop, owed posts run once, the
cancellation (or interrupt) reaches the caller unchanged.

"Outside" means the task running ``process_tasks`` is cancelled: by the test, by an
``asyncio.timeout``/``wait_for`` around it, or by a failing ``TaskGroup`` sibling.
Tests with a real ``KeyboardInterrupt``/``SystemExit`` run in their own event loop inside
a synchronous test, so that an engine letting the interrupt escape its loop fails the test
instead of stopping pytest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Interrupt, Recorder, no_new_pending_tasks

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    RetryableException,
    SdaxExecutionError,
    task_func,
    task_group_func,
)
from sdax.tasks import SdaxTaskGroup

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


def forever() -> asyncio.Event:
    """An event nobody sets: waiting for it lasts until cancelled."""
    return asyncio.Event()


async def outcome(task: asyncio.Task[Any]) -> BaseException | None:
    """Wait (guarded) for ``task`` and return what it raised, or None."""
    done, _ = await asyncio.wait({task}, timeout=HANG_GUARD)
    assert done, "the run did not finish"
    if task.cancelled():
        try:
            task.result()
        except asyncio.CancelledError as exc:
            return exc
    return task.exception()


def three_phase_graph(rec: Recorder, running: asyncio.Event, phase: str) -> Any:
    """A -> B -> C; the one ``phase`` of B signals ``running`` and then blocks."""
    blocking = {phase: {"before": running.set, "wait_for": forever()}}
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", pre={"steps": 1}, exec={"steps": 1}, post={"steps": 1}))
        .add_task(rec.task("B", **blocking), depends_on=("A",))
        .add_task(rec.task("C"), depends_on=("B",))
        .add_task(rec.task("D", exec={"steps": 30}))
        .build()
    )


async def test_cancel_during_pre() -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = three_phase_graph(rec, running, PRE)
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        await running.wait()
        outer.cancel()
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert outer.cancelled()
    assert rec.events("B", PRE) == ["start", "cancel"]
    assert rec.count("C", PRE) == 0
    assert rec.names(EXEC) == []
    for name in ("A", "B", "D"):
        assert rec.events(name, POST) == ["start", "end"]
    assert rec.count("C", POST) == 0
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))


async def test_cancel_during_execute() -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = three_phase_graph(rec, running, EXEC)
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        await running.wait()
        outer.cancel()
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert rec.events("B", EXEC) == ["start", "cancel"]
    assert rec.events("D", EXEC) == ["start", "cancel"]
    for name in "ABCD":
        assert rec.count(name, PRE) == 1
        assert rec.events(name, POST) == ["start", "end"]
    assert rec.before(("C", POST, "end"), ("B", POST, "start"))
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))


async def test_cancel_during_post_does_not_cut_running_posts_short() -> None:
    rec = Recorder()
    running = asyncio.Event()
    gate = asyncio.Event()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", post={"steps": 2}))
        .add_task(rec.task("B", post={"before": running.set, "wait_for": gate}), depends_on=("A",))
        .add_task(rec.task("C", post={"steps": 3}))
        .build()
    )
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        await running.wait()
        outer.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not outer.done()
        gate.set()
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    for name in "ABC":
        assert rec.events(name, POST) == ["start", "end"]
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))


async def test_second_cancel_during_cleanup_still_runs_every_post_once() -> None:
    rec = Recorder()
    running = asyncio.Event()
    post_running = asyncio.Event()
    gate = asyncio.Event()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", post={"steps": 2}))
        .add_task(
            rec.task(
                "B",
                pre={"before": running.set, "wait_for": forever()},
                post={"before": post_running.set, "wait_for": gate},
            ),
            depends_on=("A",),
        )
        .build()
    )
    outer = asyncio.create_task(processor.process_tasks({}))
    await running.wait()
    outer.cancel()
    await post_running.wait()
    outer.cancel()
    await asyncio.sleep(0)
    gate.set()
    exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert rec.events("B", POST) == ["start", "end"]
    assert rec.events("A", POST) == ["start", "end"]


async def test_asyncio_timeout_around_run_raises_timeout_error_after_cleanup() -> None:
    rec = Recorder()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", exec={"wait_for": forever()}))
        .add_task(rec.task("B"), depends_on=("A",))
        .build()
    )
    with no_new_pending_tasks():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await processor.process_tasks({})
    assert rec.events("A", EXEC) == ["start", "cancel"]
    assert rec.events("B", POST) == ["start", "end"]
    assert rec.events("A", POST) == ["start", "end"]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_asyncio_timeout_expiring_during_pre() -> None:
    rec = Recorder()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", pre={"wait_for": forever()}))
        .add_task(rec.task("B", pre={"steps": 1}))
        .add_task(rec.task("C"), depends_on=("A",))
        .build()
    )
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await processor.process_tasks({})
    assert rec.events("A", PRE) == ["start", "cancel"]
    assert rec.count("C", PRE) == 0
    assert rec.names(EXEC) == []
    assert rec.count("A", POST, "end") == 1
    assert rec.count("B", POST, "end") == 1
    assert rec.count("C", POST) == 0


async def test_wait_for_around_run_raises_timeout_error_after_cleanup() -> None:
    rec = Recorder()
    processor = (
        AsyncDagTaskProcessor.builder().add_task(rec.task("A", pre={"wait_for": forever()})).build()
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(processor.process_tasks({}), 0.01)
    assert rec.events("A", PRE) == ["start", "cancel"]
    assert rec.events("A", POST) == ["start", "end"]


async def test_failing_task_group_sibling_cancels_the_run() -> None:
    rec = Recorder()
    running = asyncio.Event()
    sibling_error = ValueError("sibling")
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", exec={"before": running.set, "wait_for": forever()}))
        .build()
    )

    async def sibling() -> None:
        await running.wait()
        raise sibling_error

    with pytest.raises(ExceptionGroup) as info:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(processor.process_tasks({}))
            tg.create_task(sibling())
    assert info.value.exceptions == (sibling_error,)
    assert rec.events("A", EXEC) == ["start", "cancel"]
    assert rec.events("A", POST) == ["start", "end"]


@pytest.mark.parametrize("phase", ["pre_execute", "execute", "post_execute"])
async def test_cancel_and_failure_at_the_same_moment_reports_the_cancel(phase: str) -> None:
    """The failing function cancels the caller, then raises, after having suspended."""
    rec = Recorder()
    holder: list[asyncio.Task[None]] = []

    async def cancel_then_fail(ctx: Any) -> None:
        await asyncio.sleep(0)
        holder[0].cancel()
        raise ValueError("same moment")

    functions: dict[str, Any] = {phase: task_func(cancel_then_fail)}
    if phase != "post_execute":
        functions["post_execute"] = rec.tf("X", POST)
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A"))
        .add_task(AsyncTask("X", **functions), depends_on=("A",))
        .add_task(rec.task("Y", pre={"steps": 2}, exec={"steps": 5}), depends_on=("A",))
        .build()
    )
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        holder.append(outer)
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError), f"got {exc!r}"
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.events("Y", POST) == ["start", "end"]
    if phase != "post_execute":
        assert rec.events("X", POST) == ["start", "end"]


@pytest.mark.parametrize("phase", ["pre_execute", "execute", "post_execute"])
async def test_cancel_and_failure_without_suspending_reports_the_cancel(phase: str) -> None:
    holder: list[asyncio.Task[None]] = []
    rec = Recorder()

    async def cancel_then_fail(ctx: Any) -> None:
        holder[0].cancel()
        raise ValueError("same moment")

    functions: dict[str, Any] = {phase: task_func(cancel_then_fail)}
    if phase != "post_execute":
        functions["post_execute"] = rec.tf("X", POST)
    processor = AsyncDagTaskProcessor.builder().add_task(AsyncTask("X", **functions)).build()
    outer = asyncio.create_task(processor.process_tasks({}))
    holder.append(outer)
    exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError), f"got {exc!r}"
    if phase != "post_execute":
        assert rec.events("X", POST) == ["start", "end"]


async def test_cancel_requested_by_a_phase_that_returns_at_once_is_not_lost() -> None:
    holder: list[asyncio.Task[None]] = []
    rec = Recorder()

    async def cancel_caller(ctx: Any) -> None:
        holder[0].cancel()

    async def caller() -> None:
        await processor.process_tasks({})
        await asyncio.sleep(0)  # the cancellation must be delivered here at the latest
        rec.log.clear()  # never reached

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("X", post_execute=task_func(cancel_caller)))
        .add_task(rec.task("A"))
        .build()
    )
    outer = asyncio.create_task(caller())
    holder.append(outer)
    exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert rec.count("A", POST, "end") == 1


@pytest.mark.parametrize("handling", ["swallows", "turns-into-an-error"])
async def test_a_pre_that_handles_the_cancel_does_not_keep_the_run_going(handling: str) -> None:
    # Whatever the pre does with the cancel (returns, or raises an error of
    # its own), the caller sees the cancel, nothing more starts, A's post runs once.
    rec = Recorder()
    running = asyncio.Event()

    async def handle(ctx: Any) -> None:
        running.set()
        try:
            await forever().wait()
        except asyncio.CancelledError:
            if handling == "swallows":
                return
            raise RuntimeError("cleanup inside pre failed") from None

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("A", pre_execute=task_func(handle), post_execute=rec.tf("A", POST)))
        .add_task(rec.task("B"), depends_on=("A",))
        .add_task(rec.task("C", exec={"steps": 1}))
        .build()
    )
    outer = asyncio.create_task(processor.process_tasks({}))
    await running.wait()
    outer.cancel()
    exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert rec.count("B", PRE) == 0
    assert rec.names(EXEC) == []
    assert rec.events("A", POST) == ["start", "end"]


async def test_cancel_during_retry_delay_stops_waiting() -> None:
    rec = Recorder()
    attempts: list[int] = []
    failed_once = asyncio.Event()

    async def flaky(ctx: Any) -> None:
        attempts.append(1)
        await asyncio.sleep(0)
        failed_once.set()
        raise RetryableException("again")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "A",
                pre_execute=task_func(flaky, retries=5, initial_delay=3600.0),
                post_execute=rec.tf("A", POST),
            )
        )
        .build()
    )
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        await failed_once.wait()
        await asyncio.sleep(0)
        outer.cancel()
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert len(attempts) == 1
    assert rec.events("A", POST) == ["start", "end"]


async def test_cancel_cancels_task_group_subtasks() -> None:
    rec = Recorder()
    running = asyncio.Event()
    sub_events: list[str] = []

    async def sub() -> None:
        try:
            running.set()
            await forever().wait()
        except asyncio.CancelledError:
            sub_events.append("cancelled")
            raise

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(sub())
        tg.create_task(sub())

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("G", execute=task_group_func(parent), post_execute=rec.tf("G", POST)))
        .build()
    )
    with no_new_pending_tasks():
        outer = asyncio.create_task(processor.process_tasks({}))
        await running.wait()
        outer.cancel()
        exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert sub_events == ["cancelled", "cancelled"]
    assert rec.events("G", POST) == ["start", "end"]


async def test_processor_is_reusable_after_a_cancelled_run() -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = three_phase_graph(rec, running, PRE)
    outer = asyncio.create_task(processor.process_tasks({}))
    await running.wait()
    outer.cancel()
    assert isinstance(await outcome(outer), asyncio.CancelledError)
    rec.log.clear()
    running.clear()
    again = asyncio.create_task(processor.process_tasks({}))
    await running.wait()
    again.cancel()
    assert isinstance(await outcome(again), asyncio.CancelledError)
    assert rec.events("B", PRE) == ["start", "cancel"]
    assert rec.count("A", POST, "end") == 1


# -- interrupts -------------------------------------------------------------------------


def interrupt_graph(rec: Recorder, phase: str, suspend: bool, err: BaseException) -> Any:
    async def raise_it(ctx: Any) -> None:
        if suspend:
            await asyncio.sleep(0)
        raise err

    field = {PRE: "pre_execute", EXEC: "execute", POST: "post_execute"}[phase]
    functions: dict[str, Any] = {field: task_func(raise_it)}
    if phase != POST:
        functions["post_execute"] = rec.tf("X", POST)
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", pre={"steps": 1}, post={"steps": 1}))
        .add_task(AsyncTask("X", **functions), depends_on=("A",))
        .add_task(rec.task("S", pre={"steps": 3}, exec={"steps": 3}), depends_on=("A",))
        .add_task(rec.task("after"), depends_on=("X",))
        .build()
    )


def check_interrupt_cleanup(rec: Recorder, phase: str) -> None:
    # Owed posts ran exactly once and to their end.
    assert rec.events("A", POST) == ["start", "end"]
    if phase != POST:
        assert rec.events("X", POST) == ["start", "end"]
    assert rec.count("S", POST) == rec.count("S", PRE) <= 1
    if rec.count("S", PRE):
        assert rec.count("S", POST, "end") == 1
    for name in ("A", "S", "X", "after"):
        for ph in (PRE, EXEC, POST):
            assert rec.count(name, ph) <= 1
    if phase == PRE:
        assert rec.names(EXEC) == []
        assert rec.count("after", PRE) == 0
        assert rec.count("after", POST) == 0


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
async def test_base_exception_interrupt_runs_cleanup_then_propagates(
    phase: str, suspend: bool
) -> None:
    rec = Recorder()
    err = Interrupt()
    processor = interrupt_graph(rec, phase, suspend, err)
    with no_new_pending_tasks():
        with pytest.raises(Interrupt) as info:
            async with asyncio.timeout(HANG_GUARD):
                await processor.process_tasks({})
    assert info.value is err
    check_interrupt_cleanup(rec, phase)


def run_in_own_loop(coro: Coroutine[Any, Any, str]) -> str:
    """Run ``coro`` in a fresh loop; an interrupt escaping the loop becomes a failure."""
    try:
        return asyncio.run(coro)
    except (KeyboardInterrupt, SystemExit) as exc:
        pytest.fail(f"{exc!r} escaped the event loop instead of process_tasks()")


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_run_cleanup_then_propagate(
    kind: type[BaseException], phase: str, suspend: bool
) -> None:
    rec = Recorder()
    err = kind()

    async def scenario() -> str:
        processor = interrupt_graph(rec, phase, suspend, err)
        with pytest.raises(kind) as info:
            await processor.process_tasks({})
        assert info.value is err
        return "caught"

    assert run_in_own_loop(scenario()) == "caught"
    check_interrupt_cleanup(rec, phase)


async def test_interrupt_wins_over_failures_and_failures_still_clean_up() -> None:
    rec = Recorder()
    err = Interrupt()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", exec={"steps": 1, "fail": ValueError("plain failure")}))
        .add_task(rec.task("B", exec={"steps": 2, "fail": err}))
        .build()
    )
    with pytest.raises(Interrupt) as info:
        await processor.process_tasks({})
    assert info.value is err
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.events("B", POST) == ["start", "end"]


async def test_interrupt_in_a_post_lets_the_other_posts_run() -> None:
    rec = Recorder()
    err = Interrupt()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", post={"steps": 1}))
        .add_task(rec.task("B", post={"steps": 1, "fail": err}), depends_on=("A",))
        .add_task(rec.task("C", post={"steps": 4}))
        .build()
    )
    with pytest.raises(Interrupt) as info:
        await processor.process_tasks({})
    assert info.value is err
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.events("C", POST) == ["start", "end"]
    assert rec.events("B", POST) == ["start", "fail"]


async def test_failures_are_not_raised_as_group_when_cancelled() -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("bad", exec={"fail": ValueError("exec failed")}))
        .add_task(rec.task("slow", exec={"before": running.set, "wait_for": forever()}))
        .build()
    )
    outer = asyncio.create_task(processor.process_tasks({}))
    await running.wait()
    outer.cancel()
    exc = await outcome(outer)
    assert isinstance(exc, asyncio.CancelledError)
    assert not isinstance(exc, SdaxExecutionError)
    assert rec.count("bad", POST, "end") == 1
    assert rec.count("slow", POST, "end") == 1


# -- a phase that ends in CancelledError nobody outside asked for --------------------------


@pytest.mark.parametrize(
    ("suspend", "how"),
    [
        pytest.param(False, "raise", id="at-once-raise"),
        pytest.param(False, "cancel-own-task", id="at-once-cancel"),
        pytest.param(True, "raise", id="after-await-raise"),
        pytest.param(True, "cancel-own-task", id="after-await-cancel"),
    ],
)
async def test_pre_ending_in_its_own_cancellation_never_counts_as_success(
    suspend: bool, how: str
) -> None:
    rec = Recorder()

    async def cancelled_pre(ctx: Any) -> None:
        if suspend:
            await asyncio.sleep(0)
        if how == "raise":
            raise asyncio.CancelledError()
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "A",
                pre_execute=task_func(cancelled_pre),
                execute=rec.tf("A", EXEC),
                post_execute=rec.tf("A", POST),
            )
        )
        .add_task(rec.task("B"), depends_on=("A",))
        .add_task(rec.task("C", pre={"steps": 2}))
        .build()
    )
    with no_new_pending_tasks():
        with pytest.raises((asyncio.CancelledError, SdaxExecutionError)):
            async with asyncio.timeout(HANG_GUARD):
                await processor.process_tasks({})
    assert rec.names(EXEC) == []
    assert rec.count("B", PRE) == 0
    assert rec.count("B", POST) == 0
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.count("C", POST) == rec.count("C", PRE)


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
@pytest.mark.parametrize("phase", ["execute", "post_execute"])
async def test_execute_or_post_ending_in_its_own_cancellation_is_a_failure(
    phase: str, suspend: bool
) -> None:
    rec = Recorder()
    raised: list[asyncio.CancelledError] = []

    async def cancelled(ctx: Any) -> None:
        if suspend:
            await asyncio.sleep(0)
        raised.append(asyncio.CancelledError("gave up"))
        raise raised[-1]

    functions: dict[str, Any] = {phase: task_func(cancelled)}
    if phase != "post_execute":
        functions["post_execute"] = rec.tf("A", POST)
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("A", **functions))
        .add_task(rec.task("B", exec={"steps": 3}), depends_on=("A",))
        .build()
    )
    with no_new_pending_tasks():
        with pytest.raises(SdaxExecutionError) as info:
            await processor.process_tasks({})
    (leaf,) = info.value.leaf_exceptions()
    # The failure is the very CancelledError the function raised, with a note
    # naming the task and the phase; the group is then a BaseExceptionGroup.
    assert leaf is raised[0]
    assert any("'A'" in note and phase in note for note in leaf.__notes__)
    assert not isinstance(info.value, Exception)
    # Not an outside cancellation: the other executes ran to their end, posts all ran.
    assert rec.events("B", EXEC) == ["start", "end"]
    assert rec.events("B", POST) == ["start", "end"]
    if phase != "post_execute":
        assert rec.events("A", POST) == ["start", "end"]


async def test_asyncio_timeout_expiring_during_cleanup_lets_posts_finish() -> None:
    rec = Recorder()
    gate = asyncio.Event()

    def open_gate_later() -> None:
        asyncio.get_running_loop().call_later(0.03, gate.set)

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", post={"steps": 1}))
        .add_task(
            rec.task("B", post={"before": open_gate_later, "wait_for": gate}), depends_on=("A",)
        )
        .build()
    )
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.005):
            await processor.process_tasks({})
    assert rec.events("B", POST) == ["start", "end"]
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))
