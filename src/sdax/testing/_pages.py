"""An exploration's causes as pictures: run pages, an index of them, traces.

Each cause shows one scenario (:attr:`Cause.example`); its run, recorded
once more with a RunReport (``explore(..., timelines=True)``), becomes the
run page of :mod:`sdax.report` with what broke above the timeline, or the
run's trace with what broke in its ``args`` and ``otherData``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdax._engine import html_page, timeline_page, timeline_trace
from sdax.report import RunTimeline
from sdax.testing._report import Cause, plural

if TYPE_CHECKING:
    from sdax.testing._report import ExploreResult

__all__ = ["cause_name", "write_pages", "write_traces"]

_NAME_CHARS = 60
"""Scenario ids in file names are cut to this many characters."""


def cause_name(number: int, scenario: str) -> str:
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


def write_pages(
    result: ExploreResult, path: Path, width: int, reproduce: Callable[[str], str]
) -> list[Path]:
    """:meth:`ExploreResult.write_html`."""
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
        target = single or folder / f"{prefix}{cause_name(number, cause.example.scenario)}.html"
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


def write_traces(result: ExploreResult, path: Path, reproduce: Callable[[str], str]) -> list[Path]:
    """:meth:`ExploreResult.write_trace`."""
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
        target = path / f"{cause_name(number, cause.example.scenario)}.json"
        target.write_text(json.dumps(trace), encoding="utf-8")
        written.append(target)
    return written
