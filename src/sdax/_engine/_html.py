"""A run timeline as a picture: a self-contained HTML page, or one SVG file.

Written with the standard library only. The page holds inline SVG and CSS
and nothing else: no script, no font, no link to anything outside it, so it
opens the same from a file, an e-mail or a CI artifact, offline.

What the page shows, top to bottom: the run's summary; a legend; how many
attempts ran at once over time (per phase, one column per pixel: the
aggregate view that keeps a run of thousands of tasks readable); the
timeline itself, one row per task in order of first start, each attempt a
bar on a shared time axis (the axis stays in view while the rows scroll);
and a table of what went wrong. Every bar carries a hover title (task,
phase, attempt, times, outcome, error) and ``data-*`` attributes with the
same facts, for tools and tests.

How an attempt is drawn comes from its mark (:mod:`sdax._engine._marks`): a colour
and a pattern, and for failures and cuts a marker after the bar's end, so
that nothing is told by colour alone. A retried attempt is joined to the
next one by a dotted line: the retry delay.

Rows are built by :func:`_rows` as ``(label, depth, records)``: today one
row per task at depth 0; rows of a task's parts can follow it at depth 1.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from sdax._build import PHASE_LABELS, PhaseId, describe_name
from sdax._engine._marks import MARKS, PHASE_COLOURS, Mark, mark_of
from sdax._engine._timeline import PhaseRecord, RunTimeline, describe_error, describe_retry
from sdax._version import __version__

__all__ = ["DEFAULT_WIDTH", "html_page", "timeline_html", "timeline_page", "timeline_svg"]

DEFAULT_WIDTH = 960
"""Pixels of the time axis, unless told otherwise."""

_MIN_WIDTH = 200
_ROW = 18  # height of a row
_BAR = 12  # height of a bar
_PAD = (_ROW - _BAR) // 2
_CHAR = 7.0  # rough width of a character of the 12 px labels
_LABEL_MIN, _LABEL_MAX = 80, 320  # pixels of the label column (task names, overview titles)
_LABEL_X = 6  # where the labels start
_LABEL_GAP = 10  # room between the longest label and the plot
_MIN_BAR = 2.0  # pixels of an attempt's bar, at least: one of no time still shows
_LABEL_CHARS = 44  # longer task names are cut (the hover title has them whole)
_INDENT = 12  # pixels a row's label moves right per level of depth
_RIGHT = 24  # room after the plot for the markers of attempts that end last
_AXIS = 26  # height of the time axis
_OVERVIEW = 56  # height of the "running at once" chart
_PROBLEM_ROWS = 200  # rows of the "what went wrong" table, at most
_INK = "#333333"  # the patterns' and markers' ink
_FRAME = "#8c8c8c"  # the plot's frame: drawn in this colour and nothing else
_GRID = "#e3e3e3"
_BAND = "#f4f6f8"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
_SUMMARY_LINES = 3  # lines of the summary under the SVG's title, at most
_SUMMARY_STEP = 16  # their spacing
_TILE = 6  # pattern tiles, in pixels: drawn as whole pixels, crisp at any zoom
_RUNNING_TITLE = "running at once"  # the overview's title

# Each pattern as the pixels of its tile that take the ink.
_PATTERN_PIXELS: dict[str, tuple[tuple[int, int], ...]] = {
    "stripes": tuple((i, _TILE - 1 - i) for i in range(_TILE)),
    "back": tuple((i, i) for i in range(_TILE)),
    "cross": tuple({*((i, i) for i in range(_TILE)), *((i, _TILE - 1 - i) for i in range(_TILE))}),
    "bars": tuple((0, j) for j in range(_TILE)),
    "dots": ((1, 1), (4, 4)),
}


def _pattern_id(mark: Mark) -> str:
    return f"sdax-{mark.key}"


@dataclass(frozen=True, slots=True)
class _Row:
    key: Hashable
    label: str
    depth: int
    records: tuple[PhaseRecord, ...]


_Problem = tuple[PhaseRecord, Mark, PhaseRecord | None]
"""An attempt that went wrong, its mark, and the attempt after it (its retry), if any."""


def _rows(timeline: RunTimeline) -> list[_Row]:
    """One row per task that was called, in order of its first start."""
    by_task: dict[Hashable, list[PhaseRecord]] = {}
    for record in sorted(timeline.records, key=lambda r: r.start):
        by_task.setdefault(record.task, []).append(record)
    return [_Row(task, describe_name(task), 0, tuple(rs)) for task, rs in by_task.items()]


# -- words ------------------------------------------------------------------------------


def _time(seconds: float) -> str:
    """A time or duration, in the unit that suits it."""
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap_words(text: str, limit: int, lines: int) -> list[str]:
    """``text`` in lines of at most ``limit`` characters, broken between words.

    At most ``lines`` lines: the last is cut when the text needs more; a
    word longer than a line is cut too.
    """
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > limit:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    if len(out) > lines:
        out[lines - 1] = _cut(" ".join(out[lines - 1 :]), limit)
        del out[lines:]
    return [_cut(text_line, limit) for text_line in out]


def _peak_title(peak: int) -> str:
    return f"peak {peak}"


def _problems_title(count: int) -> str:
    return f"went wrong: {count}"


def _outcome_words(record: PhaseRecord, mark: Mark, retry: PhaseRecord | None) -> str:
    """How the attempt ended; ``retry``: the attempt after it, if any."""
    if record.outcome == "retried":
        # A retried mark's label says how the attempt ended, then "retried";
        # the words of the text chart take the place of "retried" (both times:
        # the pause planned, and when the retry began, or that it never did).
        ended = mark.label.removesuffix(", retried")
        return f"{ended}, {describe_retry(record, retry, _time)}"
    return mark.label


def _hover(record: PhaseRecord, mark: Mark, retry: PhaseRecord | None) -> str:
    lines = [
        f"{describe_name(record.task)} · {PHASE_LABELS[record.phase]} · "
        f"attempt {record.attempt + 1}",
        f"{_time(record.duration)} ({_time(record.start)} → {_time(record.end)})",
        _outcome_words(record, mark, retry),
    ]
    if record.error is not None and mark.key != "cancelled":
        lines.append(describe_error(record.error))
    return "\n".join(lines)


# -- the time axis ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scale:
    span: float  # seconds shown
    left: int  # pixel of time 0
    width: int  # pixels of the span

    def x(self, t: float) -> float:
        return self.left + max(0.0, min(t, self.span)) / self.span * self.width


def _ticks(span: float, width: int) -> list[tuple[float, str]]:
    """Round times to mark on an axis ``width`` pixels wide, about 70 px apart."""
    rough = span / max(1, width // 70)
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough * 0.999)
    if step >= 1.0:
        scale, unit = 1.0, "s"
    elif step >= 1e-3:
        scale, unit = 1e3, "ms"
    else:
        scale, unit = 1e6, "µs"
    digits = max(0, -math.floor(math.log10(step * scale) + 1e-9))
    ticks = []
    n = 0
    while n * step <= span * (1 + 1e-9):
        t = n * step
        ticks.append((t, "0" if n == 0 else f"{t * scale:.{digits}f} {unit}"))
        n += 1
    return ticks


def _f(value: float) -> str:
    """A coordinate, short."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _defs(marks: Iterable[Mark]) -> str:
    parts = []
    for mark in marks:
        if mark.pattern is None or mark.fill is None:
            continue
        pixels = "".join(f"M{x} {y}h1v1h-1z" for x, y in sorted(_PATTERN_PIXELS[mark.pattern]))
        parts.append(
            f'<pattern id="{_pattern_id(mark)}" width="{_TILE}" height="{_TILE}" '
            f'patternUnits="userSpaceOnUse">'
            f'<rect width="{_TILE}" height="{_TILE}" fill="{mark.fill}"/>'
            f'<path d="{pixels}" fill="{_INK}"/></pattern>'
        )
    return f"<defs>{''.join(parts)}</defs>"


