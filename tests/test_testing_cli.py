"""``sdax check MODULE:ATTR --ctx MODULE:FACTORY``, run as a subprocess."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

WORKFLOW = textwrap.dedent(
    """
    import asyncio
    from dataclasses import dataclass

    from sdax import AsyncDagTaskProcessor, AsyncTask, task_func


    @dataclass
    class Ctx:
        held: bool = False
        ready: bool = False


    async def take(ctx):
        ctx.held = True
        await asyncio.sleep(0.001)
        ctx.ready = True


    async def give_back_wrong(ctx):
        if ctx.ready:  # a pre stopped half-way left ready False: the slot leaks
            ctx.held = False


    async def give_back(ctx):
        ctx.held = False


    def build(post):
        return AsyncDagTaskProcessor.builder().add_task(
            AsyncTask("slot", pre_execute=task_func(take), post_execute=task_func(post))
        )


    wrong = build(give_back_wrong).build()
    fixed_builder = build(give_back)


    def make_ctx():
        return Ctx()


    def released(ctx):
        assert not ctx.held, "the slot is still held"


    not_callable = 3
    """
)


FAST = ("--kinds", "raise-start,raise-suspend,interrupt")
"""Fault kinds that wait for nothing, so the tests are quick without looptime too."""


def sdax(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "workflow.py").write_text(WORKFLOW)
    kinds = () if "--kinds" in args else FAST
    return subprocess.run(
        [sys.executable, "-m", "sdax", "check", *args, *kinds],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_check_reports_the_broken_scenario_and_exits_1(tmp_path: Path) -> None:
    done = sdax(
        tmp_path, "workflow:wrong", "--ctx", "workflow:make_ctx", "--check", "workflow:released"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "raise-suspend@pre:slot" in done.stdout
    assert "check(ctx) failed: the slot is still held" in done.stdout
    assert done.stdout.startswith("sdax explore: ")
    # The hint is this command again, with --only (quoted for a shell).
    shown = re.search(r"  shown: (.+)", done.stdout)
    assert shown is not None
    hint = (
        "reproduce: sdax check workflow:wrong --ctx workflow:make_ctx "
        f"--check workflow:released --only {shlex.quote(shown[1])}"
    )
    assert hint in done.stdout
    assert "explore(..., only=" not in done.stdout


def test_check_passes_a_correct_processor_given_as_a_builder(tmp_path: Path) -> None:
    done = sdax(
        tmp_path,
        "workflow:fixed_builder",
        "--ctx",
        "workflow:make_ctx",
        "--check",
        "workflow:released",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 broken," in done.stdout.splitlines()[0]


def test_check_runs_only_the_scenarios_asked_for(tmp_path: Path) -> None:
    done = sdax(
        tmp_path,
        "workflow:wrong",
        "--ctx",
        "workflow:make_ctx",
        "--check",
        "workflow:released",
        "--only",
        "baseline",
        "--only",
        "raise-start@pre:slot",
        "--real-time",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("sdax explore: 2 scenarios, 0 broken")
    assert "(real time)" in done.stdout
    done = sdax(
        tmp_path, "workflow:wrong", "--ctx", "workflow:make_ctx", "--only", "raise-start@pre:slot"
    )
    assert done.stdout.startswith("sdax explore: 1 scenario, 0 broken"), done.stdout


def test_check_rejects_bad_targets_with_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, message in [
        (("workflow:wrong", "--ctx", "nowhere:make"), "no module named 'nowhere'"),
        (("workflow:wrong", "--ctx", "workflow:not_callable"), "not callable"),
        (("workflow:wrong", "--ctx", "workflow"), "--ctx expects MODULE:ATTR"),
        (("workflow:missing", "--ctx", "workflow:make_ctx"), "has no attribute 'missing'"),
        (("workflow:wrong", "--ctx", "workflow:make_ctx", "--only", "hang@pre:x"), "no fault"),
    ]:
        done = sdax(tmp_path, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("sdax check: error: "), done.stderr
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_check_needs_ctx_and_known_kinds(tmp_path: Path) -> None:
    done = sdax(tmp_path, "workflow:wrong")
    assert done.returncode == 2
    assert "--ctx" in done.stderr
    done = sdax(tmp_path, "workflow:wrong", "--ctx", "workflow:make_ctx", "--kinds", "melt")
    assert done.returncode == 2
    assert "unknown fault kind(s) melt" in done.stderr
    done = sdax(tmp_path, "workflow:wrong", "--ctx", "workflow:make_ctx", "--phases", "pre,melt")
    assert done.returncode == 2
    assert "unknown phase(s) melt; known: pre, execute, post" in done.stderr


def test_check_leaves_out_the_phases_not_asked_for(tmp_path: Path) -> None:
    args = ("workflow:wrong", "--ctx", "workflow:make_ctx", "--check", "workflow:released")
    # The leak needs a fault in the pre: without pre faults every scenario holds.
    done = sdax(tmp_path, *args, "--phases", "post")
    assert done.returncode == 0, done.stdout + done.stderr
    done = sdax(tmp_path, *args, "--phases", "pre")
    assert done.returncode == 1, done.stdout + done.stderr


def test_check_writes_the_shown_run_as_a_page_and_a_trace(tmp_path: Path) -> None:
    done = sdax(
        tmp_path,
        "workflow:wrong",
        "--ctx",
        "workflow:make_ctx",
        "--check",
        "workflow:released",
        "--html",
        "pages",
        "--trace",
        "run.json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    shown = re.search(r"  shown: (.+)", done.stdout)
    assert shown is not None
    pages = sorted((tmp_path / "pages").iterdir())
    assert [p.name for p in pages] == ["cause-1-" + re.sub(r"[@:]", "_", shown[1]) + ".html"]
    assert f"wrote {Path('pages') / pages[0].name}" in done.stdout.splitlines()
    assert "wrote run.json" in done.stdout.splitlines()
    page = pages[0].read_text(encoding="utf-8")
    # The page's rerun hint is the command's own.
    assert f"--check workflow:released --only {shown[1]}" in page
    trace = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert trace["otherData"]["scenario"] == shown[1]


def test_check_writes_nothing_when_nothing_broke(tmp_path: Path) -> None:
    done = sdax(
        tmp_path,
        "workflow:fixed_builder",
        "--ctx",
        "workflow:make_ctx",
        "--check",
        "workflow:released",
        "--html",
        "pages",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing broke: pages not written" in done.stdout
    assert not (tmp_path / "pages").exists()
