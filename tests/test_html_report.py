"""The run as a page: RunReport.write_html / timeline_html (and timeline_svg).

Every check reads the parsed document (tests/_support/dom.py): which elements
and attributes are there, never the page's times. Real runs make each kind of
attempt happen (retries, timeouts, failures, cancels, cuts by the budget and
the grace); hand-built timelines cover the rest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support.dom import Element, parse

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, SdaxTimeoutError, task_func
from sdax._cli import main
from sdax.report import PhaseRecord, RunReport, RunTimeline, timeline_html, timeline_svg
from sdax.sdax_core import PhaseId

PRE, EXEC, POST = PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC
Key = tuple[str, str, int]  # task, phase label, attempt from 1


async def _noop(ctx: Any) -> None:
    await asyncio.sleep(0)


async def _sleep_long(ctx: Any) -> None:
    await asyncio.sleep(10)


def _flaky() -> Callable[[Any], Any]:
    calls = 0

    async def phase(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        if calls == 1:
            raise ConnectionError("reset")

    return phase


async def _fail_soon(ctx: Any) -> None:
    await asyncio.sleep(0.005)
    raise ValueError("bad input")


async def _record(
    processor: AsyncDagTaskProcessor[Any, Any], **options: Any
) -> tuple[RunTimeline, str]:
    report = RunReport()
    try:
        await processor.process_tasks({}, observer=report, **options)
    except (SdaxExecutionError, SdaxTimeoutError):
        pass
    return report.last, timeline_html(report.last)


def _processor(*tasks: AsyncTask[Any, Any]) -> AsyncDagTaskProcessor[Any, Any]:
    builder = AsyncDagTaskProcessor[Any, Any].builder()
    for task in tasks:
        builder.add_task(task)
    return builder.build()


def _bars(root: Element) -> dict[Key, Element]:
    """The bars by (task, phase, attempt), each once."""
    bars: dict[Key, Element] = {}
    for bar in root.find_all("rect", "bar"):
        row = next(a for a in bar.ancestors() if "row" in a.attrs.get("class", "").split())
        key = (row.attrs["data-task"], bar.attrs["data-phase"], int(bar.attrs["data-attempt"]))
        assert key not in bars, f"two bars for {key}"
        bars[key] = bar
    return bars


def _row_of(root: Element, task: str) -> Element:
    return next(g for g in root.find_all("g", "row") if g.attrs["data-task"] == task)


SCENARIOS: dict[
    str, tuple[Callable[[], AsyncDagTaskProcessor[Any, Any]], dict[str, Any], dict[Key, str]]
] = {
    "a retry": (
        lambda: _processor(
            AsyncTask("flaky", pre_execute=task_func(_flaky(), retries=1, initial_delay=0.001))
        ),
        {},
        {("flaky", "pre", 1): "retried", ("flaky", "pre", 2): "ok"},
    ),
    "timeouts, retried then final": (
        lambda: _processor(
            AsyncTask("slow", execute=task_func(_sleep_long, timeout=0.01, retries=1))
        ),
        {},
        {("slow", "execute", 1): "timeout-retried", ("slow", "execute", 2): "timeout"},
    ),
    "a failure cancels a sibling": (
        lambda: _processor(
            AsyncTask("doomed", pre_execute=task_func(_fail_soon)),
            AsyncTask("patient", pre_execute=task_func(_sleep_long)),
        ),
        {},
        {("doomed", "pre", 1): "failed", ("patient", "pre", 1): "cancelled"},
    ),
    "the cleanup budget cuts a post": (
        lambda: _processor(
            AsyncTask("sticky", pre_execute=task_func(_noop), post_execute=task_func(_sleep_long))
        ),
        {"cleanup_timeout": 0.02},
        {("sticky", "pre", 1): "ok", ("sticky", "post", 1): "budget-cut"},
    ),
    "the deadline cancels an execute": (
        lambda: _processor(AsyncTask("long", execute=task_func(_sleep_long))),
        {"timeout": 0.02},
        {("long", "execute", 1): "cancelled"},
    ),
}

LABELS = {
    "ok": "ok",
    "retried": "failed, retried",
    "timeout-retried": "timed out, retried",
    "failed": "failed",
    "timeout": "timed out",
    "cancelled": "cancelled",
    "grace-cut": "cut by the grace",
    "budget-cut": "cut by the cleanup budget",
    "unfinished": "unfinished",
}

# How the hover title and the table word each outcome: a retried attempt's
# "retried" gives way to the words of the text chart (the retry's two times).
OUTCOME_WORDS = {
    **LABELS,
    "retried": "failed, retry planned after ",
    "timeout-retried": "timed out, retry planned after ",
}


def _check_page(timeline: RunTimeline, page: str, expected: dict[Key, str]) -> Element:
    """The checks every page must pass; returns its tree."""
    root, doctype = parse(page)
    assert doctype is not None and doctype.lower() == "doctype html"
    bars = _bars(root)
    assert {k: b.attrs["data-outcome"] for k, b in bars.items()} == expected
    assert len(bars) == len(timeline.records)
    records = {(str(r.task), _label(r.phase), r.attempt + 1): r for r in timeline.records}
    for key, bar in bars.items():
        record = records[key]
        title = bar.child("title")
        assert title is not None, f"{key}: no hover title"
        lines = title.text.split("\n")
        assert lines[0] == f"{key[0]} · {key[1]} · attempt {key[2]}"
        value, unit = re.match(r"([\d.]+) (s|ms|µs) \(", lines[1]).groups()  # type: ignore[union-attr]
        scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}[unit]
        assert float(value) * scale == pytest.approx(record.duration, abs=scale)
        assert lines[2].startswith(OUTCOME_WORDS[bar.attrs["data-outcome"]])
        assert float(bar.attrs["data-end"]) - float(bar.attrs["data-start"]) == pytest.approx(
            record.duration, abs=1e-5
        )
    used = {b.attrs["data-outcome"] for b in bars.values()}
    legend = {g.attrs["data-outcome"] for g in root.find_all("g", "legend-item")}
    assert used - {"ok"} <= legend - {"ok", "retry-delay"}
    assert "ok" in legend  # the phases' colours
    counts = {
        s.attrs["data-outcome"]: int(s.attrs["data-count"])
        for s in root.find_all("span")
        if "data-count" in s.attrs
    }
    assert counts == {m: list(expected.values()).count(m) for m in used}
    _check_self_contained(root, page)
    return root


def _label(phase: PhaseId) -> str:
    return {PRE: "pre", EXEC: "execute", POST: "post"}[phase]


def _check_self_contained(root: Element, page: str) -> None:
    for tag in ("script", "link", "img", "iframe", "object", "embed", "image", "use", "audio"):
        assert not root.find_all(tag), f"the page holds a <{tag}>"
    ids = {e.attrs["id"] for e in root.iter() if "id" in e.attrs}
    for element in root.iter():
        assert "src" not in element.attrs
        for name, value in element.attrs.items():
            if name in ("href", "xlink:href"):
                assert value.startswith("#") and value[1:] in ids, value
            for ref in re.findall(r"url\(([^)]*)\)", value):
                assert ref.startswith("#") and ref[1:] in ids, ref
    style = "".join(s.all_text() for s in root.find_all("style"))
    assert "url(" not in style and "@import" not in style
    assert "://" not in page  # no address of anything, anywhere


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_page_draws_one_bar_per_attempt_with_its_outcome(scenario: str) -> None:
    make, options, expected = SCENARIOS[scenario]
    timeline, page = await _record(make(), **options)
    root = _check_page(timeline, page, expected)
    for key, outcome in expected.items():
        row = _row_of(root, key[0])
        markers = {
            m.attrs["data-outcome"] for m in row.iter() if "marker" in m.attrs.get("class", "")
        }
        # Failures and cuts carry a marker after the bar, not colour alone.
        assert (outcome in markers) == (outcome in {"failed", "timeout", "budget-cut", "grace-cut"})


async def test_a_retried_attempt_is_joined_to_the_next_by_the_retry_delay() -> None:
    make, options, expected = SCENARIOS["a retry"]
    timeline, page = await _record(make(), **options)
    root = _check_page(timeline, page, expected)
    links = _row_of(root, "flaky").find_all("line", "retry-link")
    assert len(links) == 1
    bars = _bars(root)
    first, second = bars[("flaky", "pre", 1)], bars[("flaky", "pre", 2)]
    # Each coordinate is written rounded to 0.01, so a sum of two may differ by
    # up to three roundings from the coordinate computed from the end time.
    assert float(links[0].attrs["x1"]) == pytest.approx(
        float(first.attrs["x"]) + float(first.attrs["width"]), abs=0.016
    )
    assert float(links[0].attrs["x2"]) == pytest.approx(float(second.attrs["x"]), abs=0.016)


async def test_the_grace_of_an_outside_cancellation_cuts_a_post() -> None:
    started = asyncio.Event()

    async def sticky_post(ctx: Any) -> None:
        started.set()
        await asyncio.sleep(10)

    processor = _processor(
        AsyncTask("sticky", pre_execute=task_func(_noop), post_execute=task_func(sticky_post))
    )
    report = RunReport()
    run = asyncio.ensure_future(processor.process_tasks({}, observer=report, cleanup_grace=0.01))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    expected = {("sticky", "pre", 1): "ok", ("sticky", "post", 1): "grace-cut"}
    _check_page(report.last, timeline_html(report.last), expected)


def _every_mark() -> RunTimeline:
    """By hand: every kind of attempt, including one the run never heard the end of."""
    return RunTimeline(
        3,
        6,
        1.0,
        (
            PhaseRecord("a", PRE, 0, 0.0, 0.1, "ok"),
            PhaseRecord("b", PRE, 0, 0.0, 0.05, "retried", ConnectionError("reset"), 0.02),
            PhaseRecord("b", PRE, 1, 0.07, 0.12, "retried", TimeoutError(), 0.01),
            PhaseRecord("b", PRE, 2, 0.13, 0.2, "failed", TimeoutError()),
            PhaseRecord("c", PRE, 0, 0.0, 0.2, "failed", KeyError("k")),
            PhaseRecord("d", PRE, 0, 0.0, 0.2, "cancelled"),
            PhaseRecord("a", POST, 0, 0.2, 0.6, "cancelled", asyncio.CancelledError()),
            PhaseRecord(
                "e",
                POST,
                0,
                0.2,
                0.9,
                "failed",
                TimeoutError("task 'e' <post> was cancelled: the cleanup budget of 0.5 s ran out"),
            ),
            PhaseRecord(("f", 1), POST, 0, 0.3, 1.0, "unfinished"),
        ),
        asyncio.CancelledError(),
    )


EVERY_MARK = {
    ("a", "pre", 1): "ok",
    ("b", "pre", 1): "retried",
    ("b", "pre", 2): "timeout-retried",
    ("b", "pre", 3): "timeout",
    ("c", "pre", 1): "failed",
    ("d", "pre", 1): "cancelled",
    ("a", "post", 1): "grace-cut",
    ("e", "post", 1): "budget-cut",
    ("('f', 1)", "post", 1): "unfinished",
}


def test_every_mark_is_drawn_listed_and_explained() -> None:
    timeline = _every_mark()
    root = _check_page(timeline, timeline_html(timeline), EVERY_MARK)
    legend = {g.attrs["data-outcome"] for g in root.find_all("g", "legend-item")}
    assert legend == set(EVERY_MARK.values()) | {"retry-delay"}
    # The table of what went wrong, in order of start: all but the ok and cancelled attempts.
    rows = [tr for tr in root.find_all("tr") if "data-outcome" in tr.attrs]
    assert [tr.attrs["data-outcome"] for tr in rows] == [
        "retried",
        "failed",
        "timeout-retried",
        "timeout",
        "grace-cut",
        "budget-cut",
        "unfinished",
    ]
    for tr in rows:  # each names its task's row, which exists
        link = tr.find_all("a")[0].attrs["href"]
        assert root.find_all("g", "row")[int(link.removeprefix("#row-"))].attrs["data-task"] == (
            tr.find_all("a")[0].all_text()
        )
    strip = [r.attrs["data-outcome"] for r in root.find_all("rect", "problem")]
    assert sorted(strip) == sorted(tr.attrs["data-outcome"] for tr in rows)
    # Patterned bars use a pattern of the page; each pattern shows its ink.
    patterns = {p.attrs["id"]: p for p in root.find_all("pattern")}
    for bar in root.find_all("rect", "bar"):
        fill = bar.attrs["fill"]
        if fill.startswith("url("):
            pattern = patterns[fill[5:-1]]
            assert pattern.find_all("rect") and pattern.find_all("path")
        else:
            assert bar.attrs["data-outcome"] == "ok"


def test_the_svg_draws_the_same_bars_as_the_page() -> None:
    timeline = _every_mark()
    svg = timeline_svg(timeline)
    root, _ = parse(svg)
    (document,) = root.children
    assert document.tag == "svg" and document.attrs["xmlns"] == "http://www.w3.org/2000/svg"
    assert {k: b.attrs["data-outcome"] for k, b in _bars(root).items()} == EVERY_MARK
    assert not root.find_all("script") and not root.find_all("image")


def test_the_svg_wraps_a_long_summary_between_words_instead_of_cutting_it() -> None:
    error = ValueError("the database went away " * 3)
    records = [PhaseRecord("Fetch", EXEC, 0, 0.0, 0.01, "failed", error)]
    timeline = RunTimeline(1, 1, 0.01, tuple(records), error)
    root, _ = parse(timeline_svg(timeline, width=300))
    lines = [t.all_text() for t in root.find_all("text", "summary")]
    assert len(lines) > 1
    assert " ".join(lines) == timeline.summary()
    ys = [float(t.attrs["y"]) for t in root.find_all("text", "summary")]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    # What follows the summary starts below its last line.
    legend = next(g for g in root.find_all("g") if "translate(0," in g.attrs.get("transform", ""))
    assert float(legend.attrs["transform"].split(",")[1].rstrip(")")) > ys[-1]


def test_a_run_of_a_thousand_tasks_has_a_row_each_and_an_overview() -> None:
    records = []
    for i in range(1000):
        start = (i % 100) * 0.001
        records.append(PhaseRecord(f"task-{i:04d}", PRE, 0, start, start + 0.002, "ok"))
        records.append(PhaseRecord(f"task-{i:04d}", EXEC, 0, 0.2, 0.25 + i * 1e-5, "ok"))
    records.append(PhaseRecord("task-0007", EXEC, 1, 0.3, 0.31, "failed", ValueError("x")))
    timeline = RunTimeline(1, 1000, 0.4, tuple(records))
    root, _ = parse(timeline_html(timeline))
    rows = root.find_all("g", "row")
    assert len(rows) == 1000
    assert len(root.find_all("rect", "bar")) == len(records)
    # All thousand executes overlap: the overview's peak says so.
    (peak,) = [t for t in root.find_all("text") if "data-peak" in t.attrs]
    assert int(peak.attrs["data-peak"]) == 1000
    (went_wrong,) = [t for t in root.find_all("text") if "data-problems" in t.attrs]
    assert went_wrong.attrs["data-problems"] == "1"


def test_an_empty_run_still_makes_a_page() -> None:
    timeline = RunTimeline(1, 0, 0.0, ())
    root, _ = parse(timeline_html(timeline))
    assert not root.find_all("rect", "bar")
    assert "Nothing went wrong" in root.all_text()


@pytest.mark.parametrize(
    ("width", "error"), [(199, ValueError), ("wide", TypeError), (True, TypeError)]
)
def test_the_width_is_checked(width: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="width"):
        timeline_html(_every_mark(), width)


async def test_write_html_writes_the_last_run(tmp_path: Path) -> None:
    report = RunReport()
    await _processor(AsyncTask("only", execute=task_func(_noop))).process_tasks({}, observer=report)
    path = tmp_path / "run.html"
    report.write_html(path)
    assert path.read_text(encoding="utf-8") == timeline_html(report.last)
    svg = tmp_path / "run.svg"
    report.write_svg(str(svg))
    assert svg.read_text(encoding="utf-8") == timeline_svg(report.last)


def test_write_html_before_any_run_raises() -> None:
    with pytest.raises(LookupError):
        RunReport().write_html("unused.html")


def test_sdax_demo_writes_its_page_and_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, trace = tmp_path / "demo.html", tmp_path / "demo.json"
    assert main(["demo", "--html", str(page), "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {page}" in out and f"wrote {trace}" in out
    root, _ = parse(page.read_text(encoding="utf-8"))
    outcomes = [b.attrs["data-outcome"] for b in root.find_all("rect", "bar")]
    # The demo's story: one retried attempt, one failed execute, the rest ok.
    assert sorted(set(outcomes)) == ["failed", "ok", "retried"]
    assert outcomes.count("retried") == 1 and outcomes.count("failed") == 1
    assert trace.stat().st_size > 0


def test_sdax_demo_says_when_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder" / "demo.html"
    assert main(["demo", "--html", str(missing)]) == 2
    assert f"sdax demo: error: cannot write {missing}" in capsys.readouterr().err


def test_the_docs_picture_of_the_demo_is_drawn_by_this_code() -> None:
    picture = Path(__file__).resolve().parent.parent / "docs" / "img" / "demo-timeline.svg"
    if not picture.exists():  # a copy of the tests without the docs
        pytest.skip("docs/img/demo-timeline.svg is not here")
    root, _ = parse(picture.read_text(encoding="utf-8"))
    outcomes = [b.attrs["data-outcome"] for b in root.find_all("rect", "bar")]
    # The demo's story (tools/make-doc-pictures remakes the picture).
    assert len(outcomes) == 9
    assert sorted(outcomes) == ["failed"] + ["ok"] * 7 + ["retried"]
    assert len(root.find_all("g", "row")) == 6


def _retries() -> RunTimeline:
    """By hand: a retry that began later than planned, two abandoned ones, one without a delay."""
    return RunTimeline(
        6,
        4,
        0.3,
        (
            PhaseRecord("late", PRE, 0, 0.0, 0.05, "retried", ConnectionError("reset"), 0.02),
            PhaseRecord("late", PRE, 1, 0.08, 0.1, "ok"),
            PhaseRecord("never", EXEC, 0, 0.1, 0.15, "retried", TimeoutError(), 0.5),
            PhaseRecord("stopped", PRE, 0, 0.0, 0.01, "retried", ValueError("x"), 0.01),
            PhaseRecord("stopped", PRE, 1, 0.2, 0.2, "cancelled"),
            PhaseRecord("nodelay", PRE, 0, 0.0, 0.01, "retried", ValueError("y")),
            PhaseRecord("nodelay", PRE, 1, 0.015, 0.02, "ok"),
        ),
        asyncio.CancelledError(),
    )


def test_a_retried_attempt_has_the_words_of_the_text_chart() -> None:
    timeline = _retries()
    root, _ = parse(timeline_html(timeline))
    bars = _bars(root)
    hovers = {
        key[0]: bar.child("title").text.split("\n")[2]  # type: ignore[union-attr]
        for key, bar in bars.items()
        if key[2] == 1
    }
    table = {
        tr.find_all("a")[0].all_text(): tr.find_all("td")[5].all_text()
        for tr in root.find_all("tr")
        if tr.attrs.get("data-outcome") in ("retried", "timeout-retried")
    }
    expected = {
        "late": "failed, retry planned after 20.0 ms, began after 30.0 ms",
        "never": "timed out, retry planned after 500.0 ms, abandoned",
        "stopped": "failed, retry planned after 10.0 ms, abandoned",
        "nodelay": "failed, retry began after 5.0 ms",
    }
    assert hovers == expected
    assert table == expected
    strip = {
        r.child("title").text.split(" · ")[0]: r.child("title").text.split("\n")[2]  # type: ignore[union-attr]
        for r in root.find_all("rect", "problem")
    }
    assert strip == expected
    # The text chart says the same after how the attempt ended (both write
    # times under a second in ms with one digit).
    chart = timeline.render(20).splitlines()
    for task, words in expected.items():
        (line,) = [s for s in chart if s.startswith(f"{task} ") and "  retry " in s]
        status = line.rsplit("|", 1)[1].strip()
        assert words.endswith(status.split(": ", 1)[0])


def _label_timeline(names: list[str], failures: int) -> RunTimeline:
    records = [PhaseRecord(n, PRE, 0, 0.0, 0.01, "ok") for n in names]
    records += [
        PhaseRecord(
            names[i % len(names)], EXEC, i // len(names), 0.01, 0.02, "failed", ValueError()
        )
        for i in range(failures)
    ]
    return RunTimeline(1, len(names), 0.02, tuple(records), ValueError())


_CHAR_PX = 7.0  # a generous width of a character of the page's 12 px sans-serif labels


@pytest.mark.parametrize(
    ("names", "failures"),
    [
        (["a", "b"], 1),
        (["a"], 1000),
        (["a-task-with-a-long-name", "b"], 3),
        (["x" * 60], 1),  # cut to 44 characters, the hover has the name whole
    ],
    ids=["short names", "many failures", "long name", "too long a name"],
)
def test_the_label_column_holds_every_label(names: list[str], failures: int) -> None:
    root, _ = parse(timeline_html(_label_timeline(names, failures)))
    (frame,) = root.find_all("rect", "plot")
    left = float(frame.attrs["x"]) + 0.5  # the plot's first pixel
    (overview,) = root.find_all("svg", "overview")
    # The overview and its strip start where the plot does.
    (band,) = [r for r in overview.find_all("rect") if "problem" not in r.attrs.get("class", "")]
    assert float(band.attrs["x"]) == left
    labels = overview.find_all("text", "overview-title") + root.find_all("text", "label")
    texts = [t.text for t in labels]
    assert "running at once" in texts and f"went wrong: {failures}" in texts
    for label in labels:
        assert float(label.attrs["x"]) + len(label.text) * _CHAR_PX <= left, label.text


def test_an_attempt_of_no_time_still_has_a_bar_before_its_marker() -> None:
    timeline = RunTimeline(
        1,
        2,
        0.02,
        (
            PhaseRecord("a", PRE, 0, 0.0, 0.01, "ok"),
            PhaseRecord("a", EXEC, 0, 0.01, 0.01, "failed", ValueError("at once")),
            PhaseRecord("b", POST, 0, 0.02, 0.02, "ok"),  # at the very end of the axis
        ),
        ValueError("at once"),
    )
    root, _ = parse(timeline_html(timeline))
    bars = _bars(root)
    assert len(bars) == 3
    for key in (("a", "execute", 1), ("b", "post", 1)):
        assert float(bars[key].attrs["width"]) >= 2.0, key
    (marker,) = _row_of(root, "a").find_all("path", "marker")
    first_x = float(marker.attrs["d"][1:].split(" ")[0])
    bar = bars[("a", "execute", 1)]
    assert first_x >= float(bar.attrs["x"]) + float(bar.attrs["width"])