def _fill(record: PhaseRecord, mark: Mark) -> str:
    if mark.fill is None:
        return PHASE_COLOURS[record.phase]
    if mark.pattern is None:
        return mark.fill
    return f"url(#{_pattern_id(mark)})"


def _marker(mark: Mark, x: float, y: float) -> str:
    """The marker after a bar that ends at ``x`` (``y``: the bar's top)."""
    if mark.marker == "x":
        a, b = x + 2, x + 2 + _BAR - 4
        top, bottom = y + 2, y + _BAR - 2
        return (
            f'<path class="marker" data-outcome="{mark.key}" '
            f'd="M{_f(a)} {top}L{_f(b)} {bottom}M{_f(a)} {bottom}L{_f(b)} {top}" '
            f'stroke="{_INK}" stroke-width="2" fill="none"/>'
        )
    if mark.marker == "cut":
        return (
            f'<rect class="marker" data-outcome="{mark.key}" x="{_f(x)}" y="{y - 2}" '
            f'width="2" height="{_BAR + 4}" fill="{_INK}"/>'
        )
    return ""


# -- the parts of the picture ------------------------------------------------------------


def _legend(marks: Sequence[Mark], width: int, retry_links: bool) -> tuple[str, int]:
    """The legend, as SVG elements ``width`` pixels wide, and its height."""
    entries: list[tuple[str, str, str]] = []  # (data-outcome, swatch, label)
    for phase, colour in PHASE_COLOURS.items():
        entries.append(
            (
                "ok",
                f'<rect width="28" height="{_BAR}" fill="{colour}"/>',
                f"{PHASE_LABELS[phase]}, ok",
            )
        )
    for mark in marks:
        if mark.key == "ok":
            continue
        fill = mark.fill if mark.pattern is None else f"url(#{_pattern_id(mark)})"
        swatch = f'<rect width="28" height="{_BAR}" fill="{fill}"/>'
        if mark.marker is not None:
            swatch += _marker(mark, 28, 0).replace('class="marker"', 'class="legend-marker"')
        entries.append((mark.key, swatch, mark.label))
    if retry_links:
        entries.append(
            (
                "retry-delay",
                f'<line x1="0" y1="{_BAR // 2}" x2="28" y2="{_BAR // 2}" stroke="{_INK}" '
                f'stroke-width="1.5" stroke-dasharray="2 2"/>',
                "retry delay",
            )
        )
    parts = []
    x, y = 0.0, 0
    for key, swatch, label in entries:
        size = 44 + len(label) * _CHAR + 20
        if x > 0 and x + size > width:
            x, y = 0.0, y + _ROW + 4
        parts.append(
            f'<g class="legend-item" data-outcome="{key}" transform="translate({_f(x)},{y})">'
            f'{swatch}<text x="44" y="{_BAR - 1}">{escape(label)}</text></g>'
        )
        x += size
    return "".join(parts), y + _ROW


