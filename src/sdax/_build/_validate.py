"""The value rules of the public API: one function per rule, each with its message.

Every check of a number, a count, a flag or a collection of options is made
here, so that one rule reads the same wherever it applies. The module knows
no sdax class: a rule about instances of one (limits, observers) is given the
class by its caller, which keeps this module at the bottom of the imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeGuard, TypeVar

__all__ = [
    "bounded_int",
    "callables",
    "cleanup_grace",
    "exception_types",
    "flag",
    "instance_of",
    "instances",
    "int_at_least",
    "is_int",
    "is_number",
    "level",
    "number_at_least",
    "optional_int_at_least",
    "seconds",
]

_C = TypeVar("_C")


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int but not a bool (``True`` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[float]:
    """Whether ``value`` is an int or a float, but not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def int_at_least(value: object, minimum: int, what: str, kind: str = "an int") -> int:
    """Check that ``value`` is an int (not a bool) of at least ``minimum``.

    Raises:
        TypeError: ``"<what> must be <kind>, got <value>"``.
        ValueError: ``"<what> must be >= <minimum>, got <value>"``.
    """
    if not is_int(value):
        raise TypeError(f"{what} must be {kind}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return value


def optional_int_at_least(value: object, minimum: int, what: str) -> int | None:
    """:func:`int_at_least`, with ``None`` allowed (and returned)."""
    if value is None:
        return None
    return int_at_least(value, minimum, what, "an int or None")


def bounded_int(value: object, minimum: int, what: str, *, optional: bool = False) -> int | None:
    """Check an int option of at least ``minimum`` (or ``None`` when ``optional``).

    Raises:
        ValueError: ``"<what> must be an int >= <minimum>[ or None], got <value>"``,
            whatever is wrong (the type or the range).
    """
    if value is None and optional:
        return None
    if not is_int(value) or value < minimum:
        allowed = " or None" if optional else ""
        raise ValueError(f"{what} must be an int >= {minimum}{allowed}, got {value!r}")
    return value


def level(task_name: object, value: object) -> int:
    """Check the level of a task added to a level builder.

    Any int is a level, negative ones and gaps included (levels run in
    increasing order), as in the reference, whose level keys hold any int.

    Raises:
        TypeError: ``value`` is not an int.
    """
    if not is_int(value):
        raise TypeError(f"Task {task_name!r}: level must be an int, got {value!r}")
    return value


def number_at_least(
    value: object, minimum: float, what: str, *, inclusive: bool = True, kind: str = "a number"
) -> float:
    """Check that ``value`` is a number (not a bool, not NaN) from ``minimum`` on.

    Args:
        value: The value to check; returned unchanged.
        minimum: The bound.
        what: The option's name, for the messages.
        inclusive: Whether ``minimum`` itself is allowed.
        kind: What the option must be, for the type error.

    Raises:
        TypeError: ``"<what> must be <kind>, got <value>"``.
        ValueError: ``"<what> must be >= <minimum>, got <value>"`` (``>`` when
            not ``inclusive``).
    """
    if not is_number(value):
        raise TypeError(f"{what} must be {kind}, got {value!r}")
    if math.isnan(value) or (value < minimum if inclusive else value <= minimum):
        op = ">=" if inclusive else ">"
        raise ValueError(f"{what} must be {op} {minimum:g}, got {value!r}")
    return value


def seconds(value: object, what: str) -> float | None:
    """A duration option in seconds (``>= 0``) or ``None``, as a float."""
    if value is None:
        return None
    return float(number_at_least(value, 0, what, kind="a number of seconds or None"))


def cleanup_grace(value: object) -> float:
    """The cleanup grace: seconds (``math.inf``: no bound), never ``None``."""
    checked = seconds(value, "cleanup_grace")
    if checked is None:
        raise TypeError("cleanup_grace must be a number of seconds (math.inf: no bound), got None")
    return checked


def flag(value: object, what: str) -> bool:
    """Check that ``value`` is a bool.

    Raises:
        TypeError: ``"<what> must be a bool, got <value>"``.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, got {value!r}")
    return value


def instance_of(value: object, cls: type[_C], message: str) -> _C:
    """Check that ``value`` is a ``cls``; ``message`` names the rule."""
    if not isinstance(value, cls):
        raise TypeError(f"{message}, got {value!r}")
    return value


def instances(value: object, cls: type[_C], what: str) -> tuple[_C, ...]:
    """One ``cls`` or an iterable of them, as a tuple.

    Raises:
        TypeError: ``value`` is neither, or holds something else.
    """
    name = cls.__name__
    if isinstance(value, cls):
        return (value,)
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a {name} or a tuple of them, got {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, cls):
            raise TypeError(f"{what} must contain {name} objects only, got {item!r}")
    return items


def exception_types(value: Any, what: str) -> tuple[type[BaseException], ...]:
    """One exception class or a tuple (or list) of them, as a tuple.

    Raises:
        TypeError: ``value`` is neither, or holds something else.
    """
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, tuple | list):
        raise TypeError(f"{what} must be an exception class or a tuple of them, got {value!r}")
    for item in value:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"{what} must contain exception classes only, got {item!r}")
    return tuple(value)


def callables(owner: str, function: object, **optional: object) -> None:
    """Check that ``function`` is callable, and each named option is callable or ``None``.

    Raises:
        TypeError: ``"<owner> needs a callable"`` or ``"<owner> <name>= must be callable"``.
    """
    if not callable(function):
        raise TypeError(f"{owner} needs a callable, got {function!r}")
    for label, value in optional.items():
        if value is not None and not callable(value):
            raise TypeError(f"{owner} {label}= must be callable, got {value!r}")
