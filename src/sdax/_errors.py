"""The aggregated error of a run, and helpers to read it."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PhaseCancelledError", "SdaxExecutionError", "SdaxTimeoutError", "flatten_exceptions"]


def flatten_exceptions(exc: BaseException) -> list[BaseException]:
    """List the leaf exceptions of ``exc``, depth first, in order.

    An exception that is not a group is its own only leaf. Nested groups are
    walked without recursion, so arbitrarily deep nesting is fine.

    Args:
        exc: An exception or exception group.

    Returns:
        The non-group exceptions inside it.
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        else:
            leaves.append(current)
    return leaves


class SdaxExecutionError(ExceptionGroup[Exception]):
    """All failures of a run, raised once every owed cleanup has run.

    An ``ExceptionGroup``: ``except* SomeError`` works on it. Its entries are
    the exceptions raised by the failed phase functions, in the order they
    failed (pre, then execute, then post); ``leaf_exceptions()`` flattens any
    nested groups (for example from task-group functions).
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> SdaxExecutionError:
        return super().__new__(cls, message, exceptions)

    def leaf_exceptions(self) -> list[BaseException]:
        """The original exceptions, with every nested group flattened."""
        return flatten_exceptions(self)

    def derive(self, excs: Sequence[Exception]) -> SdaxExecutionError:  # type: ignore[override]
        """Build a group of the same type from a subset (used by ``except*``)."""
        return SdaxExecutionError(self.message, excs)


class SdaxTimeoutError(TimeoutError):
    """A run's deadline (``process_tasks(ctx, timeout=...)``) expired.

    Raised after every owed cleanup has run. ``failures`` lists the
    exceptions of the phase functions that failed before or during the stop
    (also chained as ``__cause__``, an :class:`SdaxExecutionError`, when there
    are any).

    Attributes:
        failures: The failures of the run, in order.
    """

    def __init__(self, message: str, failures: Sequence[Exception] = ()) -> None:
        super().__init__(message)
        self.failures: list[Exception] = list(failures)


class PhaseCancelledError(RuntimeError):
    """A phase call ended cancelled although the run did not cancel it.

    For example the function raised ``CancelledError`` itself, or something
    outside the run cancelled the call's task. The call did not complete, so
    it counts as a failure of that phase (a failed pre stops the pre phase);
    the original ``CancelledError`` is its ``__cause__``.
    """