def _overview(
    timeline: RunTimeline, scale: _Scale, problems: Sequence[_Problem]
) -> tuple[str, int]:
    """How many attempts ran at once, per phase, stacked; one column per pixel."""
    bins = scale.width
    counts: dict[PhaseId, list[int]] = {phase: [0] * (bins + 1) for phase in PHASE_COLOURS}
    for record in timeline.records:
        first = min(bins - 1, max(0, math.floor(record.start / scale.span * bins)))
        last = min(bins, max(first + 1, math.ceil(record.end / scale.span * bins)))
        column = counts[record.phase]
        column[first] += 1
        column[last] -= 1
    levels: dict[PhaseId, list[int]] = {}
    for phase, column in counts.items():
        running, level = 0, []
        for delta in column[:bins]:
            running += delta
            level.append(running)
        levels[phase] = level
    totals = [sum(levels[p][i] for p in levels) for i in range(bins)]
    peak = max(totals, default=0)
    height = _OVERVIEW - 14
    unit = height / max(peak, 1)
    parts = [
        f'<text x="{_LABEL_X}" y="{_OVERVIEW - 22}" class="overview-title">{_RUNNING_TITLE}</text>',
        f'<text x="{_LABEL_X}" y="{_OVERVIEW - 6}" class="overview-title" data-peak="{peak}">'
        f"{_peak_title(peak)}</text>",
        f'<line x1="{scale.left}" y1="{_OVERVIEW - 0.5}" x2="{scale.left + bins}" '
        f'y2="{_OVERVIEW - 0.5}" stroke="#666666"/>',
    ]
    base = [0] * bins
    for phase in PHASE_COLOURS:
        level = levels[phase]
        path = []
        i = 0
        while i < bins:
            count, below = level[i], base[i]
            j = i + 1
            while j < bins and level[j] == count and base[j] == below:
                j += 1
            if count:
                top = _OVERVIEW - (below + count) * unit
                path.append(f"M{scale.left + i} {_f(top)}h{j - i}v{_f(count * unit)}h{i - j}z")
            i = j
        for k in range(bins):
            base[k] += level[k]
        if path:
            parts.append(
                f'<path class="overview" data-phase="{PHASE_LABELS[phase]}" '
                f'd="{"".join(path)}" fill="{PHASE_COLOURS[phase]}"/>'
            )
    parts.append(_problem_strip(problems, scale, _OVERVIEW + 6))
    return "".join(parts), _OVERVIEW + 6 + _ROW + 4


