"""What each recorded attempt is shown as in pictures and traces: its *mark*.

A :class:`~sdax.report.PhaseRecord` says how an attempt ended (its
``outcome``); a mark says it in the words a reader looks for: a plain
failure and a timeout are both ``"failed"`` outcomes, a post cancelled by the
grace of an outside cancellation is a ``"cancelled"`` one. The page
(:mod:`sdax._engine._html`) and the trace (:mod:`sdax._engine._trace`) both take their words
and styles from :data:`MARKS`, so they always agree.

New kinds of outcome (a skipped task, an optional failure, a fan-out item)
become one more entry in :data:`MARKS` and one more rule in :func:`mark_of`;
nothing else in the drawing code names a mark.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdax._build import PhaseId
from sdax._engine._timeline import PhaseRecord

__all__ = ["MARKS", "PHASE_COLOURS", "Mark", "mark_of"]


@dataclass(frozen=True, slots=True)
class Mark:
    """How one kind of attempt is drawn and named.

    Attributes:
        key: Short name, used in data attributes, CSS classes and trace args.
        label: The words of the legend and of hover titles.
        fill: Base colour of the bar (``None``: the phase's colour).
        pattern: The texture drawn over the fill, so that no mark is told
            by colour alone: ``None``, ``"stripes"`` (a retry follows),
            ``"cross"`` (the call failed for good), ``"back"`` (cancelled),
            ``"bars"`` (cut short by the cleanup bounds) or ``"dots"``.
        marker: Drawn just after the bar's end, visible even on a tiny bar:
            ``None``, ``"x"`` (a failure of the call) or ``"cut"``.
        problem: Whether the page lists it under "what went wrong".
        instant: Whether the trace adds an instant event at its end.
    """

    key: str
    label: str
    fill: str | None
    pattern: str | None
    marker: str | None
    problem: bool
    instant: bool


# Colours from the Okabe-Ito palette (readable with the common colour-vision
# deficiencies); the patterns carry the meaning as well.
PHASE_COLOURS: dict[PhaseId, str] = {
    PhaseId.PRE_EXEC: "#56b4e9",
    PhaseId.EXECUTE: "#0072b2",
    PhaseId.POST_EXEC: "#009e73",
}
"""The fill of an attempt that succeeded, per phase."""

MARKS: dict[str, Mark] = {
    mark.key: mark
    for mark in (
        Mark("ok", "ok", None, None, None, problem=False, instant=False),
        Mark("retried", "failed, retried", "#e69f00", "stripes", None, True, True),
        Mark("timeout-retried", "timed out, retried", "#cc79a7", "stripes", None, True, True),
        Mark("failed", "failed", "#d55e00", "cross", "x", True, True),
        Mark("timeout", "timed out", "#cc79a7", "cross", "x", True, True),
        Mark("cancelled", "cancelled", "#a6a6a6", "back", None, False, True),
        Mark("grace-cut", "cut by the grace", "#e6c700", "bars", "cut", True, True),
        Mark("budget-cut", "cut by the cleanup budget", "#8e6bbf", "bars", "cut", True, True),
        Mark("unfinished", "unfinished", "#ffffff", "dots", None, True, False),
    )
}
"""Every mark, in legend order."""


def _is_budget_cut(error: BaseException) -> bool:
    # The failure the cleanup budget gives a post it cancelled (_cleanup.py
    # words it; tests/test_html_report.py checks a real budget cut is found).
    return type(error) is TimeoutError and "cleanup budget" in str(error)


def mark_of(record: PhaseRecord) -> Mark:
    """The mark of one recorded attempt."""
    outcome = record.outcome
    if outcome == "ok":
        return MARKS["ok"]
    if outcome == "unfinished":
        return MARKS["unfinished"]
    if outcome == "cancelled":
        # Posts are never cancelled because something else failed: only the
        # grace of an outside cancellation cuts a running post this way.
        return MARKS["grace-cut" if record.phase is PhaseId.POST_EXEC else "cancelled"]
    error = record.error
    timed_out = isinstance(error, TimeoutError)
    if outcome == "retried":
        return MARKS["timeout-retried" if timed_out else "retried"]
    if error is not None and record.phase is PhaseId.POST_EXEC and _is_budget_cut(error):
        return MARKS["budget-cut"]
    return MARKS["timeout" if timed_out else "failed"]
