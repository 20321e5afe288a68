"""Phase identifiers."""

from __future__ import annotations

from enum import Enum

__all__ = ["PhaseId"]


class PhaseId(Enum):
    """The three phases of a run, in the order they run."""

    PRE_EXEC = 1
    """Setup: ``pre_execute`` functions, in dependency order."""
    EXECUTE = 2
    """Main work: ``execute`` functions, all together, after every pre succeeded."""
    POST_EXEC = 3
    """Cleanup: ``post_execute`` functions, in reverse dependency order."""