def _problem_strip(problems: Sequence[_Problem], scale: _Scale, top: int) -> str:
    """Every attempt that went wrong, on one line under the overview: when, and what."""
    parts = [
        f'<text x="{_LABEL_X}" y="{top + _ROW - 5}" class="overview-title" '
        f'data-problems="{len(problems)}">{_problems_title(len(problems))}</text>',
        f'<rect x="{scale.left}" y="{top}" width="{scale.width}" height="{_ROW}" fill="{_BAND}"/>',
    ]
    y = top + _PAD
    for record, mark, retry in problems:
        x0, x1 = scale.x(record.start), scale.x(record.end)
        width = max(x1 - x0, _MIN_BAR)
        parts.append(
            f'<rect class="problem" x="{_f(x0)}" y="{y}" width="{_f(width)}" height="{_BAR}" '
            f'fill="{_fill(record, mark)}" data-outcome="{mark.key}">'
            f"<title>{escape(_hover(record, mark, retry))}</title></rect>"
        )
    return "".join(parts)


def _axis(scale: _Scale, ticks: list[tuple[float, str]]) -> str:
    parts = [
        f'<line x1="{scale.left}" y1="{_AXIS - 0.5}" x2="{scale.left + scale.width}" '
        f'y2="{_AXIS - 0.5}" stroke="#666666"/>'
    ]
    for t, label in ticks:
        x = _f(round(scale.x(t)) + 0.5)
        parts.append(
            f'<line x1="{x}" y1="{_AXIS - 6}" x2="{x}" y2="{_AXIS}" stroke="#666666"/>'
            f'<text x="{x}" y="{_AXIS - 9}" text-anchor="middle">{escape(label)}</text>'
        )
    return "".join(parts)


def _chart(rows: Sequence[_Row], scale: _Scale, ticks: list[tuple[float, str]]) -> tuple[str, int]:
    """The rows: bands, grid, frame, labels, bars, markers and retry links."""
    height = max(1, len(rows)) * _ROW
    right = scale.left + scale.width
    parts = []
    for i in range(1, len(rows), 2):
        parts.append(
            f'<rect class="band" x="0" y="{i * _ROW}" width="{right + _RIGHT}" '
            f'height="{_ROW}" fill="{_BAND}"/>'
        )
    for t, _label in ticks[1:]:
        x = _f(round(scale.x(t)) + 0.5)
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" stroke="{_GRID}"/>')
    # The frame: half-pixel coordinates put its 1 px lines on whole pixels.
    parts.append(
        f'<rect class="plot" x="{scale.left - 0.5}" y="0.5" width="{scale.width + 1}" '
        f'height="{height - 1}" fill="none" stroke="{_FRAME}"/>'
    )
    for index, row in enumerate(rows):
        top = index * _ROW
        label = _cut(row.label, _LABEL_CHARS)
        title = f"<title>{escape(row.label)}</title>" if label != row.label else ""
        parts.append(
            f'<g class="row" id="row-{index}" data-task="{escape(row.label)}">'
            f'<text class="label" x="{_LABEL_X + _INDENT * row.depth}" y="{top + _ROW - 5}">'
            f"{title}{escape(label)}</text>"
        )
        attempts = {(r.phase, r.attempt): r for r in row.records}
        y = top + _PAD
        for record in row.records:
            mark = mark_of(record)
            x0, x1 = scale.x(record.start), scale.x(record.end)
            # An attempt of (next to) no time still gets a bar that shows.
            width = max(x1 - x0, _MIN_BAR)
            nxt = attempts.get((record.phase, record.attempt + 1))
            parts.append(
                f'<rect class="bar" x="{_f(x0)}" y="{y}" width="{_f(width)}" height="{_BAR}" '
                f'fill="{_fill(record, mark)}" data-phase="{PHASE_LABELS[record.phase]}" '
                f'data-attempt="{record.attempt + 1}" data-outcome="{mark.key}" '
                f'data-start="{record.start:.6f}" data-end="{record.end:.6f}">'
                f"<title>{escape(_hover(record, mark, nxt))}</title></rect>"
            )
            parts.append(_marker(mark, x0 + width, y))
            if record.outcome == "retried" and nxt is not None:
                mid = y + _BAR / 2
                parts.append(
                    f'<line class="retry-link" x1="{_f(x0 + width)}" y1="{mid}" '
                    f'x2="{_f(scale.x(nxt.start))}" y2="{mid}" stroke="{_INK}" '
                    f'stroke-width="1.5" stroke-dasharray="2 2"/>'
                )
        parts.append("</g>")
    return "".join(parts), height


