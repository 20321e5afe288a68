"""The state a run's parts share, declared once for the type checker.

A run (``_run.Run``) is one object built from parts, each in its own module:
``_start.CallStarter`` starts ready calls, ``_cleanup.Cleanup`` runs the posts
within their bounds. :class:`RunParts` declares the attributes and steps the
parts use of each other; ``Run`` defines them (and its ``__slots__``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sdax._build import PhaseId, Plan
from sdax._engine._call import Deadlines
from sdax._engine._eager import PhaseTask
from sdax._kernels import RunState

__all__ = ["RunParts"]


class RunParts:
    """Declarations only: the run's state and steps its parts share."""

    if not TYPE_CHECKING:
        __slots__ = ()  # the run's own __slots__ hold these

    ctx: Any
    _plan: Plan
    _state: RunState  # the core's per-run counters (typed as the pure twin's)
    _loop: asyncio.AbstractEventLoop  # bound when the run first advances
    _phase: PhaseId
    _specs: tuple[Sequence[Any], Sequence[Any], Sequence[Any]]
    _ready: list[int]
    _running: dict[asyncio.Task[Any], int]
    _done: list[tuple[int, int, BaseException | None]]
    _waiter: asyncio.Future[None] | None
    _spare: PhaseTask  # fast path only
    _limit: int | None
    _stopping: bool
    _halting: bool
    _deadline: asyncio.TimerHandle | None
    _deadlines: Deadlines | None
    _unfinished: dict[int, list[Future[Any]]] | None
    _cleanup_timeout: float | None
    _cleanup_grace: float
    _cut: set[int]
    _grace_timers: list[asyncio.TimerHandle]
    _graced: bool  # every post has a grace (the run was cancelled or its deadline passed)
    _budget: asyncio.TimerHandle | None
    _budget_expired: bool
    _asked: set[int]
    _eager_node: int  # the node whose first step runs now (fast path)
    _attempts: dict[tuple[PhaseId, int], int] | None  # calls on a retry
    failures: list[BaseException]
    _cancel: asyncio.CancelledError | None
    _interrupt: BaseException | None
    _expired: bool

    # Steps, as the parts call them (the call-owner contract, ``_call.CallOwner``).
    _finished: Callable[[int, int, BaseException | None], None]
    _failed: Callable[[int, BaseException], None]
    _stops_phase: Callable[[BaseException | None], bool]
    _walk: Callable[[Sequence[Any], Any], Any]
    cancel_failure: Callable[[int, BaseException], BaseException | None]
    may_retry: Callable[[], bool]
    retry_refused: Callable[[int, BaseException], BaseException]
    stops_on_cancel: Callable[[], bool]
    unfinished: Callable[[int, Future[Any]], None]
    describe: Callable[[int], str]
    attempting: Callable[[int, int], None]
    cancels: Callable[[int], None]
    _budget_failure: Callable[[int], TimeoutError]
    _grace_post: Callable[[asyncio.Task[Any]], None]
    report: Callable[[asyncio.Task[Any] | None, int, int, BaseException | None], None]

    if TYPE_CHECKING:

        @property
        def refuses_new_calls(self) -> bool:
            """Whether a call that has not begun may no longer begin (public path, 3.11)."""
