"""The ``sdax`` command, run as a subprocess (``python -m sdax ...``)."""

from __future__ import annotations

import io
import os
import platform
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import sdax
from sdax._cli import main
from sdax._demo import DemoContext, build_processor, run_demo
from sdax.export import plan_mermaid

ROOT = Path(__file__).resolve().parent.parent

WORKFLOW = textwrap.dedent(
    """
    from sdax import AsyncDagTaskProcessor, AsyncTask, join, task_func


    async def step(ctx):
        return None


    def make_builder():
        f = task_func(step)
        return (
            AsyncDagTaskProcessor.builder()
            .add_task(AsyncTask("db", pre_execute=f, post_execute=f))
            .add_task(AsyncTask(("user", 1), execute=f), depends_on=("db",))
        )


    builder = make_builder()
    processor = make_builder().build()


    class Holder:
        processor = processor


    def needs_args(x):
        return processor


    def broken():
        raise RuntimeError("no config")


    def returns_number():
        return 3


    async def async_factory():
        return processor


    def cyclic():
        f = task_func(step)
        return (
            AsyncDagTaskProcessor.builder()
            .add_task(AsyncTask("a", execute=f), depends_on=("b",))
            .add_task(AsyncTask("b", execute=f), depends_on=("a",))
        )


    answer = 42
    """
)


def _run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdax", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory holding the user's module ``workflows.py`` (and a broken one)."""
    (tmp_path / "workflows.py").write_text(WORKFLOW)
    (tmp_path / "fails_on_import.py").write_text("raise ImportError('half installed')\n")
    (tmp_path / "needs_missing.py").write_text("import surely_not_installed_pkg_xyz\n")
    return tmp_path


def _assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"sdax graph: error: {message}"]


# -- graph ------------------------------------------------------------------------------

GRAPH_TEXT = """\
Plan: 2 nodes (1 with pre_execute, 1 with execute, 1 with post_execute, 0 without functions)

Nodes, dependencies first:
  db           pre, post
  ('user', 1)  execute    after db

pre_execute: 1 wave
  wave 0: db
execute: 1 task
  ('user', 1)
post_execute: 1 wave
  wave 0: db
"""


def test_graph_prints_the_text_plan_of_a_processor(project: Path) -> None:
    result = _run("graph", "workflows:processor", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GRAPH_TEXT


@pytest.mark.parametrize(
    "target", ["workflows:builder", "workflows:make_builder", "workflows:Holder.processor"]
)
def test_graph_accepts_builders_functions_and_dotted_names(project: Path, target: str) -> None:
    result = _run("graph", target, "--format", "mermaid", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "flowchart TD\n"
        '    n0["db<br/>pre, post"]\n'
        "    n1[\"('user', 1)<br/>execute\"]\n"
        "    n0 --> n1\n"
    )


def test_graph_prints_dot(project: Path) -> None:
    result = _run("graph", "workflows:processor", "--format=dot", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('digraph "sdax_plan" {\n')
    assert "    n0 -> n1;\n}\n" in result.stdout


def test_graph_of_the_demo_is_the_demo_plan() -> None:
    result = _run("graph", "sdax._demo:build_processor", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout == plan_mermaid(build_processor()) + "\n"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:processor", "no module named 'no_such_module_xyz'"),
        ("workflows.sub:processor", "no module named 'workflows.sub'"),
        ("workflows:nothing", "'workflows' has no attribute 'nothing'"),
        ("workflows:Holder.nothing", "'workflows:Holder' has no attribute 'nothing'"),
        (
            "workflows:answer",
            "workflows:answer is a int, not an sdax processor, builder or TaskAnalysis "
            "(or a function)",
        ),
        (
            "workflows:Holder",
            "workflows:Holder is a type, not an sdax processor, builder or TaskAnalysis "
            "(or a function)",
        ),
        (
            "workflows:needs_args",
            "workflows:needs_args takes arguments; give a function that takes none",
        ),
        ("workflows:broken", "calling workflows:broken() failed: RuntimeError: no config"),
        (
            "workflows:returns_number",
            "workflows:returns_number() returned a int, not an sdax processor, builder or "
            "TaskAnalysis",
        ),
        (
            "workflows:async_factory",
            "workflows:async_factory is an async function; give a plain function",
        ),
        ("workflows:cyclic", "building the plan failed: Cycle detected: a -> b -> a"),
        (
            "fails_on_import:x",
            "importing 'fails_on_import' failed: ImportError: half installed",
        ),
        (
            "needs_missing:x",
            "importing 'needs_missing' failed: ModuleNotFoundError: No module named "
            "'surely_not_installed_pkg_xyz'",
        ),
        (
            "workflows",
            "expected MODULE:ATTR (for example myapp.workflows:processor), got 'workflows'",
        ),
        (
            "workflows:",
            "expected MODULE:ATTR (for example myapp.workflows:processor), got 'workflows:'",
        ),
    ],
)
def test_graph_reports_a_bad_target_in_one_line(project: Path, target: str, message: str) -> None:
    _assert_one_line_error(_run("graph", target, cwd=project), message)


def test_graph_rejects_an_unknown_format(project: Path) -> None:
    result = _run("graph", "workflows:processor", "--format", "svg", cwd=project)
    assert result.returncode == 2
    assert "invalid choice: 'svg'" in result.stderr
    assert "Traceback" not in result.stderr


# -- demo ------------------------------------------------------------------------------

DEMO_ROWS = [
    ("Auth", "pre", "1"),
    ("Database", "pre", "1"),
    ("RateLimit", "pre", "1"),
    ("FeatureFlags", "pre", "1"),
    ("FeatureFlags", "pre", "2"),
    ("FetchUser", "execute", "1"),
    ("FetchRecommendations", "execute", "1"),
    ("RateLimit", "post", "1"),
    ("Database", "post", "1"),
]


def _chart_rows(output: str) -> list[tuple[str, str, str]]:
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("task "))
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        name, phase, attempt = line.split()[:3]
        rows.append((name, phase, attempt))
    return rows