@dataclass(frozen=True, slots=True)
class _Picture:
    """Everything both outputs draw, laid out once."""

    title: str
    summary: str
    defs: str
    legend: str
    legend_h: int
    overview: str
    overview_h: int
    axis: str
    chart: str
    chart_h: int
    total_w: int
    problems: list[_Problem]
    rows: list[_Row]
    counts: dict[str, int]  # attempts per mark, in legend order


def _label_column(rows: Sequence[_Row], attempts: int, problems: int) -> int:
    """Pixels left of the plot: room for every label there, task names and overview titles.

    The overview's peak is not known yet (it depends on the scale, which
    depends on this); ``attempts`` bounds it.
    """
    labels = [(_cut(r.label, _LABEL_CHARS), _INDENT * r.depth) for r in rows]
    titles = (_RUNNING_TITLE, _peak_title(attempts), _problems_title(problems))
    labels.extend((title, 0) for title in titles)
    widest = max(indent + len(text) * _CHAR for text, indent in labels)
    return int(min(max(_LABEL_X + widest + _LABEL_GAP, _LABEL_MIN), _LABEL_MAX))


def _picture(timeline: RunTimeline, width: int) -> _Picture:
    if not isinstance(width, int) or isinstance(width, bool):
        raise TypeError(f"width must be an int (pixels of the time axis), got {width!r}")
    if width < _MIN_WIDTH:
        raise ValueError(f"width must be at least {_MIN_WIDTH} pixels, got {width}")
    rows = _rows(timeline)
    used = {mark_of(r).key for r in timeline.records}
    marks = [m for m in MARKS.values() if m.key in used]
    attempts = {(r.task, r.phase, r.attempt): r for r in timeline.records}
    problems = []
    counts = dict.fromkeys(used, 0)
    for record in sorted(timeline.records, key=lambda r: r.start):
        mark = mark_of(record)
        counts[mark.key] += 1
        if mark.problem:
            retry = attempts.get((record.task, record.phase, record.attempt + 1))
            problems.append((record, mark, retry))
    left = _label_column(rows, len(timeline.records), len(problems))
    span = max([timeline.duration, *(r.end for r in timeline.records)])
    scale = _Scale(span if span > 0 else 1e-9, left, width)
    ticks = _ticks(scale.span, width)
    total_w = left + width + _RIGHT
    legend, legend_h = _legend(marks, total_w, "retried" in used or "timeout-retried" in used)
    overview, overview_h = _overview(timeline, scale, problems)
    chart, chart_h = _chart(rows, scale, ticks)
    return _Picture(
        title=f"sdax run {timeline.run_id}: {timeline.outcome}",
        summary=timeline.summary(),
        defs=_defs(marks),
        legend=legend,
        legend_h=legend_h,
        overview=overview,
        overview_h=overview_h,
        axis=_axis(scale, ticks),
        chart=chart,
        chart_h=chart_h,
        total_w=total_w,
        problems=problems,
        rows=rows,
        counts={m.key: counts[m.key] for m in marks},
    )


