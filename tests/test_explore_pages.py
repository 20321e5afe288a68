"""An exploration's causes as run pages and traces: explore(..., timelines=True).

The run a cause shows is run once more with a RunReport attached (and only
that run): its page parses, holds the bar of the phase call the fault
struck with the outcome it had, and says what broke; its trace is valid
trace-event JSON that names the cause.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from _support.dom import Element, parse
from _support.trace import validate_trace

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.testing import ExploreResult, explore, have_virtual_time

KINDS = ("raise-start", "raise-suspend")
"""Fault kinds that wait for nothing: quick with or without looptime."""


@dataclass
class Ctx:
    connections: int = 0
    flushed: bool = False


async def connect(ctx: Ctx) -> None:
    ctx.connections += 1
    await asyncio.sleep(0.001)


async def disconnect_late(ctx: Ctx) -> None:
    # Bug 1: a post stopped where it waits leaves the connection open.
    if ctx.connections:
        await asyncio.sleep(0.001)
        ctx.connections -= 1


async def write(ctx: Ctx) -> None:
    await asyncio.sleep(0.001)


async def flush_late(ctx: Ctx) -> None:
    # Bug 2: a post stopped before its end never flushes.
    await asyncio.sleep(0.001)
    ctx.flushed = True


def processor() -> AsyncDagTaskProcessor[Ctx, str]:
    return (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(
            AsyncTask("db", pre_execute=task_func(connect), post_execute=task_func(disconnect_late))
        )
        .add_task(
            AsyncTask("audit", execute=task_func(write), post_execute=task_func(flush_late)),
            depends_on=("db",),
        )
        .build()
    )


def closed_and_flushed(ctx: Ctx) -> None:
    assert ctx.connections == 0, "a connection was left open"
    assert ctx.flushed, "the audit was not flushed"


def _explore(**options: object) -> ExploreResult:
    return explore(processor(), Ctx, closed_and_flushed, kinds=KINDS, pairs=0, **options)  # type: ignore[arg-type]


def _bars(root: Element) -> dict[tuple[str, str], list[Element]]:
    """The bars by (task, phase), in attempt order."""
    bars: dict[tuple[str, str], list[Element]] = {}
    for row in root.find_all("g", "row"):
        for bar in row.find_all("rect", "bar"):
            bars.setdefault((row.attrs["data-task"], bar.attrs["data-phase"]), []).append(bar)
    return bars


def _fault_call(scenario: str) -> tuple[str, str, str]:
    """(kind, task, phase) of a one-fault id like ``raise-suspend@post:db``."""
    kind, _, where = scenario.partition("@")
    phase, _, task = where.partition(":")
    return kind, task, phase


def test_only_the_shown_runs_are_run_again_and_recorded() -> None:
    made: list[Ctx] = []

    def counted() -> Ctx:
        made.append(Ctx())
        return made[-1]

    plain = explore(processor(), counted, closed_and_flushed, kinds=KINDS, pairs=0)
    runs = len(made)
    assert runs == plain.scenarios_run and not plain.timelines
    made.clear()
    recorded = explore(
        processor(), counted, closed_and_flushed, kinds=KINDS, pairs=0, timelines=True
    )
    assert len(recorded.causes) == 2
    assert len(made) == runs + len(recorded.causes)
    assert set(recorded.timelines) == {c.example.scenario for c in recorded.causes}
    assert [(f.scenario, f.broken) for f in recorded.findings] == [
        (f.scenario, f.broken) for f in plain.findings
    ]


def test_each_cause_page_shows_the_struck_fault_and_what_broke(tmp_path: Path) -> None:
    result = _explore(timelines=True)
    written = result.write_html(tmp_path / "pages")
    causes = result.causes
    assert [p.name for p in written[1:]] == [
        f"cause-{n}-{c.example.scenario.replace('@', '_').replace(':', '_')}.html"
        for n, c in enumerate(causes, 1)
    ]
    assert written[0] == tmp_path / "pages" / "index.html"
    for page, cause in zip(written[1:], causes, strict=True):
        root, doctype = parse(page.read_text(encoding="utf-8"))
        assert doctype is not None and doctype.lower() == "doctype html"
        shown = cause.example.scenario
        assert [c.all_text() for c in root.find_all("code", "scenario")] == [shown]
        broken = [li.all_text() for li in root.find_all("li")]
        assert broken == list(cause.example.broken)
        kind, task, phase = _fault_call(shown)
        struck = _bars(root)[(task, phase)]
        assert kind in ("raise-start", "raise-suspend")
        assert [b.attrs["data-outcome"] for b in struck] == ["failed"]
        # The page's bars are the recorded run's attempts, one each.
        timeline = result.timelines[shown]
        assert sum(len(b) for b in _bars(root).values()) == len(timeline.records)
        back = [a.attrs["href"] for a in root.find_all("a") if a.attrs["href"] == "index.html"]
        assert back == ["index.html"]


def test_the_index_links_every_cause_page(tmp_path: Path) -> None:
    result = _explore(timelines=True)
    written = result.write_html(tmp_path / "report.html")
    index, pages = written[0], written[1:]
    assert index == tmp_path / "report.html"
    assert all(p.parent == tmp_path and p.name.startswith("report-cause-") for p in pages)
    root, _ = parse(index.read_text(encoding="utf-8"))
    rows = root.find_all("tr")[1:]
    assert [r.attrs["data-cause"] for r in rows] == ["1", "2"]
    links = [a.attrs["href"] for a in root.find_all("a")]
    assert links == [p.name for p in pages]
    for row, cause in zip(rows, result.causes, strict=True):
        assert cause.broken[0] in row.all_text()
        assert str(len(cause.findings)) in row.all_text()


def test_one_cause_to_a_file_writes_that_page_alone(tmp_path: Path) -> None:
    result = _explore(timelines=True, only="raise-suspend@post:db")
    assert len(result.causes) == 1
    assert result.write_html(tmp_path / "one.html") == [tmp_path / "one.html"]
    assert sorted(tmp_path.iterdir()) == [tmp_path / "one.html"]
    root, _ = parse((tmp_path / "one.html").read_text(encoding="utf-8"))
    assert not [a for a in root.find_all("a") if a.attrs["href"] == "index.html"]
    assert _bars(root)[("db", "post")][0].attrs["data-outcome"] == "failed"


def test_the_trace_holds_one_process_per_cause(tmp_path: Path) -> None:
    result = _explore(timelines=True)
    (path,) = result.write_trace(tmp_path / "all.json", reproduce=lambda s: f"again {s}")
    trace = json.loads(path.read_text(encoding="utf-8"))
    events = validate_trace(trace)
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    causes = result.causes
    assert sorted(names.values()) == sorted(
        f"cause {n}: {c.example.scenario}" for n, c in enumerate(causes, 1)
    )
    runs = {e["pid"]: e["args"] for e in events if e["ph"] == "X" and e["name"] == "run"}
    assert runs.keys() == names.keys()
    for pid, args in runs.items():
        number = int(names[pid].split(":")[0].removeprefix("cause "))
        cause = causes[number - 1]
        assert args["scenario"] == cause.example.scenario
        assert args["broken"] == list(cause.example.broken)
        assert args["reproduce"] == f"again {cause.example.scenario}"
        _kind, task, phase = _fault_call(cause.example.scenario)
        failed = [
            e
            for e in events
            if e["pid"] == pid and e["ph"] == "X" and e["name"] == f"{task} {phase}"
        ]
        assert [e["args"]["outcome"] for e in failed] == ["failed"]
    assert [c["scenario"] for c in trace["otherData"]["causes"]] == [
        c.example.scenario for c in causes
    ]


def test_a_trace_folder_gets_one_valid_file_per_cause(tmp_path: Path) -> None:
    result = _explore(timelines=True)
    written = result.write_trace(tmp_path / "traces")
    assert len(written) == len(result.causes)
    for number, (path, cause) in enumerate(zip(written, result.causes, strict=True), 1):
        trace = json.loads(path.read_text(encoding="utf-8"))
        validate_trace(trace)
        assert trace["otherData"]["cause"] == number
        assert trace["otherData"]["scenario"] == cause.example.scenario


def test_writing_without_recorded_timelines_says_how_to_record_them(tmp_path: Path) -> None:
    result = _explore()
    for write in (result.write_html, result.write_trace):
        with pytest.raises(ValueError, match=r"timelines=True"):
            write(tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_nothing_is_written_when_nothing_broke(tmp_path: Path) -> None:
    async def disconnect(ctx: Ctx) -> None:
        ctx.connections = 0

    fine = (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(
            AsyncTask("db", pre_execute=task_func(connect), post_execute=task_func(disconnect))
        )
        .build()
    )

    def closed(ctx: Ctx) -> None:
        assert ctx.connections == 0

    result = explore(fine, Ctx, closed, kinds=KINDS, pairs=0, timelines=True)
    assert result.ok
    assert result.write_html(tmp_path / "pages") == []
    assert result.write_trace(tmp_path / "t.json") == []
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not have_virtual_time(), reason="needs looptime (sdax[testing])")
def test_the_recorded_run_is_drawn_in_loop_time() -> None:
    async def slow_flush(ctx: Ctx) -> None:
        await asyncio.sleep(30)  # virtual: passes at once
        ctx.flushed = True

    slow = (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(
            AsyncTask("db", pre_execute=task_func(connect), post_execute=task_func(disconnect_late))
        )
        .add_task(AsyncTask("audit", post_execute=task_func(slow_flush)), depends_on=("db",))
        .build()
    )
    result = explore(slow, Ctx, closed_and_flushed, only="raise-suspend@post:db", timelines=True)
    (timeline,) = result.timelines.values()
    flush = [r for r in timeline.records if r.task == "audit"]
    assert [r.outcome for r in flush] == ["ok"]
    assert flush[0].duration >= 30  # loop seconds, not the wall clock's
