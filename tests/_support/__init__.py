"""Helpers shared by the test modules: one copy of each, imported from here.

- The twins: :func:`env_flag` reads the switches, :func:`load_core` imports one
  twin of the integer core (skipped, or failed under ``SDAX_REQUIRE_EXTENSIONS=1``,
  when the compiled one is missing).
- Core inputs: the phase bits, :func:`csr`, :func:`sets_of`, :func:`outcome`,
  and the seeded random graphs (:func:`random_core_graph` for the kernels,
  :func:`random_dag` for built processors).
- The engine's behaviour tests: :func:`build_dag` (a processor from tasks and
  ``(task, depends_on)`` pairs, without the builder chain), :class:`Recorder`,
  whose phase functions log ``Entry(name, phase, event)`` records (events:
  ``start``; ``end`` when it returned; ``fail`` when it raised anything but a
  cancellation; ``cancel`` when a ``CancelledError`` reached it),
  :func:`no_new_pending_tasks`, the thread-safe :class:`Trace`,
  :func:`guarded`, :func:`assign`, :func:`leaf_types`, :class:`Quiet`,
  :class:`Interrupt` and the sample run :func:`retry_then_fail`.

Nothing here keeps state between tests: each test makes its own objects.
``core`` holds the first two groups, ``engine`` the last.
"""

from __future__ import annotations

from _support.core import (
    EXEC_BIT,
    PHASE_BITS,
    POST_BIT,
    PRE_BIT,
    Deps,
    csr,
    env_flag,
    load_core,
    outcome,
    random_core_graph,
    random_dag,
    sets_of,
)
from _support.engine import (
    EXEC,
    HANG_GUARD,
    PHASES,
    POST,
    PRE,
    Entry,
    Interrupt,
    Phase,
    PhaseFn,
    Quiet,
    Recorder,
    Trace,
    assign,
    build_dag,
    guarded,
    leaf_types,
    no_new_pending_tasks,
    pending_tasks,
    retry_then_fail,
)

__all__ = [
    "EXEC",
    "EXEC_BIT",
    "HANG_GUARD",
    "PHASES",
    "PHASE_BITS",
    "POST",
    "POST_BIT",
    "PRE",
    "PRE_BIT",
    "Deps",
    "Entry",
    "Interrupt",
    "Phase",
    "PhaseFn",
    "Quiet",
    "Recorder",
    "Trace",
    "assign",
    "build_dag",
    "csr",
    "env_flag",
    "guarded",
    "leaf_types",
    "load_core",
    "no_new_pending_tasks",
    "outcome",
    "pending_tasks",
    "random_core_graph",
    "random_dag",
    "retry_then_fail",
    "sets_of",
]