# -- the outputs ----------------------------------------------------------------------------

_CSS = f"""
body {{ font-family: {_FONT}; font-size: 14px; color: #1f1f1f; background: #ffffff;
  margin: 16px 20px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
h2 {{ font-size: 15px; margin: 18px 0 6px; }}
p.summary, p.counts {{ margin: 0 0 8px; color: #444444; overflow-wrap: anywhere; }}
svg {{ display: block; font-family: {_FONT}; font-size: 12px; }}
svg text {{ fill: #1f1f1f; }}
svg .overview-title {{ fill: #444444; }}
.timeline {{ overflow-x: auto; }}
.axis {{ position: sticky; top: 0; background: #ffffff; z-index: 1; }}
rect.bar:hover {{ stroke: #000000; stroke-width: 1.5; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }}
th {{ border-bottom: 1px solid #999999; }}
td.num {{ text-align: right; white-space: nowrap; }}
footer {{ margin-top: 18px; color: #777777; font-size: 12px; }}
"""


def _problem_table(picture: _Picture, row_of: dict[Hashable, int]) -> str:
    problems = picture.problems
    if not problems:
        return "<p>Nothing went wrong: every attempt succeeded.</p>"
    lines = [
        "<table><thead><tr><th>start</th><th>task</th><th>phase</th><th>try</th>"
        "<th>time</th><th>outcome</th><th>error</th></tr></thead><tbody>"
    ]
    for record, mark, retry in problems[:_PROBLEM_ROWS]:
        name = describe_name(record.task)
        error = "" if record.error is None else describe_error(record.error)
        lines.append(
            f'<tr data-outcome="{mark.key}"><td class="num">{_time(record.start)}</td>'
            f'<td><a href="#row-{row_of[record.task]}">{escape(name)}</a></td>'
            f"<td>{PHASE_LABELS[record.phase]}</td><td class='num'>{record.attempt + 1}</td>"
            f"<td class='num'>{_time(record.duration)}</td>"
            f"<td>{escape(_outcome_words(record, mark, retry))}</td>"
            f"<td>{escape(error)}</td></tr>"
        )
    lines.append("</tbody></table>")
    if len(problems) > _PROBLEM_ROWS:
        lines.append(f"<p>… and {len(problems) - _PROBLEM_ROWS} more.</p>")
    return "".join(lines)


def html_page(title: str, body: str, footer: str = "") -> str:
    """A self-contained page in the run page's style.

    For pages that go with run pages (the fault explorer's index of causes).

    Args:
        title: The page's title (text).
        body: The page's content (HTML).
        footer: Text after "Written by sdax VERSION" in the footer.
    """
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
            body,
            f"<footer>Written by sdax {escape(__version__)}{escape(footer)}</footer>",
            "</body></html>\n",
        ]
    )


def timeline_html(timeline: RunTimeline, width: int = DEFAULT_WIDTH) -> str:
    """Draw ``timeline`` as a self-contained HTML page: inline SVG and CSS, no script.

    The page fetches nothing (no script, font, image or link) and opens
    offline. Top to bottom: the run's summary and its attempts counted by
    outcome; a legend; how many attempts ran at once over time, and a strip
    of every attempt that went wrong (which keep a run of thousands of tasks
    readable); the timeline, one row per task in order of first start, each
    attempt a bar on a time axis that stays in view while the rows scroll;
    and a table of what went wrong, linked to the rows.

    Each bar's colour *and* pattern say how the attempt ended (retried,
    failed, timed out, cancelled, cut by the grace or the cleanup budget,
    unfinished); failures and cuts also get a marker after the bar, and a
    retried attempt is joined to the next by its retry delay. Each bar has a
    hover title (task, phase, attempt, times, outcome, error) and ``data-``
    attributes with the same facts (``data-phase``, ``data-attempt``,
    ``data-outcome``, ``data-start``, ``data-end``; the row's ``data-task``).

    Args:
        timeline: The recorded run.
        width: Pixels of the time axis (at least 200).

    Raises:
        TypeError: ``width`` is not an int.
        ValueError: ``width`` is below 200.
    """
    return timeline_page(timeline, width)


