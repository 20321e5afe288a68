"""The aggregated error of a run, and helpers to read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["SdaxExecutionError", "SdaxTimeoutError", "flatten_exceptions"]


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


class SdaxExecutionError(BaseExceptionGroup[BaseException]):
    """All failures of a run, raised once every owed cleanup has run.

    Its entries are the exceptions raised by the failed phase functions, the
    very objects they raised, in the order they failed (pre, then execute,
    then post); ``leaf_exceptions()`` flattens any nested groups (for example
    from task-group functions).

    When every failure is an ``Exception`` (the usual case) the instance is
    also an ``ExceptionGroup``, so ``except Exception`` and ``except*`` work
    as on any exception group. A phase that raised ``CancelledError`` itself
    (nobody in the run cancelled it) fails with that very object, which is a
    ``BaseException``: the group is then a ``BaseExceptionGroup`` only, the
    pair CPython itself uses for ``BaseExceptionGroup``/``ExceptionGroup``.
    ``except SdaxExecutionError`` catches both.
    """

    def __new__(cls, message: str, exceptions: Sequence[BaseException]) -> SdaxExecutionError:
        if cls is SdaxExecutionError and all(isinstance(e, Exception) for e in exceptions):
            cls = _SdaxExceptionGroup
        return super().__new__(cls, message, exceptions)

    def leaf_exceptions(self) -> list[BaseException]:
        """The original exceptions, with every nested group flattened."""
        return flatten_exceptions(self)

    def derive(self, excs: Sequence[BaseException]) -> SdaxExecutionError:  # type: ignore[override]  # typeshed's overloads
        """Build a group of the same kind from a subset (used by ``except*``)."""
        return SdaxExecutionError(self.message, excs)


class _SdaxExceptionGroup(SdaxExecutionError, ExceptionGroup[Exception]):
    # The SdaxExecutionError of failures that are all Exceptions: also an
    # ExceptionGroup.
    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the public class, whose __new__ picks this one again.
        return (SdaxExecutionError, *super().__reduce__()[1:])


# Tracebacks and reprs name the public class.
_SdaxExceptionGroup.__name__ = _SdaxExceptionGroup.__qualname__ = "SdaxExecutionError"


class SdaxTimeoutError(TimeoutError):
    """A run's deadline (``process_tasks(ctx, timeout=...)``) expired.

    Raised after every owed cleanup has run. ``failures`` lists the
    exceptions of the phase functions that failed before or during the stop
    (also chained as ``__cause__``, an :class:`SdaxExecutionError`, when there
    are any).

    Attributes:
        failures: The failures of the run, in order.
    """

    def __init__(self, message: str, failures: Sequence[BaseException] = ()) -> None:
        super().__init__(message)
        self.failures: list[BaseException] = list(failures)
