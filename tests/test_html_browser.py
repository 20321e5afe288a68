"""The run page in a real browser: headless Chromium draws the bars where the DOM says.

Chromium takes a screenshot of the page (``--headless --screenshot``); the test
reads the PNG (tests/_support/png.py), finds the timeline's frame by its
colour (the frame rect's ``stroke``, drawn in no other place), and samples
every bar in view at the coordinates its SVG attributes give: the colour
seen most inside it must be its fill (for a patterned bar, the pattern's
base colour, with the pattern's ink showing as well).

Skipped, saying so, where no Chromium is installed (Debian: ``apt-get install
chromium``; .ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from _support.dom import Element, parse
from _support.png import Image, read_png

from sdax import SdaxExecutionError
from sdax._demo import DemoContext, build_processor
from sdax.report import PhaseRecord, RunReport, RunTimeline, timeline_html
from sdax.sdax_core import PhaseId

PRE, EXEC, POST = PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC
WINDOW = (1200, 640)
CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        if (found := shutil.which(name))
    ),
    None,
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium)",
)


def _chromium(page: Path, tmp_path: Path, *what: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``page``, asked for ``what`` (a screenshot, the DOM)."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={tmp_path / 'profile'}",
        *what,
        page.as_uri(),
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to sandbox as root
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _screenshot(page: Path, tmp_path: Path) -> Image:
    shot = tmp_path / "shot.png"
    result = _chromium(page, tmp_path, f"--screenshot={shot}")
    assert shot.exists(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    return read_png(shot.read_bytes())


def _rgb(colour: str) -> tuple[int, int, int]:
    assert colour.startswith("#") and len(colour) == 7, colour
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def _frame_origin(image: Image, frame: Element) -> tuple[int, int]:
    """Where the chart's (0, 0) is on screen: found from the frame's top line."""
    colour = _rgb(frame.attrs["stroke"])
    length = int(float(frame.attrs["width"]))
    for y in range(image.height):
        row = image.rows[y]
        run = 0
        for x in range(image.width):
            run = run + 1 if row[x] == colour else 0
            if run >= length:
                left = x - run + 1
                return left - int(float(frame.attrs["x"])), y - int(float(frame.attrs["y"]))
    raise AssertionError(f"the timeline's frame ({frame.attrs['stroke']}) is not on the screen")


def _check_screenshot(html: str, tmp_path: Path) -> int:
    """Screenshot the page and check every bar in view; return how many were checked."""
    page = tmp_path / "run.html"
    page.write_text(html, encoding="utf-8")
    image = _screenshot(page, tmp_path)
    assert (image.width, image.height) == WINDOW
    colours = Counter(p for row in image.rows for p in row)
    white = colours[(255, 255, 255)]
    assert len(colours) > 20, "the screenshot is nearly one colour"
    assert white < 0.98 * image.width * image.height, "the screenshot is blank"

    root, _ = parse(html)
    (chart,) = root.find_all("svg", "chart")
    (frame,) = chart.find_all("rect", "plot")
    ox, oy = _frame_origin(image, frame)
    patterns = {p.attrs["id"]: p for p in root.find_all("pattern")}
    checked = 0
    for bar in chart.find_all("rect", "bar"):
        x, y = float(bar.attrs["x"]), float(bar.attrs["y"])
        w, h = float(bar.attrs["width"]), float(bar.attrs["height"])
        left, top = round(ox + x) + 2, round(oy + y) + 2
        right, bottom = round(ox + x + w) - 2, round(oy + y + h) - 2
        if right - left < 2 or bottom > image.height:
            continue  # too thin to sample inside, or scrolled out of view
        seen = Counter(
            image.pixel(px, py) for py in range(top, bottom) for px in range(left, right)
        )
        fill = bar.attrs["fill"]
        what = f"bar {bar.attrs['data-outcome']} at ({x}, {y})"
        if fill.startswith("url(#"):
            pattern = patterns[fill[5:-1]]
            (base,) = pattern.find_all("rect")
            (ink,) = pattern.find_all("path")
            assert seen.most_common(1)[0][0] == _rgb(base.attrs["fill"]), what
            if (right - left) >= 6:
                assert _rgb(ink.attrs["fill"]) in seen, f"{what}: its pattern does not show"
        else:
            assert seen.most_common(1)[0][0] == _rgb(fill), what
        checked += 1
    return checked


def _every_mark() -> RunTimeline:
    return RunTimeline(
        2,
        6,
        1.0,
        (
            PhaseRecord("auth", PRE, 0, 0.0, 0.12, "ok"),
            PhaseRecord("flags", PRE, 0, 0.02, 0.2, "retried", ConnectionError("reset"), 0.05),
            PhaseRecord("flags", PRE, 1, 0.25, 0.4, "retried", TimeoutError(), 0.02),
            PhaseRecord("flags", PRE, 2, 0.42, 0.55, "ok"),
            PhaseRecord("fetch", EXEC, 0, 0.55, 0.8, "failed", ValueError("503")),
            PhaseRecord("slow", EXEC, 0, 0.55, 0.75, "failed", TimeoutError()),
            PhaseRecord("other", EXEC, 0, 0.55, 0.7, "cancelled"),
            PhaseRecord("auth", POST, 0, 0.8, 0.95, "cancelled"),
            PhaseRecord(
                "db",
                POST,
                0,
                0.8,
                1.0,
                "failed",
                TimeoutError("task 'db' <post> was cancelled: the cleanup budget of 0.2 s ran out"),
            ),
            PhaseRecord("left", POST, 0, 0.85, 1.0, "unfinished"),
            PhaseRecord("flags", POST, 0, 0.8, 0.9, "ok"),
        ),
        asyncio.CancelledError(),
    )


def test_every_kind_of_bar_is_drawn_where_the_dom_says(tmp_path: Path) -> None:
    timeline = _every_mark()
    checked = _check_screenshot(timeline_html(timeline), tmp_path)
    assert checked == len(timeline.records)


async def test_the_demo_page_is_drawn_where_the_dom_says(tmp_path: Path) -> None:
    report = RunReport()
    try:
        await build_processor().process_tasks(DemoContext(), observer=report)
    except SdaxExecutionError:
        pass
    html = timeline_html(report.last)
    checked = await asyncio.to_thread(_check_screenshot, html, tmp_path)
    # Every attempt of the demo is wide enough to sample except, at most, the shortest posts.
    assert checked >= len(report.last.records) - 2


# Added to a copy of the page by the test only (the page itself holds no
# script): writes where each label's text really ends, as the browser laid it out.
_MEASURE = (
    "<script>for (const t of document.querySelectorAll('svg.overview text, svg.chart text.label'))"
    " { const box = t.getBBox(); t.setAttribute('data-right', box.x + box.width); }</script>"
)


def test_every_label_ends_before_the_plot_as_the_browser_draws_it(tmp_path: Path) -> None:
    # Short task names: the overview's titles are the longest labels.
    timeline = RunTimeline(
        1,
        2,
        0.03,
        (
            PhaseRecord("a", PRE, 0, 0.0, 0.01, "ok"),
            PhaseRecord("a", EXEC, 0, 0.01, 0.01, "failed", ValueError("at once")),
            PhaseRecord("b", EXEC, 0, 0.01, 0.02, "failed", ValueError("later")),
            PhaseRecord("b", POST, 0, 0.02, 0.03, "ok"),
        ),
        ValueError("at once"),
    )
    page = tmp_path / "run.html"
    page.write_text(timeline_html(timeline).replace("</body>", f"{_MEASURE}</body>"), "utf-8")
    result = _chromium(page, tmp_path, "--dump-dom")
    root, _ = parse(result.stdout)
    (frame,) = root.find_all("rect", "plot")
    left = float(frame.attrs["x"]) + 0.5
    labels = root.find_all("svg", "overview")[0].find_all("text") + root.find_all("text", "label")
    assert {t.text for t in labels} >= {"running at once", "went wrong: 2", "a", "b"}
    for label in labels:
        assert "data-right" in label.attrs, f"not measured: {result.stderr[-2000:]}"
        assert float(label.attrs["data-right"]) <= left, label.text


def test_an_attempt_of_no_time_shows_its_colour(tmp_path: Path) -> None:
    timeline = RunTimeline(
        1,
        1,
        0.02,
        (
            PhaseRecord("a", PRE, 0, 0.0, 0.01, "ok"),
            PhaseRecord("a", EXEC, 0, 0.0134, 0.0134, "failed", ValueError("at once")),
            PhaseRecord("a", POST, 0, 0.02, 0.02, "ok"),
        ),
        ValueError("at once"),
    )
    html = timeline_html(timeline)
    page = tmp_path / "run.html"
    page.write_text(html, encoding="utf-8")
    image = _screenshot(page, tmp_path)
    root, _ = parse(html)
    (chart,) = root.find_all("svg", "chart")
    ox, oy = _frame_origin(image, chart.find_all("rect", "plot")[0])
    patterns = {p.attrs["id"]: p for p in root.find_all("pattern")}
    for bar in chart.find_all("rect", "bar"):
        if bar.attrs["data-start"] != bar.attrs["data-end"]:
            continue
        fill = bar.attrs["fill"]
        if fill.startswith("url(#"):
            (base,) = patterns[fill[5:-1]].find_all("rect")
            fill = base.attrs["fill"]
        x, y = ox + float(bar.attrs["x"]), oy + float(bar.attrs["y"])
        columns = {
            px
            for px in range(int(x) - 1, int(x + float(bar.attrs["width"])) + 2)
            for py in range(int(y), int(y) + int(float(bar.attrs["height"])))
            if image.pixel(px, py) == _rgb(fill)
        }
        # At least two columns of the bar's colour: a thin line of it is seen.
        assert len(columns) >= 2, f"{bar.attrs['data-outcome']} at {x}: columns {sorted(columns)}"