def timeline_page(
    timeline: RunTimeline, width: int = DEFAULT_WIDTH, title: str | None = None, preface: str = ""
) -> str:
    """:func:`timeline_html` with another title, and ``preface`` (HTML) after the header.

    For pages that show a run in a context (the fault explorer shows what
    broke in the run above its timeline).
    """
    p = _picture(timeline, width)
    title = p.title if title is None else title
    row_of = {row.key: i for i, row in enumerate(p.rows)}
    counts = "; ".join(
        f'<span data-outcome="{key}" data-count="{n}">{n} {escape(MARKS[key].label)}</span>'
        for key, n in p.counts.items()
    )
    w = p.total_w
    body = "".join(
        [
            f'<svg width="0" height="0" style="position:absolute" aria-hidden="true">'
            f"{p.defs}</svg>",
            f"<header><h1>{escape(title)}</h1>",
            f'<p class="summary">{escape(p.summary)}</p>',
            f'<p class="counts">Attempts: {counts or "none"}.</p></header>',
            preface,
            f'<section class="legend"><svg class="legend" width="{w}" height="{p.legend_h}">'
            f"{p.legend}</svg></section>",
            f'<section class="overview"><svg class="overview" width="{w}" '
            f'height="{p.overview_h}">{p.overview}</svg></section>',
            '<section class="timeline"><div class="axis">',
            f'<svg class="axis" width="{w}" height="{_AXIS}">{p.axis}</svg></div>',
            f'<svg class="chart" width="{w}" height="{p.chart_h}" shape-rendering="crispEdges">'
            f"{p.chart}</svg></section>",
            f"<section class='problems'><h2>What went wrong</h2>{_problem_table(p, row_of)}",
            "</section>",
        ]
    )
    return html_page(title, body, " (sdax.report.RunReport). Hover over a bar for its details.")


def timeline_svg(timeline: RunTimeline, width: int = DEFAULT_WIDTH) -> str:
    """Draw ``timeline`` as one standalone SVG document.

    The picture of :func:`timeline_html` (title, legend, overview, rows)
    without the page around it and its table: for documents and slides.

    Args:
        timeline: The recorded run.
        width: Pixels of the time axis (at least 200).

    Raises:
        TypeError: ``width`` is not an int.
        ValueError: ``width`` is below 200.
    """
    p = _picture(timeline, width)
    w = p.total_w
    # The summary wraps between words (an SVG line does not wrap by itself),
    # up to _SUMMARY_LINES lines; only a longer one is cut.
    summary = _wrap_words(p.summary, int(w / 6.5), _SUMMARY_LINES)
    y_legend = 48 + _SUMMARY_STEP * (len(summary) - 1)
    y_overview = y_legend + p.legend_h + 6
    y_axis = y_overview + p.overview_h + 4
    y_chart = y_axis + _AXIS
    height = y_chart + p.chart_h + 8
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 16}" height="{height}" '
            f'viewBox="-8 0 {w + 16} {height}" font-family="{_FONT}" font-size="12">',
            f"<title>{escape(p.title)}</title>{p.defs}",
            f'<rect x="-8" y="0" width="{w + 16}" height="{height}" fill="#ffffff"/>',
            f'<text x="0" y="18" font-size="15" font-weight="bold">{escape(p.title)}</text>',
            *(
                f'<text class="summary" x="0" y="{36 + _SUMMARY_STEP * i}" fill="#444444">'
                f"{escape(line)}</text>"
                for i, line in enumerate(summary)
            ),
            f'<g transform="translate(0,{y_legend})">{p.legend}</g>',
            f'<g transform="translate(0,{y_overview})">{p.overview}</g>',
            f'<g transform="translate(0,{y_axis})">{p.axis}</g>',
            f'<g transform="translate(0,{y_chart})" shape-rendering="crispEdges">{p.chart}</g>',
            "</svg>\n",
        ]
    )
