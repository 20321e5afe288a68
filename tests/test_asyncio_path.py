"""The two ways phase calls start, the check that picks one, and the test loops.

``sdax._engine._eager.probe()`` checks the fast path's assumptions about asyncio
internals in a running loop; ``SDAX_PUBLIC_ASYNCIO=1`` forces the public-API
path. These tests show that the probe notices each broken assumption, that
the attribute and ``sdax info`` say which path runs, that the fast path
really reuses a reserved task only when nobody kept it, and that the async
tests run on the event loop ``SDAX_TEST_LOOPS`` asks for.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _loops import LOOPS_ENV, loop_factories
from _support import build_dag

import sdax
from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax._engine import _eager


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != _eager.PUBLIC_ENV}
    env.update(extra)
    return env


def _path_in_subprocess(**extra: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sdax, sdax._engine._eager as e; print(sdax.ASYNCIO_PATH, e.PATH_REASON)",
        ],
        env=_clean_env(**extra),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_the_environment_variable_forces_the_public_path() -> None:
    line = _path_in_subprocess(SDAX_PUBLIC_ASYNCIO="1")
    assert line.startswith("public ")
    assert "SDAX_PUBLIC_ASYNCIO" in line


@pytest.mark.skipif(
    sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 15),
    reason="the fast path is checked on CPython 3.11-3.15 only",
)
def test_the_fast_path_is_chosen_where_it_was_checked() -> None:
    line = _path_in_subprocess(SDAX_PUBLIC_ASYNCIO="0")
    assert line.startswith("fast "), line
    assert _eager.probe() is None


def test_the_attribute_matches_the_module_state() -> None:
    assert sdax.ASYNCIO_PATH in ("fast", "public")
    assert (sdax.ASYNCIO_PATH == "fast") is _eager.FAST
    assert isinstance(_eager.PATH_REASON, str) and _eager.PATH_REASON


def test_sdax_info_names_the_path() -> None:
    from sdax._cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["info"]) == 0
    lines = [line for line in out.getvalue().splitlines() if line.startswith("asyncio:")]
    assert len(lines) == 1
    assert f"{sdax.ASYNCIO_PATH} path" in lines[0]


def _no_switch(loop: Any, task: Any) -> Any:
    return None


@pytest.mark.skipif(not _eager.FAST, reason="the probe only runs where the fast path can")
@pytest.mark.parametrize(
    ("attribute", "replacement", "message"),
    [
        ("_swap", _no_switch, "switch"),
        ("_refs", lambda task: 2, "reference count"),
        ("new_phase_task", lambda cls: object(), "another type"),
    ],
)
def test_the_probe_notices_a_broken_assumption(
    monkeypatch: pytest.MonkeyPatch, attribute: str, replacement: Any, message: str
) -> None:
    if attribute == "_swap" and _eager._swap is None:
        attribute = "_current"
        replacement = None
        message = "current-task switch"
    monkeypatch.setattr(_eager, attribute, replacement)
    broken = _eager.probe()
    assert broken is not None
    assert message in broken


@pytest.mark.skipif(not _eager.FAST, reason="the probe only runs where the fast path can")
async def test_the_probe_runs_from_inside_a_running_loop() -> None:
    # A loop is running here, so the probe uses its own loop in a thread.
    assert _eager.probe() is None
    assert asyncio.get_running_loop().is_running()


def _four_calls(kept: list[Any], seen: list[int]) -> AsyncDagTaskProcessor[Any, str]:
    async def plain(ctx: Any) -> None:
        seen.append(id(asyncio.current_task()))

    async def keeper(ctx: Any) -> None:
        kept.append(asyncio.current_task())
        seen.append(id(kept[-1]))

    return build_dag(
        AsyncTask("a", pre_execute=task_func(plain)),
        (AsyncTask("b", pre_execute=task_func(plain)), "a"),
        (AsyncTask("c", pre_execute=task_func(keeper)), "b"),
        (AsyncTask("d", pre_execute=task_func(plain)), "c"),
    )


async def test_each_call_sees_a_task_and_a_kept_task_ends_done() -> None:
    kept: list[Any] = []
    seen: list[int] = []
    await _four_calls(kept, seen).process_tasks(None)
    assert len(seen) == 4
    (task,) = kept
    assert isinstance(task, asyncio.Task)
    await asyncio.sleep(0)  # a kept task finishes like a task would: on the loop
    assert task.done() and not task.cancelled()
    # Once kept, the task is never handed to a later call.
    assert seen[2] == id(task) and seen[3] != id(task)
    if _eager.FAST:
        # Fast path: calls that keep nothing share one reserved task.
        assert seen[0] == seen[1] == seen[2]
    else:
        # Public path: a real asyncio task per call, never a reserved one.
        assert not isinstance(task, _eager.PhaseTask)


def test_loop_factories_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOPS_ENV, "asyncio")
    assert list(loop_factories()) == ["asyncio"]
    monkeypatch.setenv(LOOPS_ENV, "nonsense")
    with pytest.raises(pytest.UsageError, match="nonsense"):
        loop_factories()


async def test_the_loop_is_the_one_asked_for(request: pytest.FixtureRequest) -> None:
    factory = request.node.callspec.params["_asyncio_loop_factory"]
    names = [name for name, made in loop_factories().items() if made is factory]
    assert len(names) == 1
    loop = asyncio.get_running_loop()
    if names[0].startswith("uvloop"):
        import uvloop

        assert isinstance(loop, uvloop.Loop)
    else:
        assert type(loop).__module__.startswith("asyncio.")


PRIVATE_ASYNCIO_NAMES = {
    "_swap_current_task",
    "_current_tasks",
    "_enter_task",
    "_leave_task",
    "_register_task",
    "_unregister_task",
    "_clock_resolution",
    "_set_running_loop",
    "_get_running_loop",
    "_asyncio",
}


def _private_names_used(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ASYNCIO_NAMES:
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and node.value in PRIVATE_ASYNCIO_NAMES:
            found.add(str(node.value))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            found.update(n for n in names if n.split(".")[-1] in PRIVATE_ASYNCIO_NAMES)
    return found


def test_private_asyncio_names_live_in_one_module() -> None:
    package = Path(sdax.__file__).parent
    users = {
        path.relative_to(package).as_posix(): names
        for path in sorted(package.rglob("*.py"))
        if (names := _private_names_used(path.read_text(encoding="utf-8")))
    }
    assert set(users) == {"_engine/_eager.py"}, users


def test_the_private_name_check_can_fail() -> None:
    assert _private_names_used("import asyncio\nasyncio.tasks._current_tasks.get(1)\n") == {
        "_current_tasks"
    }
    assert _private_names_used("x = getattr(loop, '_clock_resolution', 0)\n") == {
        "_clock_resolution"
    }


@pytest.mark.parametrize("shared", ["future", "task"])
async def test_calls_of_one_batch_may_await_the_same_future(shared: str) -> None:
    # Each eager step yields the shared future before any task exists; the
    # future protocol's "being awaited" flag must not make the second await fail.
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    awaited: Any = gate
    if shared == "task":

        async def relay() -> int:
            return await gate

        awaited = asyncio.ensure_future(relay())
    got: list[tuple[str, int]] = []

    def waiter(name: str) -> Any:
        async def phase(ctx: Any) -> None:
            got.append((name, await awaited))

        return task_func(phase)

    processor = build_dag(
        AsyncTask("a", pre_execute=waiter("a")),
        AsyncTask("b", pre_execute=waiter("b")),
        AsyncTask("c", execute=waiter("c")),
    )
    loop.call_later(0.002, gate.set_result, 7)
    await processor.process_tasks(None)
    assert sorted(got) == [("a", 7), ("b", 7), ("c", 7)]
