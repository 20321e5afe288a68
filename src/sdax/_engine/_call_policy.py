"""How a run judges its phase calls: what stops a phase, what counts as a failure.

These are the answers a call asks its run for (the ``CallOwner`` contract
of ``_attempt``): whether it may still begin or retry, what a cancelled call
counts as, and how to name it; plus the snapshot ``sdax.current_call()``
returns.
"""

from __future__ import annotations

from asyncio import CancelledError
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sdax._build import PHASE_FIELDS, PhaseId
from sdax._engine._current import CallInfo
from sdax._engine._run_parts import RunParts

__all__ = ["CallPolicy"]

_PRE = PhaseId.PRE_EXEC
_EXEC = PhaseId.EXECUTE
_POST = PhaseId.POST_EXEC


class CallPolicy(RunParts):
    """The part of a run (``_run.Run``) that answers its calls' questions."""

    if not TYPE_CHECKING:
        __slots__ = ()

    def _stops_phase(self, error: BaseException | None) -> bool:
        """Whether a call that ended with ``error`` stops the phase (pre/execute)."""
        if self._phase is _PRE:
            return True
        return self._phase is _EXEC and not isinstance(error, (Exception, CancelledError))

    @property
    def refuses_new_calls(self) -> bool:
        """Whether a call that has not begun may no longer begin (public path, 3.11)."""
        return self._stopping or self._halting

    def stops_on_cancel(self) -> bool:
        """Whether a cancel request to the driving task keeps new calls from starting."""
        return self._phase is not _POST

    def retry_refused(self, node: int, error: BaseException) -> BaseException:
        """What a call whose retry ``may_retry`` refused fails with.

        A post refused by the cleanup budget counts as cut by it (as when the
        budget cancels a retry that was already waiting); otherwise the call
        keeps its own error.
        """
        if self._phase is _POST and self._budget_expired:
            return self._budget_failure(node)
        return error

    def may_retry(self) -> bool:
        """Whether a failed call may make another attempt now."""
        if self._phase is _POST:
            return not self._budget_expired
        return not self._stopping

    def cancel_failure(self, node: int, error: BaseException) -> BaseException | None:
        """The failure a cancelled call counts as, or ``None`` if the run asked for it.

        The run cancels pre/execute calls when it stops (a failure elsewhere,
        an outside cancellation, the deadline): those are not failures of
        their own, nor is a post cut when its grace after an outside
        cancellation or the deadline ran out. A post the cleanup budget
        cancelled fails with TimeoutError. A cancellation nobody in the run
        asked for (the function raised ``CancelledError`` itself, say, even
        after the run stopped) means the call did not complete: its failure is
        that very ``CancelledError``.
        """
        if node in self._cut:
            return None
        if node not in self._asked:
            return error
        return self._budget_failure(node) if self._phase is _POST else None

    def cancels(self, node: int) -> None:
        """The run's cancel request reaches the call of ``node`` where it next waits."""
        self._asked.add(node)

    def unfinished(self, node: int, work: Future[Any]) -> None:
        """Executor work of ``node`` outlived its attempt: its post must wait for it."""
        if self._unfinished is None:
            self._unfinished = {}
        self._unfinished.setdefault(node, []).append(work)

    def attempting(self, node: int, number: int) -> None:
        """The call of ``node`` begins attempt ``number`` (2 for the first retry)."""
        if self._attempts is None:
            self._attempts = {}
        self._attempts[self._phase, node] = number

    def call_info(self, node: int) -> CallInfo:
        """A snapshot of the call of ``node`` in progress, for ``sdax.current_call()``."""
        phase = self._phase
        pre_completed = None
        if phase is _POST and self._plan.pre_spec[node] is not None:
            pre_completed = bool(self._state.completed(node))
        attempts = self._attempts
        return CallInfo(
            task=self._plan.names[node],
            phase=phase,
            attempt=1 if attempts is None else attempts.get((phase, node), 1),
            pre_completed=pre_completed,
            run_failed=bool(self.failures),
            run_cancelled=self._cancel is not None,
            run_interrupted=self._interrupt is not None,
            deadline_passed=self._expired,
        )

    def describe(self, node: int) -> str:
        """``task 'name' <phase>`` for messages and reprs."""
        return f"task {self._plan.names[node]!r} {PHASE_FIELDS[self._phase]}"
