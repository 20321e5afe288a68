"""The cleanup phase of a run: the posts, the cleanup budget and the grace.

Every owed post starts once, after the posts of the tasks that depend on it.
An outside cancellation that arrives meanwhile never stops a post from
starting; it gives the posts running at that moment ``cleanup_grace`` seconds
to finish, then cuts those still running where they wait (at most once
invoked, not a failure of their own). With a cleanup budget
(``cleanup_timeout=``), the budget is the grace: when it runs out, every
running post is cancelled, and later ones when they first wait.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from sdax._build import PhaseId
from sdax._engine._observe import after_work
from sdax._engine._run_parts import RunParts

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
        """An outside cancellation arrived during the cleanup: bound the posts running now.

        They may take the grace to finish; any still running then is cancelled
        where it waits (at most once invoked, not a failure of its own). Posts
        that start later are not affected: every owed post still starts once.
        With a cleanup budget, the budget is the grace; ``math.inf`` shields
        without bound.
        """
        if self._cleanup_timeout is not None or self._cleanup_grace == math.inf:
            return
        running = list(self._running)
        if not running:
            return
        if self._cleanup_grace <= 0:
            self._cut_posts(running)
        else:
            self._grace_timers.append(
                self._loop.call_later(self._cleanup_grace, self._cut_posts, running)
            )

    def _cut_posts(self, tasks: list[asyncio.Task[Any]]) -> None:
        """The grace ran out: cancel those of ``tasks`` still running."""
        running = self._running
        for task in tasks:
            node = running.get(task)
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
