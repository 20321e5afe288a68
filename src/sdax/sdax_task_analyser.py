"""Graph analysis: validation, topological order and the wave model.

``TaskAnalyzer`` collects tasks and their dependencies; ``analyze()`` checks
them (missing dependencies, cycles) and returns an immutable
``TaskAnalysis``. The analysis describes the plan in two wave graphs:

* pre waves: tasks that have a ``pre_execute`` grouped by identical effective
  prerequisites (the nearest tasks with a ``pre_execute`` they depend on,
  looking through tasks without one, such as joins);
* post waves: tasks that have a ``post_execute`` grouped by cleanup level
  (wave 0 has no dependents with a ``post_execute``; wave ``k`` holds the
  tasks whose dependents are all in lower waves).

Waves describe the plan; at run time each task waits only for its own
dependencies (and, in cleanup, only for its own dependents).
"""

from __future__ import annotations

from sdax._build import (
    ExecutionGraph as ExecutionGraph,
    ExecutionWave as ExecutionWave,
    TaskAnalysis as TaskAnalysis,
    TaskAnalyzer as TaskAnalyzer,
)
from sdax._public import fixup_module_metadata

__all__ = [
    "ExecutionGraph",
    "ExecutionWave",
    "TaskAnalysis",
    "TaskAnalyzer",
]

fixup_module_metadata(__name__, globals())
