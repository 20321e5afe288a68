"""The results of an exploration: what broke, in which scenario, and how to see it again.

A report groups the broken scenarios by cause (the same broken rules, word
for word, by the first line of each: pytest's assertion rewriting adds lines
of values that differ from run to run) and shows one trace per cause, from
its simplest scenario, with the ids of all of them: a bug that breaks 26
scenarios reads as one finding.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from sdax._engine import html_page, timeline_page, timeline_trace
from sdax.report import RunTimeline
from sdax.testing._faults import Event

__all__ = ["Cause", "ExploreResult", "Finding", "plural", "python_hint"]

WIDTH = 100
"""Lines of scenario ids are wrapped at this width."""


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, with an ``s`` unless the count is one."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _first_lines(broken: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(text.split("\n", 1)[0] for text in broken)


def _bullets(broken: tuple[str, ...]) -> list[str]:
    # A message of several lines keeps them, indented under its bullet.
    return [f"    - {text}".replace("\n", "\n      ") for text in broken]


def python_hint(scenario: str) -> str:
    """How to run a scenario again from Python (the default reproduce hint)."""
    return f'explore(..., only="{scenario}")'


@dataclass(frozen=True, slots=True)
class Finding:
    """One scenario that broke at least one rule.

    Attributes:
        scenario: The scenario's one-line id (pass it as ``only=``).
        broken: The rules it broke, one sentence each: sdax's promises, the
            user's ``check(ctx)``, or what was left on the event loop.
        outcome: What the caller of ``process_tasks`` got.
        trace: Every phase call, fault and sdax report of the run, in order
            (the report leaves out sdax's ``started`` events, which repeat
            the calls' own ``start``).
    """

    scenario: str
    broken: tuple[str, ...]
    outcome: str
    trace: tuple[Event, ...]

    def render(self, reproduce: Callable[[str], str] = python_hint) -> str:
        """The finding as a readable block of text.

        Args:
            reproduce: Writes how to run the scenario again, given its id.
        """
        lines = [f"BROKEN  {self.scenario}", f"  reproduce: {reproduce(self.scenario)}"]
        lines.append("  what broke:")
        lines.extend(_bullets(self.broken))
        lines.extend(self._story())
        return "\n".join(lines)

    def _story(self) -> list[str]:
        lines = [f"  the caller got: {self.outcome}", "  trace (loop time, call, event):"]
        # sdax's "started" repeats the call's own "start": left out.
        shown = (ev for ev in self.trace if not (ev.source == "sdax" and ev.what == "started"))
        lines.extend(f"    {ev.line()}" for ev in shown)
        return lines


@dataclass(frozen=True, slots=True)
class Cause:
    """The findings that broke the same rules, word for word: most likely one bug.

    Attributes:
        broken: The rules broken, one sentence each: the first line of each
            of every finding's :attr:`Finding.broken`.
        findings: The scenarios that broke them, in the order they ran.
    """

    broken: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The ids of the scenarios, in the order they ran."""
        return tuple(f.scenario for f in self.findings)

    @property
    def example(self) -> Finding:
        """The simplest finding: the fewest faults, then the shortest trace, then the first."""
        return min(self.findings, key=lambda f: (f.scenario.count(" + "), len(f.trace)))

    def render(self, number: int, of: int, reproduce: Callable[[str], str] = python_hint) -> str:
        """The cause as a block of text: what broke, every id, one trace.

        Args:
            number: Its number in the report (from 1).
            of: How many causes the report has.
            reproduce: Writes how to run a scenario again, given its id.
        """
        example = self.example
        lines = [f"CAUSE {number} of {of}: {plural(len(self.findings), 'scenario')}"]
        lines.append("  what broke:")
        lines.extend(_bullets(example.broken))
        lines.append("  scenarios:")
        lines.extend(f"    {line}" for line in _wrap(self.scenarios, WIDTH - 4))
        lines.append(f"  shown: {example.scenario}")
        lines.append(f"  reproduce: {reproduce(example.scenario)}")
        lines.extend(example._story())
        return "\n".join(lines)


def _wrap(ids: tuple[str, ...], width: int) -> list[str]:
    # Ids may hold spaces (" + "): lines break between ids only.
    lines: list[str] = []
    line = ""
    for text in ids:
        if line and len(line) + 3 + len(text) > width:  # ', ' and the ','
            lines.append(line + ",")
            line = text
        else:
            line = f"{line}, {text}" if line else text
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True, slots=True)
class ExploreResult:
    """What :func:`sdax.testing.explore` found.

    Attributes:
        scenarios_run: How many scenarios ran (the baseline included).
        findings: The scenarios that broke a rule, in the order they ran.
        not_reached: Ids of scenarios whose faults never struck (the call
            did not start in that run); they ran, and their checks held.
        virtual_time: Whether loop time was virtual (``looptime``).
        seconds: Wall-clock seconds the exploration took.
        notes: Things worth knowing about the run (fallbacks, calls that
            could not be wrapped).
        timelines: The timeline of each cause's shown scenario, by scenario
            id, recorded when :func:`~sdax.testing.explore` was given
            ``timelines=True`` (empty otherwise). Loop time: virtual seconds
            when :attr:`virtual_time`.
    """

    scenarios_run: int
    findings: tuple[Finding, ...]
    not_reached: tuple[str, ...] = ()
    virtual_time: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    timelines: Mapping[str, RunTimeline] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """True when no scenario broke a rule."""
        return not self.findings

    @property
    def causes(self) -> tuple[Cause, ...]:
        """The findings grouped by what they broke, the most frequent cause first."""
        groups: dict[tuple[str, ...], list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(_first_lines(finding.broken), []).append(finding)
        causes = [Cause(broken, tuple(found)) for broken, found in groups.items()]
        # Stable: causes as frequent as each other keep the order they were met in.
        return tuple(sorted(causes, key=lambda c: -len(c.findings)))

    def summary(self) -> str:
        """One line: scenarios run, scenarios broken (and by how many causes), time taken."""
        clock = "virtual time" if self.virtual_time else "real time"
        broken = f"{len(self.findings)} broken"
        if self.findings:
            broken += f" ({plural(len(self.causes), 'cause')})"
        return (
            f"sdax explore: {plural(self.scenarios_run, 'scenario')}, {broken}, "
            f"{len(self.not_reached)} with a fault not reached; "
            f"{self.seconds:.2f} s ({clock})"
        )

    def report(self, reproduce: Callable[[str], str] = python_hint) -> str:
        """The summary, the notes, a line per cause, then each cause with one trace.

        Args:
            reproduce: Writes how to run a scenario again, given its id
                (default: ``explore(..., only="ID")``; ``sdax check`` writes
                its ``--only`` option).
        """
        head = [self.summary()]
        head.extend(f"note: {note}" for note in self.notes)
        if not self.findings:
            return "\n".join(head)
        causes = self.causes
        head.append("")
        head.append("causes:")
        for number, cause in enumerate(causes, 1):
            first = cause.broken[0] if cause.broken else "(nothing said)"
            more = f" (and {len(cause.broken) - 1} more)" if len(cause.broken) > 1 else ""
            head.append(f"  {number}. {plural(len(cause.findings), 'scenario')}: {first}{more}")
        parts = ["\n".join(head)]
        parts.extend(c.render(n, len(causes), reproduce) for n, c in enumerate(causes, 1))
        return "\n\n".join(parts)

    def assert_ok(self) -> None:
        """Raise AssertionError with the report when a scenario broke a rule."""
        if self.findings:
            raise AssertionError(self.report())

    def write_html(
        self,
        path: str | os.PathLike[str],
        width: int = 960,
        reproduce: Callable[[str], str] = python_hint,
    ) -> list[Path]:
        """Write each cause's shown run as an HTML page (see :func:`sdax.report.timeline_html`).

        Each page has what broke, the scenario's faults, every scenario of
        the cause and how to run it again above the run's timeline. ``path``
        ending in ``.html`` is a file: the page of a single cause, or, with
        several causes, an index of them, their pages beside it
        (``NAME-cause-1-ID.html``, ...). Any other ``path`` is a folder
        (made if needed) holding ``cause-1-ID.html``, ... and, with several
        causes, ``index.html``. Nothing is written when nothing broke.

        Args:
            path: The file or folder.
            width: Pixels of each page's time axis (at least 200).
            reproduce: Writes how to run a scenario again, given its id.

        Returns:
            The files written, the index (if any) first.

        Raises:
            ValueError: A scenario broke but no timeline was recorded
                (``explore(..., timelines=True)`` records them).
            OSError: A file cannot be written.
        """
        return _write_pages(self, Path(path), width, reproduce)

    def write_trace(
        self, path: str | os.PathLike[str], reproduce: Callable[[str], str] = python_hint
    ) -> list[Path]:
        """Write each cause's shown run as a trace (see :func:`sdax.report.timeline_trace`).

        ``path`` ending in ``.json`` is one file holding every cause, one
        process each (named ``cause N: ID``); any other ``path`` is a folder
        (made if needed) holding ``cause-1-ID.json``, ... Each run's event
        and ``otherData`` say what broke and how to run it again. Nothing is
        written when nothing broke.

        Args:
            path: The file or folder.
            reproduce: Writes how to run a scenario again, given its id.

        Returns:
            The files written.

        Raises:
            ValueError: A scenario broke but no timeline was recorded
                (``explore(..., timelines=True)`` records them).
            OSError: A file cannot be written.
        """
        return _write_traces(self, Path(path), reproduce)


# -- the causes as pictures: run pages, their index, traces -----------------------------

_NAME_CHARS = 60
"""Scenario ids in file names are cut to this many characters."""


def _cause_name(number: int, scenario: str) -> str:
    """The file name (without suffix) of a cause: ``cause-1-raise-start_pre_Auth``."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", scenario).strip("_")[:_NAME_CHARS]
    return f"cause-{number}-{slug}"


def _shown(result: ExploreResult) -> list[tuple[int, Cause, RunTimeline | None]]:
    causes = result.causes
    if causes and not result.timelines:
        raise ValueError(
            "no timelines were recorded: explore(..., timelines=True) records the run "
            "each cause shows"
        )
    return [
        (n, cause, result.timelines.get(cause.example.scenario))
        for n, cause in enumerate(causes, 1)
    ]


def _clock(result: ExploreResult) -> str:
    if result.virtual_time:
        return "Loop time was virtual (looptime): the times are seconds of the loop's clock."
    return "Loop time was real."


def _cause_html(
    result: ExploreResult,
    number: int,
    cause: Cause,
    reproduce: Callable[[str], str],
    index: str | None,
) -> str:
    example = cause.example
    of = len(result.causes)
    parts = ['<section class="finding">']
    if index is not None:
        parts.append(f'<p><a href="{escape(index)}">All {of} causes</a></p>')
    parts.append(f"<h2>Cause {number} of {of}: {plural(len(cause.findings), 'scenario')}</h2>")
    parts.append("<p>What broke:</p><ul class='broken'>")
    parts.extend(f"<li>{escape(text)}</li>" for text in example.broken)
    parts.append("</ul>")
    parts.append(
        f'<p>Shown: <code class="scenario">{escape(example.scenario)}</code>; '
        f"the caller got {escape(example.outcome)}.</p>"
    )
    parts.append(f"<p>Run it again: <code>{escape(reproduce(example.scenario))}</code></p>")
    if len(cause.findings) > 1:
        ids = ", ".join(f"<code>{escape(s)}</code>" for s in cause.scenarios)
        parts.append(f"<p>All its scenarios: {ids}.</p>")
    parts.append(
        f"<p>The run below is the shown scenario run once more, with a RunReport attached. "
        f"{_clock(result)}</p></section>"
    )
    return "".join(parts)


def _index_html(
    result: ExploreResult,
    shown: list[tuple[int, Cause, RunTimeline | None]],
    names: dict[int, str],
) -> str:
    rows = [
        "<table class='causes'><thead><tr><th>cause</th><th>scenarios</th>"
        "<th>what broke</th><th>shown</th></tr></thead><tbody>"
    ]
    for number, cause, _timeline in shown:
        label = f"cause {number}"
        link = f'<a href="{escape(names[number])}">{label}</a>' if number in names else label
        broken = "<br>".join(escape(text) for text in cause.broken)
        rows.append(
            f'<tr data-cause="{number}"><td>{link}</td>'
            f"<td class='num'>{len(cause.findings)}</td><td>{broken}</td>"
            f"<td><code>{escape(cause.example.scenario)}</code></td></tr>"
        )
    rows.append("</tbody></table>")
    body = (
        f"<header><h1>sdax explore: {plural(len(shown), 'cause')}</h1>"
        f'<p class="summary">{escape(result.summary())}</p></header>'
        + "".join(f"<p>note: {escape(note)}</p>" for note in result.notes)
        + "".join(rows)
        + f"<p>{escape(_clock(result))}</p>"
    )
    return html_page(f"sdax explore: {plural(len(shown), 'cause')}", body, " (sdax.testing).")


def _write_pages(
    result: ExploreResult, path: Path, width: int, reproduce: Callable[[str], str]
) -> list[Path]:
    """What :meth:`ExploreResult.write_html` does."""
    shown = _shown(result)
    if not shown:
        return []
    if path.suffix.lower() == ".html" and not path.is_dir():
        folder, prefix = path.parent, f"{path.stem}-"
        index = path if len(shown) > 1 else None
        single = path if len(shown) == 1 else None
    else:
        folder, prefix = path, ""
        index = path / "index.html" if len(shown) > 1 else None
        single = None
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[int, str] = {}
    pages: list[tuple[Path, str]] = []
    for number, cause, timeline in shown:
        if timeline is None:  # the run never ended: nothing to draw
            continue
        target = single or folder / f"{prefix}{_cause_name(number, cause.example.scenario)}.html"
        names[number] = target.name
        preface = _cause_html(
            result, number, cause, reproduce, None if index is None else index.name
        )
        title = f"sdax explore: cause {number} of {len(shown)}: {cause.example.scenario}"
        pages.append((target, timeline_page(timeline, width, title, preface)))
    written: list[Path] = []
    if index is not None:
        index.write_text(_index_html(result, shown, names), encoding="utf-8")
        written.append(index)
    for target, text in pages:
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _cause_trace(
    number: int, of: int, cause: Cause, timeline: RunTimeline, reproduce: Callable[[str], str]
) -> dict[str, Any]:
    trace = timeline_trace(timeline)
    scenario = cause.example.scenario
    facts = {
        "cause": number,
        "causes": of,
        "scenario": scenario,
        "scenarios": len(cause.findings),
        "broken": list(cause.example.broken),
        "reproduce": reproduce(scenario),
    }
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "process_name":
            event["args"]["name"] = f"cause {number}: {scenario}"
        elif event.get("cat") == "sdax.run":
            event["args"].update(facts)
    trace["otherData"].update(facts)
    return trace


def _write_traces(result: ExploreResult, path: Path, reproduce: Callable[[str], str]) -> list[Path]:
    """What :meth:`ExploreResult.write_trace` does."""
    shown = _shown(result)
    traces = [
        (number, cause, _cause_trace(number, len(shown), cause, timeline, reproduce))
        for number, cause, timeline in shown
        if timeline is not None
    ]
    if not traces:
        return []
    if path.suffix.lower() == ".json" and not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        events = [event for _n, _c, trace in traces for event in trace["traceEvents"]]
        other = (
            traces[0][2]["otherData"]
            if len(traces) == 1
            else {
                "generator": traces[0][2]["otherData"]["generator"],
                "summary": result.summary(),
                "causes": [trace["otherData"] for _n, _c, trace in traces],
            }
        )
        whole = {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}
        path.write_text(json.dumps(whole), encoding="utf-8")
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for number, cause, trace in traces:
        target = path / f"{_cause_name(number, cause.example.scenario)}.json"
        target.write_text(json.dumps(trace), encoding="utf-8")
        written.append(target)
    return written
