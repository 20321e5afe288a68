"""Run-time fan-out: one run of a template processor per item, N items open at once.

``fan_out(template, over=..., max_concurrency=N)`` makes a phase function.
Each call of it pulls items from ``over(ctx)`` only while fewer than ``N``
items are open, makes each item's context, and runs the template over it with
``template.process_tasks(item_ctx)``: an item is open from the start of its
first pre to the end of its last post, and the template's run rules (every
owed post exactly once, bounded cleanup after a cancel) hold per item because
each item *is* a run.

Each item's run starts eagerly, as a phase call does: on the fast path
(``_eager.FAST``) its first step runs at once with a reserved task object
current, and that task object is initialized (continuing the item where it
stopped) only if the item suspends, so an item that never waits costs no task
and no loop round trip. On the public-API path each item is a task of its own
(started eagerly where asyncio can, 3.12+).
"""

from __future__ import annotations

import asyncio
import reprlib
from asyncio import CancelledError
from collections.abc import Awaitable, Callable, Coroutine, Generator
from functools import partial
from inspect import isawaitable
from sys import getrefcount
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from sdax._build import DEFAULT_RETRYABLE_EXCEPTIONS, TaskFunction, validate
from sdax._engine._eager import (
    EAGER_TASKS,
    FAST,
    PhaseTask,
    new_phase_task,
    park_yielded,
    rearm_yielded,
    set_current_task,
    settle,
    start_task,
)
from sdax._engine._errors import SdaxExecutionError, flatten_exceptions

