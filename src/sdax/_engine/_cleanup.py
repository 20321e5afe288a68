"""The cleanup phase of a run: the posts, the cleanup budget and the grace.

Every owed post starts once, after the posts of the tasks that depend on it.
Once an outside cancellation arrived or the run's deadline passed (wherever it
landed: pre, execute or the cleanup), every post has ``cleanup_grace`` seconds
from its start (a post already running then: from that moment) to finish; one
still running then is cut where it waits (at most once invoked, not a failure
of its own). Posts that had not started still start, so one cancellation
returns control within about the depth of the post chain times the grace. A
run that was not stopped so never cuts a post, and arms no timer for it. With
a cleanup budget (``cleanup_timeout=``), the budget is the grace: when it runs
out, every running post is cancelled, and later ones when they first wait.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from sdax._build import PhaseId
from sdax._engine._observe import after_work
from sdax._engine._run_parts import RunParts
from sdax._engine._start import LAZY_START

__all__ = ["Cleanup"]

_POST = PhaseId.POST_EXEC


class Cleanup(RunParts):
    """The part of a run (``_run.Run``) that runs its posts within their bounds."""

    if not TYPE_CHECKING:
        __slots__ = ()

    async def _post(self) -> None:
        self._phase = _POST
        self._asked.clear()  # what the run cancelled in pre/execute ended there
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._cleanup_timeout is not None and self._plan.any_post:
            self._budget = self._loop.call_later(self._cleanup_timeout, self._expire_budget)
        specs = self._specs[2]
        if self._unfinished:
            specs = after_work(specs, self._unfinished, self)
        try:
            if self._plan.any_post:
                self._state.post_begin(self._ready)
                await self._walk(specs, self._state.post_done)
        finally:
            if self._budget is not None:
                self._budget.cancel()
                self._budget = None
            for timer in self._grace_timers:
                timer.cancel()
            self._grace_timers.clear()
            if self._deadlines is not None:
                self._deadlines.close()

    def _grant_grace(self) -> None:
        """The run was cancelled from outside or its deadline passed: bound its posts.

        From now on every post may take ``cleanup_grace`` to finish, counted
        from now for those running, from their start for later ones
        (``_grace_post``); a post still running then is cut. Only the first
        stop counts. With a cleanup budget, the budget is the grace;
        ``math.inf`` shields without bound.
        """
        if self._graced or self._cleanup_timeout is not None or self._cleanup_grace == math.inf:
            return
        self._graced = True
        if self._phase is _POST:
            for task in list(self._running):
                self._grace_post(task)

    def _grace_post(self, task: asyncio.Task[Any]) -> None:
        """Cut the post running in ``task`` if it has not ended ``cleanup_grace`` from now."""
        if self._phase is not _POST:
            return  # a pre or execute the stop cancels anyway
        if self._cleanup_grace <= 0:
            if LAZY_START:
                # Its task has not begun yet: cut it once its first step ran,
                # so that what that step raises stays its own.
                self._loop.call_soon(self._cut_post, task)
            else:
                self._cut_post(task)
        else:
            self._grace_timers.append(
                self._loop.call_later(self._cleanup_grace, self._cut_post, task)
            )

    def _cut_post(self, task: asyncio.Task[Any]) -> None:
        """The grace of the post in ``task`` ran out: cancel it if it still runs."""
        node = self._running.get(task)
        if node is not None:
            self._cut.add(node)
            task.cancel()

    def _expire_budget(self) -> None:
        """The cleanup budget ran out: cancel every running post, and later ones."""
        self._budget = None
        self._budget_expired = True
        self._asked.update(self._running.values())
        for task in self._running:
            task.cancel()

    def _budget_failure(self, node: int) -> TimeoutError:
        """The failure of a post that the cleanup budget cut, or kept from a retry."""
        return TimeoutError(
            f"{self.describe(node)} was cancelled: the cleanup budget of "
            f"{self._cleanup_timeout:g} s ran out"
        )
