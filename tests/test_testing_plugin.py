"""The sdax pytest plugin: the ``sdax_explore`` fixture, in a pytest run of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = textwrap.dedent(
    """
    import asyncio
    from dataclasses import dataclass

    from sdax import AsyncDagTaskProcessor, AsyncTask, task_func

    KINDS = ["raise-start", "raise-suspend", "interrupt"]


    @dataclass
    class Ctx:
        open: int = 0


    async def connect(ctx):
        ctx.open += 1
        await asyncio.sleep(0.001)


    async def close_wrong(ctx):
        if ctx.open:
            await asyncio.sleep(0.001)  # an interrupt here skips the close
            ctx.open -= 1


    async def close(ctx):
        if ctx.open:
            try:
                await asyncio.sleep(0.001)
            finally:
                ctx.open -= 1


    def build(post):
        return (
            AsyncDagTaskProcessor.builder()
            .add_task(AsyncTask("db", pre_execute=task_func(connect), post_execute=task_func(post)))
            .build()
        )


    def all_closed(ctx):
        assert ctx.open == 0, f"{ctx.open} connection(s) left open"


    def test_correct(sdax_explore):
        result = sdax_explore(build(close), Ctx, all_closed, kinds=KINDS)
        assert result.ok and result.scenarios_run > 5


    def test_wrong(sdax_explore):
        sdax_explore(build(close_wrong), Ctx, all_closed, kinds=KINDS)


    async def test_from_async_code(sdax_explore):
        await sdax_explore.explore_async(build(close), Ctx, all_closed, kinds=KINDS)
    """
)


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    # Only the plugins named here: the run must not depend on what else is installed.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "sdax.testing.pytest_plugin",
            "-p",
            "asyncio",
            "-p",
            "no:cacheprovider",
            "-q",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )


def test_the_fixture_fails_a_test_with_the_report_and_passes_correct_code(tmp_path: Path) -> None:
    done = run_pytest(tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 2 passed" in out
    assert "FAILED test_user.py::test_wrong" in out
    assert "check(ctx) failed: 1 connection(s) left open" in out
    # The hint reruns the scenario shown, in this test.
    shown = re.search(r"shown: (\S+)", out)
    assert shown is not None, out
    assert f"reproduce: pytest test_user.py::test_wrong --sdax-only {shown[1]}" in out


def test_sdax_only_reruns_one_scenario(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--sdax-only", "interrupt@post:db", "-k", "wrong")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sdax explore: 1 scenario, 1 broken (1 cause)" in done.stdout
    done = run_pytest(tmp_path, "--sdax-only", "baseline", "-k", "wrong")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_options_are_listed_in_help(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--help")
    for option in ("--sdax-seed", "--sdax-pairs", "--sdax-only"):
        assert option in done.stdout


def test_the_package_declares_the_plugin_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"sdax": "sdax.testing.pytest_plugin"}
    assert project["optional-dependencies"]["testing"] == ["looptime>=0.9"]
