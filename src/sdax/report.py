"""Run reports: a built-in observer that records timelines and draws them.

Attach a :class:`RunReport` to a processor or to one run; once the run has
ended, read its timeline as data (:attr:`RunReport.last`, a
:class:`RunTimeline` of :class:`PhaseRecord` objects) or as a text Gantt
chart (:meth:`RunReport.render`)::

    report = RunReport()
    await processor.process_tasks(ctx, observer=report)
    print(report.render())

The drawing depends only on the records, so a timeline built by hand draws
exactly the same every time.
"""

from __future__ import annotations

from sdax._engine import (
    Outcome as Outcome,
)
from sdax._engine import (
    PhaseRecord as PhaseRecord,
)
from sdax._engine import (
    RunReport as RunReport,
)
from sdax._engine import (
    RunTimeline as RunTimeline,
)
from sdax._engine import (
    describe_error as describe_error,
)
from sdax._engine import (
    render_timeline as render_timeline,
)
from sdax._engine import (
    run_outcome as run_outcome,
)
from sdax._public import fixup_module_metadata

__all__ = [
    "Outcome",
    "PhaseRecord",
    "RunReport",
    "RunTimeline",
    "describe_error",
    "render_timeline",
    "run_outcome",
]

fixup_module_metadata(__name__, globals())
