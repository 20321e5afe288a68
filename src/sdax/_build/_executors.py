"""Running blocking phase functions in executors.

``task_sync_func(fn, executor=...)`` sends each attempt of ``fn`` to an
executor instead of running it on the event loop thread:

* ``"thread"``: a thread pool shared by all runs (created on first use);
* any ``concurrent.futures.Executor``: a thread pool, a process pool, or a
  distributed engine's executor (e.g. Dask's ``client.get_executor()``).

In-process thread pools run ``fn`` in a copy of the caller's context, so
contextvars reach it. Executors that cross processes get only what can be
pickled: ``arg(ctx)`` (or the context itself) goes out, the return value
comes back and is handed to ``result(ctx, value)`` on the event loop thread;
the function cannot change the caller's context object.

When the caller stops waiting (timeout, cancellation, a failing sibling), the
submitted work may still be running: the run remembers it, and that task's
``post_execute`` starts only after the work has really finished (bounded by
the cleanup budget).
"""

from __future__ import annotations

import asyncio
import contextvars
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

__all__ = ["THREAD", "SyncCall", "check_executor", "default_thread_pool", "run_in_executor"]

THREAD = "thread"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


CALL_IN_THREAD: contextvars.ContextVar[tuple[Any, int] | None] = contextvars.ContextVar(
    "sdax_call_in_thread", default=None
)
"""The run and node of the phase call a thread-pool thread runs (``sdax.current_call()``)."""


def default_thread_pool() -> ThreadPoolExecutor:
    """The thread pool behind ``executor="thread"``, shared by every run."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(thread_name_prefix="sdax")
        return _pool


def check_executor(executor: Any) -> None:
    """Raise TypeError unless ``executor`` is ``None``, ``"thread"`` or an Executor."""
    if executor is None or executor == THREAD or isinstance(executor, Executor):
        return
    raise TypeError(
        f'executor must be None, "thread" or a concurrent.futures.Executor, got {executor!r}'
    )


class SyncCall:
    """A plain function wrapped for sdax: what it receives and what happens to its result.

    Calling the object runs the function inline and returns a coroutine, so
    it can stand wherever an async phase function is expected.

    Args:
        fn: The blocking function.
        arg: Maps the context to the function's argument (default: the context).
        result: Receives ``(ctx, value)`` on the event loop thread afterwards.
    """

    __slots__ = ("__wrapped__", "arg", "fn", "result")

    def __init__(
        self,
        fn: Callable[[Any], Any],
        arg: Callable[[Any], Any] | None = None,
        result: Callable[[Any, Any], None] | None = None,
    ) -> None:
        self.fn = fn
        self.arg = arg
        self.result = result
        self.__wrapped__ = fn

    async def __call__(self, ctx: Any) -> Any:
        value = self.fn(ctx if self.arg is None else self.arg(ctx))
        if self.result is not None:
            self.result(ctx, value)
        return value

    def __repr__(self) -> str:
        return f"SyncCall({self.fn!r})"


def _consume(future: asyncio.Future[Any]) -> None:
    # Nobody awaits a future we stopped waiting for: read its outcome, so
    # that asyncio does not report "exception was never retrieved".
    if not future.cancelled():
        future.exception()


def _in_process(executor: Executor) -> bool:
    return isinstance(executor, ThreadPoolExecutor)


async def run_in_executor(
    call: SyncCall,
    executor: Executor | str,
    ctx: Any,
    on_unfinished: Callable[[Future[Any]], None] | None,
    call_id: tuple[Any, int] | None = None,
) -> Any:
    """Run one attempt of ``call`` in ``executor`` and wait for it.

    If the wait is cancelled while the work runs, ``on_unfinished`` receives
    the work's future so that cleanup can wait for it. ``call_id`` (the run
    and node of the call) lets ``sdax.current_call()`` answer in the thread.
    """
    pool = default_thread_pool() if executor == THREAD else executor
    assert isinstance(pool, Executor)
    payload = ctx if call.arg is None else call.arg(ctx)
    if _in_process(pool):
        context = contextvars.copy_context()
        if call_id is not None:
            context.run(CALL_IN_THREAD.set, call_id)  # a thread has no task to ask
        work = pool.submit(context.run, call.fn, payload)
    else:
        if isinstance(pool, ProcessPoolExecutor):
            try:
                pickle.dumps((call.fn, payload))
            except Exception as exc:
                raise TypeError(
                    f"the function and its argument must be picklable to run in a process "
                    f"pool, and {type(payload).__name__} is not ({exc}); pass the data it "
                    "needs with task_sync_func(..., arg=...) and bring results back with "
                    "result=..."
                ) from exc
        work = pool.submit(call.fn, payload)
    waiting = asyncio.wrap_future(work)
    try:
        # Shielded: giving up must not cancel the work through the future
        # chain. Only the standard pools say truthfully whether a cancel
        # stopped the work; a distributed engine's future may report
        # "cancelled" while its task goes on running on a worker.
        value = await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(_consume)
        stopped = isinstance(pool, ThreadPoolExecutor | ProcessPoolExecutor) and work.cancel()
        if not stopped and not work.done() and on_unfinished is not None:
            on_unfinished(work)
        raise
    if call.result is not None:
        call.result(ctx, value)
    return value