__all__ = ["FanOut", "FanOutItem", "FanOutResult", "fan_out"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
R = TypeVar("R")
_C_contra = TypeVar("_C_contra", contravariant=True)

OnItemFailure = Literal["stop", "skip", "collect"]
_MODES = ("stop", "skip", "collect")

FAILURE_MESSAGE = "fan-out failed"

# The public path on 3.11 starts each item's task on a later loop turn: a task
# cancelled before that never began its item, so nobody else reports it.
_LAZY_START = not FAST and not EAGER_TASKS

_NOTHING: Any = object()  # no pending first yield
_FAILED: Any = object()  # a result slot of an item that failed (skipped)

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


class _Processor(Protocol[_C_contra]):
    """What a template must be: anything built that runs as ``process_tasks(ctx)``."""

    def process_tasks(self, ctx: _C_contra, /) -> Awaitable[None]: ...


class FanOutItem(Generic[T, ItemT]):
    """The context of one item of a fan-out, when ``fan_out`` is given no ``context``.

    A small object: the run's context (``parent``), the item and its position.
    Phase functions of the template may set further attributes on it (a
    session, the fetched page); they live as long as the item's result.

    Attributes:
        parent: The context of the run that called the fan-out.
        item: The item, as ``over(ctx)`` gave it.
        index: The item's position in ``over(ctx)``, from 0.
    """

    __slots__ = ("__dict__", "index", "item", "parent")

    def __init__(self, parent: T, item: ItemT, index: int) -> None:
        self.parent = parent
        self.item = item
        self.index = index

    def __repr__(self) -> str:
        return f"FanOutItem(index={self.index}, item={_short.repr(self.item)})"


class FanOutResult(list[R], Generic[R]):
    """What a fan-out returns: the per-item results, in item order.

    A ``list``. Each result is the item's context (its last attempt's). With
    ``on_item_failure="skip"`` the items that failed have no entry, and
    ``failures`` maps their index to what their run raised (usually an
    :class:`~sdax.SdaxExecutionError`, its leaves noted with the index).

    Attributes:
        failures: ``{index: exception}`` of the items that failed and were
            skipped; empty otherwise.
        items: How many items were started.
    """

    __slots__ = ("failures", "items")

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[int, BaseException] = {}
        self.items = 0

    def __repr__(self) -> str:
        return (
            f"FanOutResult({list.__repr__(self)}, items={self.items}, "
            f"failures={sorted(self.failures)})"
        )


class FanOut(TaskFunction[T]):
    """The phase function that :func:`fan_out` returns.

    A :class:`~sdax.tasks.TaskFunction`, so it is a task's phase as it is
    (``AsyncTask("pages", execute=fan)``), and a plain async callable too:
    ``await fan(ctx)`` returns the :class:`FanOutResult`, and
    ``task_func(fan, timeout=...)`` wraps it like any async function.
    """

    __slots__ = ()

    def __call__(self, ctx: T) -> Coroutine[Any, Any, FanOutResult[Any]]:
        """Run the fan-out over ``ctx``; see :func:`fan_out`."""
        run = cast(Callable[[T], Coroutine[Any, Any, FanOutResult[Any]]], self.function)
        return run(ctx)

    @property
    def max_concurrency(self) -> int:
        """At most this many items are open at once."""
        return self._spec.limit

    @property
    def template(self) -> Any:
        """The processor each item runs."""
        return self._spec.template

    @property
    def _spec(self) -> _Spec:
        return cast(_Spec, getattr(self.function, "__self__"))  # noqa: B009  # typed via cast

    def __repr__(self) -> str:
        spec = self._spec
        return (
            f"FanOut({spec.template!r}, max_concurrency={spec.limit}, "
            f"on_item_failure={spec.mode!r})"
        )


def fan_out(
    template: _Processor[Any],
    *,
    over: Callable[[T], Any],
    max_concurrency: int,
    context: Callable[[T, Any], Any] | None = None,
    on_item_failure: OnItemFailure = "stop",
    max_item_failures: int | None = None,
    item_retries: int = 0,
    item_retryable_exceptions: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS,
    item_retry_delay: float = 0.0,
    keep_results: bool = True,
) -> FanOut[T]:
    """A phase function that runs ``template`` once per item of ``over(ctx)``.

    Each item runs the template's pres, executes and posts as one run of it
    (``template.process_tasks(item_ctx)``): every owed post of every started
    item runs exactly once, whatever fails or is cancelled. The template is
    built once, by you; nothing is rebuilt per call or per item.

    Args:
        template: A built processor (any processor: graph or levels); it may
            itself hold a fan-out.
        over: ``over(ctx)`` gives the items: an iterable or an async iterable
            (or an awaitable of an iterable). Items are pulled one at a time,
            only when a slot is free, so a generator of a million items never
            sits in memory. A ``str``, ``bytes`` or ``bytearray`` is no source
            (the call fails with a ``TypeError``). An iterator the call stops
            before its end is closed (``aclose()`` / ``close()``) in the call's
            task before it returns or raises.
        max_concurrency: At most this many items are open at once, from the
            start of an item's first pre to the end of its last post (and
            across its retries): it bounds open resources, not only running
            code. ``CapacityLimit``s inside the template still apply per
            attempt.
        context: ``context(ctx, item)`` makes an item's context. Default: a
            :class:`FanOutItem` with ``.parent``, ``.item`` and ``.index``.
            Return ``ctx`` itself to let every item share the run's context.
        on_item_failure: What an item's failure does. ``"stop"`` (default):
            no further item starts, running items go on to their end, then the
            fan-out fails. ``"skip"``: the other items go on; the failure is
            recorded in the result's ``failures``. ``"collect"``: every item
            runs, then the fan-out fails with all the failures.
        max_item_failures: With ``"skip"`` or ``"collect"``: once more items
            than this failed, no further item starts and the fan-out fails.
        item_retries: Extra runs of an item whose run failed, each from its
            first pre and only after the failed run's posts finished, with a
            fresh context. Not once the fan-out is stopping.
        item_retryable_exceptions: An item is retried only when every leaf of
            its failure is one of these.
        item_retry_delay: Seconds between a failed run of an item and its retry.
        keep_results: ``False`` keeps no per-item result (the result list
            stays empty): for long streams whose items leave their results
            elsewhere.

    Returns:
        The phase function (a :class:`FanOut`). Its value is a
        :class:`FanOutResult`.

    Raises:
        TypeError: ``template`` is not a built processor, ``over`` or
            ``context`` is not callable, or an option has the wrong type.
        ValueError: ``max_concurrency`` < 1, an unknown ``on_item_failure``,
            or an option out of range.

    A call of the fan-out fails with an :class:`~sdax.SdaxExecutionError`
    whose leaves are the exceptions the items' runs raised (the very
    objects, in item order, each noted with ``fan-out item <index>``), plus
    what ``over``, its iterator or ``context`` raised; such a failure stops
    the fan-out whatever ``on_item_failure`` says. A cancellation (or the
    run's deadline) cancels the running items, whose posts then run under the
    template's cleanup grace, and starts no further item; so does any other
    exception thrown into the call where it waits, which is then raised.
    """
    process = getattr(template, "process_tasks", None)
    if not callable(process):
        hint = (
            " (call .build() on the builder)" if callable(getattr(template, "build", None)) else ""
        )
        raise TypeError(
            f"fan_out() needs a built processor as its template{hint}, got {template!r}"
        )
    if not callable(over):
        raise TypeError(f"fan_out() over= must be callable, got {over!r}")
    validate.callables("fan_out()", over, context=context)
    limit = validate.int_at_least(max_concurrency, 1, "fan_out() max_concurrency")
    if on_item_failure not in _MODES:
        raise ValueError(
            f"fan_out() on_item_failure must be one of {', '.join(map(repr, _MODES))}, "
            f"got {on_item_failure!r}"
        )
    max_failures = validate.optional_int_at_least(
        max_item_failures, 0, "fan_out() max_item_failures"
    )
    if max_failures is not None and on_item_failure == "stop":
        raise ValueError(
            "fan_out() max_item_failures applies to on_item_failure='skip' or 'collect' "
            "('stop' stops at the first failure)"
        )
    retries = validate.int_at_least(item_retries, 0, "fan_out() item_retries")
    retryable = validate.exception_types(
        item_retryable_exceptions, "fan_out() item_retryable_exceptions"
    )
    if retries and not retryable:
        raise ValueError(
            f"fan_out() item_retries={retries} needs a non-empty item_retryable_exceptions"
        )
    delay = float(validate.number_at_least(item_retry_delay, 0, "fan_out() item_retry_delay"))
    validate.flag(keep_results, "fan_out() keep_results")
    spec = _Spec(
        template, process, over, context, limit, on_item_failure, max_failures, retries,
        retryable, delay, keep_results,
    )  # fmt: skip
    return FanOut(spec.run)


class _Spec:
    """A fan-out's options, checked once; ``run`` is the phase function."""

    __slots__ = (
        "context",
        "delay",
        "keep",
        "limit",
        "max_failures",
        "mode",
        "over",
        "process",
        "retries",
        "retryable",
        "template",
    )

    def __init__(
        self,
        template: Any,
        process: Callable[[Any], Awaitable[None]],
        over: Callable[[Any], Any],
        context: Callable[[Any, Any], Any] | None,
        limit: int,
        mode: str,
        max_failures: int | None,
        retries: int,
        retryable: tuple[type[BaseException], ...],
        delay: float,
        keep: bool,
    ) -> None:
        self.template = template
        self.process = process
        self.over = over
        self.context = context
        self.limit = limit
        self.mode = mode
        self.max_failures = max_failures
        self.retries = retries
        self.retryable = retryable
        self.delay = delay
        self.keep = keep

    async def run(self, ctx: Any) -> FanOutResult[Any]:
        """One call of the fan-out over ``ctx``."""
        return await _Call(self, ctx).run()


def _is_interrupt(exc: BaseException) -> bool:
    # As a run judges it: KeyboardInterrupt, SystemExit or another BaseException
    # that is no cancellation stops everything and reaches the caller unchanged.
    return not isinstance(exc, Exception | CancelledError)


def _outranking(first: BaseException | None, then: BaseException) -> BaseException:
    # Of two exceptions that reached the call from outside, the one it raises:
    # an interrupt outranks a cancellation, which outranks anything else; of
    # equal rank, the first.
    if first is None or _rank(then) > _rank(first):
        return then
    return first


def _rank(exc: BaseException) -> int:
    if isinstance(exc, CancelledError):
        return 1
    return 2 if _is_interrupt(exc) else 0


def _note(exc: BaseException, note: str) -> BaseException:
    exc.add_note(note)
    return exc


class _Resume(Coroutine[Any, Any, None]):
    """Drives the rest of an item that suspended during its eager step (fast path).

    The item's coroutine catches everything of its own, so this only hands
    the task what the item waits on, then passes each wake-up or cancellation
    on, including one that arrives before the task's first step.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def send(self, value: Any) -> Any:
        """Resume the item (one step of its task)."""
        yielded = self._yielded
        if yielded is not _NOTHING:
            self._yielded = _NOTHING
            return rearm_yielded(yielded)
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Deliver an exception (a cancellation) into the item."""
        self._yielded = _NOTHING
        exc = typ if isinstance(typ, BaseException) else (typ() if val is None else val)
        del typ, val, tb
        return self._coro.throw(exc)

    def close(self) -> None:
        """Close the item's coroutine."""
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("a fan-out item is driven by its task, not awaited")


class _Call:
    """The state of one call of a fan-out: its items, slots, results and failures."""

    __slots__ = (
        "_cancelled",
        "_ctx",
        "_errors",
        "_exhausted",
        "_failures",
        "_interrupt",
        "_loop",
        "_open",
        "_results",
        "_running",
        "_spare",
        "_spec",
        "_stopping",
        "_waiter",
    )

    def __init__(self, spec: _Spec, ctx: Any) -> None:
        self._spec = spec
        self._ctx = ctx
        self._loop = cast(asyncio.AbstractEventLoop, None)  # bound in run()
        self._open = 0
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._results: FanOutResult[Any] = FanOutResult()
        self._failures: dict[int, BaseException] = {}
        self._errors: list[BaseException] = []  # over, its iterator, context
        self._interrupt: BaseException | None = None
        self._stopping = False
        self._cancelled = False
        self._exhausted = False
        self._spare = new_phase_task(PhaseTask) if FAST else cast(PhaseTask, None)

    # -- the call -------------------------------------------------------------------

    async def run(self) -> FanOutResult[Any]:
        self._loop = asyncio.get_running_loop()
        # What reached the call from outside at one of its waits: a
        # cancellation, or any exception thrown in (a fault explorer does
        # that). Either stops the fan-out as a cancellation does.
        stop: BaseException | None = None
        source: Any = None
        try:
            source = await self._source()
            if source is not None:
                await self._admit(*source)
        except GeneratorExit:
            raise  # the coroutine is being closed: nothing may be awaited
        except BaseException as exc:
            stop = exc
        if stop is not None or self._interrupt is not None:
            stop = await self._stop_items(stop)
        if source is not None:
            stop = await self._close_source(source[0], source[1], stop)
        source = None
        if stop is not None and self._interrupt is None:
            try:
                raise stop
            finally:
                stop = None  # no frame -> exception -> traceback -> frame cycle
        return self._outcome()

    async def _source(self) -> tuple[Any, bool] | None:
        """``over(ctx)`` as an iterator and whether it is asynchronous (None if it failed)."""
        try:
            items = self._spec.over(self._ctx)
            if isawaitable(items) and not hasattr(type(items), "__aiter__"):
                items = await items
        except CancelledError:
            raise
        except BaseException as exc:
            self._source_failed(_note(exc, "fan-out: over(ctx) raised"))
            return None
        if hasattr(type(items), "__aiter__"):
            return items.__aiter__(), True
        if isinstance(items, str | bytes | bytearray):
            self._source_failed(
                TypeError(
                    "fan-out: over(ctx) must not return a str, bytes or bytearray (that "
                    f"would be one item per character), got {type(items).__name__} "
                    f"{_short.repr(items)}; return [value] for one item"
                )
            )
            return None
        try:
            return iter(items), False
        except TypeError:
            self._source_failed(
                TypeError(
                    "fan-out: over(ctx) must return an iterable or an async iterable, "
                    f"got {type(items).__name__} {_short.repr(items)}"
                )
            )
            return None

    async def _admit(self, iterator: Any, is_async: bool) -> None:
        """Start items while slots are free; return once every started item ended."""
        spec = self._spec
        limit = spec.limit
        make = spec.context
        parent = self._ctx
        keep = spec.keep
        results = self._results
        pull: Callable[[], Any] = iterator.__anext__ if is_async else iterator.__next__
        index = 0
        more = True
        while True:
            while more and self._open < limit and not self._stopping:
                try:
                    item = await pull() if is_async else pull()
                except (StopIteration, StopAsyncIteration):
                    more = False
                    self._exhausted = True
                    break
                except CancelledError:
                    raise
                except BaseException as exc:
                    self._source_failed(
                        _note(exc, f"fan-out: the items' iterator raised after {index} items")
                    )
                    break
                try:
                    ictx = FanOutItem(parent, item, index) if make is None else make(parent, item)
                except BaseException as exc:
                    self._source_failed(
                        _note(exc, f"fan-out: context(ctx, item) raised for item {index}")
                    )
                    break
                self._open += 1
                if keep:
                    results.append(None)
                self._start(index, self._item(index, item, ictx))
                index += 1
            results.items = index
            if self._interrupt is not None or (self._open == 0 and (not more or self._stopping)):
                return
            await self._wait()

    async def _wait(self) -> None:
        """Wait until an item ends."""
        self._waiter = self._loop.create_future()
        try:
            # Awaited through the attribute: a cancelled future keeps its
            # CancelledError, whose traceback would hold a local.
            await self._waiter
        finally:
            self._waiter = None

    async def _stop_items(self, stop: BaseException | None) -> BaseException | None:
        """Cancel the running items and wait until each ended (its posts done).

        ``stop`` is what stopped the call from outside (None: an item's
        interrupt did); returns what the call is to raise of what arrived.
        """
        self._stopping = True
        self._cancelled = True
        while True:
            for task in list(self._running.values()):
                task.cancel()
            while self._open:
                try:
                    await self._wait()
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    # Asked again (or another exception thrown in): pass it
                    # on. An item's run that gets it during its cleanup
                    # bounds its posts by its cleanup grace.
                    stop = _outranking(stop, exc)
                    break
            else:
                return stop

    async def _close_source(
        self, iterator: Any, is_async: bool, stop: BaseException | None
    ) -> BaseException | None:
        """Close an iterator the call did not exhaust, so its ``finally`` runs now.

        ``aclose()`` for an async iterator that has one, ``close()`` for a
        sync one. Returns what the call is to raise from outside (``stop``,
        or a cancellation that arrived while closing).
        """
        if self._exhausted:
            return stop
        close = getattr(iterator, "aclose" if is_async else "close", None)
        if close is None:
            return stop
        try:
            if is_async:
                await close()
            else:
                close()
        except GeneratorExit:
            raise
        except CancelledError as exc:
            return _outranking(stop, exc)
        except BaseException as exc:
            _note(exc, "fan-out: closing the items' iterator raised")
            if (stop is None and self._interrupt is None) or _is_interrupt(exc):
                self._source_failed(exc)
            else:
                # A cancellation (or the first interrupt) outranks it, as a
                # run's failures are not raised after a cancellation: report
                # it where asyncio reports what nobody awaited.
                self._loop.call_exception_handler(
                    {
                        "message": "fan-out: closing the items' iterator raised "
                        "while the fan-out was stopped",
                        "exception": exc,
                    }
                )
        return stop

    def _outcome(self) -> FanOutResult[Any]:
        """The result, or the failures raised as one group."""
        interrupt = self._interrupt
        if interrupt is not None:
            self._interrupt = None
            try:
                raise interrupt
            finally:
                interrupt = None
        spec = self._spec
        failures = self._failures
        results = self._results
        skipped = spec.mode == "skip" and not self._over_limit()
        if self._errors or (failures and not skipped):
            leaves = [leaf for i in sorted(failures) for leaf in flatten_exceptions(failures[i])]
            leaves.extend(self._errors)
            self._failures = {}
            self._errors = []
            raise SdaxExecutionError(FAILURE_MESSAGE, leaves)
        if failures:
            if spec.keep:
                results[:] = [r for r in results if r is not _FAILED]
            results.failures = failures
        return results

    def _over_limit(self) -> bool:
        limit = self._spec.max_failures
        return limit is not None and len(self._failures) > limit

    # -- starting an item -----------------------------------------------------------

    def _start_fast(self, index: int, coro: Coroutine[Any, Any, None]) -> None:
        """Run the item's first step at once, with a reserved task object current."""
        loop = self._loop
        task = self._spare
        previous = set_current_task(loop, task)
        # Counted through the attribute both times (as the run's starter does):
        # more references after the step mean the item kept its task.
        unused = getrefcount(self._spare)
        try:
            # next() with a default: an item that ends at once raises nothing here.
            yielded = next(coro.__await__(), _NOTHING)
            kept = getrefcount(self._spare) > unused
        finally:
            set_current_task(loop, previous)
        if yielded is _NOTHING:
            if kept:
                settle(task, loop)
                self._spare = new_phase_task(PhaseTask)
            return
        park_yielded(yielded)
        task.activate(_Resume(coro, yielded), loop, None)
        self._running[index] = task
        self._spare = new_phase_task(PhaseTask)

    def _start_public(self, index: int, coro: Coroutine[Any, Any, None]) -> None:
        """Start the item as a task of its own (its first step at once on 3.12+)."""
        task = start_task(coro, self._loop, None)
        if not task.done():
            self._running[index] = task
            if _LAZY_START:
                task.add_done_callback(partial(self._task_done, index))

    _start = _start_fast if FAST else _start_public

    def _task_done(self, index: int, task: asyncio.Task[Any]) -> None:
        # 3.11 public path: a task cancelled before its first step never ran
        # its item, which therefore never reported.
        if self._running.get(index) is task:
            del self._running[index]
            self._ended()

    # -- one item -------------------------------------------------------------------

    async def _item(self, index: int, item: Any, ictx: Any) -> None:
        """Run the template over ``ictx`` (again, when a retry is due); report the end."""
        if self._stopping:
            # Public path, 3.11: the task began on a later loop turn, after
            # the fan-out stopped. The item never begins.
            self._item_ended(index, _FAILED)
            return
        spec = self._spec
        process = spec.process
        attempt = 0
        retry = False
        while True:
            try:
                await process(ictx)
            except GeneratorExit:
                raise
            except BaseException as exc:
                if isinstance(exc, CancelledError) and self._cancelled:
                    self._item_ended(index, _FAILED)
                    return
                if attempt < spec.retries and self._retry_due(exc):
                    attempt += 1
                    retry = True
                else:
                    self._item_failed(index, exc)
                    return
            if retry:
                retry = False
                ictx = await self._retry_context(index, item)
                if ictx is _NOTHING:
                    return
                continue
            # The common end, inline: free the slot, keep the result, wake the call.
            if self._running:
                self._running.pop(index, None)
            if spec.keep:
                self._results[index] = ictx
            self._open -= 1
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return

    def _retry_due(self, exc: BaseException) -> bool:
        if self._stopping or not isinstance(exc, Exception):
            return False
        retryable = self._spec.retryable
        return all(isinstance(leaf, retryable) for leaf in flatten_exceptions(exc))

    async def _retry_context(self, index: int, item: Any) -> Any:
        """The fresh context of an item's retry, after the delay (``_NOTHING``: ended)."""
        spec = self._spec
        try:
            if spec.delay:
                await asyncio.sleep(spec.delay)
            if not self._stopping:
                make = spec.context
                if make is None:
                    return FanOutItem(self._ctx, item, index)
                return make(self._ctx, item)
        except CancelledError:
            pass  # the fan-out stopped during the delay: nothing more is owed
        except BaseException as exc:
            self._source_failed(_note(exc, f"fan-out: context(ctx, item) raised for item {index}"))
        self._item_ended(index, _FAILED)
        return _NOTHING

    def _item_ended(self, index: int, result: Any) -> None:
        """An item ended without a failure of its own (``result``: what to keep)."""
        self._running.pop(index, None)
        if self._spec.keep:
            self._results[index] = result
        self._ended()

    def _item_failed(self, index: int, exc: BaseException) -> None:
        self._running.pop(index, None)
        if _is_interrupt(exc):
            if self._interrupt is None:
                self._interrupt = exc
            self._stopping = True
        else:
            note = f"fan-out item {index}"
            for leaf in flatten_exceptions(exc):
                leaf.add_note(note)
            self._failures[index] = exc
            if self._spec.mode == "stop" or self._over_limit():
                self._stopping = True
        if self._spec.keep:
            self._results[index] = _FAILED
        self._ended()

    def _source_failed(self, exc: BaseException) -> None:
        if _is_interrupt(exc):
            if self._interrupt is None:
                self._interrupt = exc
        else:
            self._errors.append(exc)
        self._stopping = True

    def _ended(self) -> None:
        """An item ended (its posts done): free its slot and wake the call."""
        self._open -= 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


# Users import these from sdax: tracebacks, reprs and pickles name that path.
for _cls in (FanOut, FanOutItem, FanOutResult):
    _cls.__module__ = "sdax"
del _cls
