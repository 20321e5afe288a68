"""Watching runs: the observer protocol and its events.

Attach an observer to a processor (``builder.add_observer(obs)``) or to one
run (``process_tasks(ctx, observer=obs)``). It is told when a run starts and
ends, and when each phase call starts, finishes, fails, is retried or is
cancelled. Subclass :class:`RunObserver` and override what you need; every
method has a do-nothing default.

Observers cost nothing when none is attached: the run then takes the same
path as a build without hooks. An observer that raises does not disturb the
run; the first error of each run is reported as a ``RuntimeWarning``.

Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

from sdax._engine import (
    PhaseEvent as PhaseEvent,
    RunInfo as RunInfo,
    RunObserver as RunObserver,
)
from sdax._public import fixup_module_metadata

__all__ = [
    "PhaseEvent",
    "RunInfo",
    "RunObserver",
]

fixup_module_metadata(__name__, globals())
