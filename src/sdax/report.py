"""Run reports: a built-in observer that records timelines and draws them.

Attach a :class:`RunReport` to a processor or to one run; once the run has
ended, read its timeline as data (:attr:`RunReport.last`, a
:class:`RunTimeline` of :class:`PhaseRecord` objects), as a text Gantt
chart (:meth:`RunReport.render`), as a self-contained HTML page
(:meth:`RunReport.write_html`) or as a trace for Perfetto
(:meth:`RunReport.write_trace`)::

    report = RunReport()
    await processor.process_tasks(ctx, observer=report)
    print(report.render())

The drawing depends only on the records, so a timeline built by hand draws
exactly the same every time.
"""

from __future__ import annotations

from sdax._engine import (
    Outcome as Outcome,
    PhaseRecord as PhaseRecord,
    RunReport as RunReport,
    RunTimeline as RunTimeline,
    describe_error as describe_error,
    render_timeline as render_timeline,
    run_outcome as run_outcome,
    timeline_html as timeline_html,
    timeline_svg as timeline_svg,
    timeline_trace as timeline_trace,
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
    "timeline_html",
    "timeline_svg",
    "timeline_trace",
]

fixup_module_metadata(__name__, globals())
