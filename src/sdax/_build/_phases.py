"""Phase identifiers, their names, and how task names are shown.

Every message, chart, export and trace that names a phase or a task takes
the words from here, so they read the same everywhere.
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import Enum

__all__ = ["PHASE_FIELDS", "PHASE_LABELS", "PhaseId", "describe_name"]


class PhaseId(Enum):
    """The three phases of a run, in the order they run."""

    PRE_EXEC = 1
    """Setup: ``pre_execute`` functions, in dependency order."""
    EXECUTE = 2
    """Main work: ``execute`` functions, all together, after every pre succeeded."""
    POST_EXEC = 3
    """Cleanup: ``post_execute`` functions, in reverse dependency order."""



PHASE_FIELDS: dict[PhaseId, str] = {
    PhaseId.PRE_EXEC: "pre_execute",
    PhaseId.EXECUTE: "execute",
    PhaseId.POST_EXEC: "post_execute",
}
"""The :class:`~sdax.tasks.AsyncTask` field that holds each phase's function."""

PHASE_LABELS: dict[PhaseId, str] = {
    PhaseId.PRE_EXEC: "pre",
    PhaseId.EXECUTE: "execute",
    PhaseId.POST_EXEC: "post",
}
"""Short phase names, for charts and diagrams."""


def describe_name(name: Hashable) -> str:
    """Format a task name for a message: strings as they are, others by repr."""
    return name if isinstance(name, str) else repr(name)