def test_demo_runs_the_story_and_exits_zero() -> None:
    result = _run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith("sdax demo: GET /users/42/dashboard, as 6 tasks\n")
    assert "run 1: 6 tasks, 8 phase calls, 9 attempts (1 retried, 1 failed)" in out
    # Rows are in start order: compare as sets, and check the order that the graph forces.
    rows = _chart_rows(out)
    assert sorted(rows) == sorted(DEMO_ROWS)
    assert rows.index(("FeatureFlags", "pre", "1")) < rows.index(("FeatureFlags", "pre", "2"))
    assert rows[-2:] in (DEMO_ROWS[-2:], DEMO_ROWS[-2:][::-1])
    assert "ConnectionError: flag service reset the connection" in out
    assert "FAILED: RecommendationsUnavailable: recommendation service answered 503" in out
    assert "slot given back" in out and "connection closed" in out
    assert "The request failed, as this demo intends" in out


def _chart_row(out: str, task: str, attempt: int) -> list[str]:
    (line,) = [
        line
        for line in out.splitlines()
        if line.startswith(f"{task} ") and line.split()[2:3] == [str(attempt)]
    ]
    return line.split()


def test_demo_says_which_retry_time_is_planned_and_which_measured() -> None:
    out = _run("demo").stdout
    first = _chart_row(out, "FeatureFlags", 1)
    second = _chart_row(out, "FeatureFlags", 2)
    match = re.search(
        r"\|  retry planned after (\d+\.\d) ms, began after (\d+\.\d) ms: ConnectionError: ",
        out,
    )
    assert match, out
    planned, began = (float(x) for x in match.groups())
    # The planned pause is the policy's draw: initial_delay 10 ms times uniform(0.5, 1.0).
    assert 5.0 <= planned <= 10.0
    # The measured one is what the chart shows: the retry's start minus the failed attempt's end.
    start_1, took_1, start_2 = float(first[3]), float(first[5]), float(second[3])
    assert abs(began - (start_2 - start_1 - took_1)) <= 0.2
    assert "retried after" not in out


def test_demo_width_option() -> None:
    result = _run("demo", "--width", "12")
    assert result.returncode == 0, result.stdout + result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("task "))
    assert len(header.split("|")[1]) == 12
    bad = _run("demo", "--width", "3")
    assert bad.returncode == 2
    assert "must be at least 10" in bad.stderr


async def test_demo_in_process_keeps_its_promises() -> None:
    out = io.StringIO()
    assert await run_demo(out) == 0
    ctx = DemoContext()
    with pytest.raises(Exception, match="task execution failed"):
        await build_processor().process_tasks(ctx)
    assert (ctx.connection_open, ctx.slot_taken, ctx.flag_calls) == (False, False, 2)
    assert ctx.user == {"id": 42, "name": "Ada"}
    assert [task for _, task, _ in ctx.log][-2:] in (
        ["RateLimit", "Database"],
        ["Database", "RateLimit"],
    )


# -- info, help, entry points ----------------------------------------------------------


def test_info_names_version_python_platform_and_core() -> None:
    result = _run("info")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["sdax"].strip() == sdax.__version__
    assert lines["core"].strip().split()[0] == sdax.IMPLEMENTATION
    assert lines["python"].strip().startswith(platform.python_version())
    assert lines["platform"].strip() == platform.platform()
    assert "tracing" in lines


def test_info_shows_the_forced_pure_core() -> None:
    env = dict(os.environ, SDAX_NO_EXTENSIONS="1")
    result = _run("info", env=env)
    assert result.returncode == 0, result.stderr
    assert "core:     python (pure-Python core, forced by SDAX_NO_EXTENSIONS)" in result.stdout


@pytest.mark.parametrize("command", [[], ["demo"], ["graph"], ["info"]])
def test_help_of_every_command(command: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: sdax {' '.join(command)}".rstrip())
    for word in {
        "": ["demo", "graph", "info"],
        "demo": ["--width"],
        "graph": ["MODULE:ATTR", "--format"],
        "info": ["version"],
    }[" ".join(command)]:
        assert word in result.stdout


def test_no_command_is_a_usage_error() -> None:
    result = _run()
    assert result.returncode == 2
    assert "the following arguments are required: command" in result.stderr


def test_version_option() -> None:
    result = _run("--version")
    assert (result.returncode, result.stdout) == (0, f"sdax {sdax.__version__}\n")


def test_console_script_points_at_main() -> None:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert scripts == {"sdax": "sdax._cli:main"}
    assert main(["info"]) == 0


def test_the_docs_diagram_is_the_demo_plan() -> None:
    docs = ROOT / "docs" / "observability.md"
    if not docs.exists():  # an unpacked sdist carries no docs/
        pytest.skip("docs/observability.md is not here")
    text = docs.read_text()
    block = text.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    assert block == plan_mermaid(build_processor())
