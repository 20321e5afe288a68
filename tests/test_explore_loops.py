"""The explorer makes its own loops, whatever event loop an application installed.

Each way of running on uvloop is tried in a fresh interpreter (the policy is
global state): ``uvloop.install()``, ``asyncio.set_event_loop_policy(...)``,
``asyncio.run(main(), loop_factory=uvloop.new_event_loop)`` and
``uvloop.run(main())``. The explorer must still use virtual time, find the
planted bug, and leave nothing behind (no ``Exception ignored`` on stderr).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from _loops import loop_names

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.testing import _explorer, explore, have_virtual_time

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys, warnings

    import uvloop

    from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
    from sdax.testing import explore, explore_async

    class Ctx:
        held = ready = False

    async def take(ctx):
        ctx.held = True
        await asyncio.sleep(0.01)  # a failure here: ready stays False, the slot leaks
        ctx.ready = True

    async def give(ctx):
        if ctx.ready:
            ctx.held = False

    def freed(ctx):
        assert ctx.held == 0, "still held"

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("slot", pre_execute=task_func(take), post_execute=task_func(give)))
        .build()
    )

    async def main():
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        return await explore_async(processor, Ctx, freed, pairs=5)

    way = sys.argv[1]
    if way in ("install", "policy"):
        with warnings.catch_warnings():  # deprecated on 3.12+ / 3.14+: what users see
            warnings.simplefilter("ignore", DeprecationWarning)
            if way == "install":
                uvloop.install()
            else:
                asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop = asyncio.new_event_loop()
        assert isinstance(loop, uvloop.Loop)
        loop.close()
        result = explore(processor, Ctx, freed, pairs=5)
    elif way == "factory":
        result = asyncio.run(main(), loop_factory=uvloop.new_event_loop)
    else:
        result = uvloop.run(main())
    print(json.dumps({
        "virtual": result.virtual_time,
        "broken": [f.scenario for f in result.findings],
        "notes": list(result.notes),
    }))
    """
)

WAYS = [
    "install",
    "policy",
    pytest.param(
        "factory",
        marks=pytest.mark.skipif(
            sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+"
        ),
    ),
    "run",
]


@pytest.mark.parametrize("way", WAYS)
def test_the_explorer_works_however_uvloop_was_installed(tmp_path: Path, way: str) -> None:
    pytest.importorskip("uvloop")
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), way],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no "Exception ignored in BaseEventLoop.__del__"
    out = json.loads(done.stdout)
    assert out["virtual"] == have_virtual_time()
    if have_virtual_time():
        assert out["notes"] == []  # no fallback to real time
    assert "raise-suspend@pre:slot" in out["broken"]


class _Refused(Exception):
    pass


def test_a_loop_looptime_cannot_drive_is_closed_and_real_time_is_said_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looptime = pytest.importorskip("looptime")
    made: list[asyncio.AbstractEventLoop] = []
    plain = _explorer._plain_loop

    def tracked() -> asyncio.AbstractEventLoop:
        loop = plain()
        made.append(loop)
        return loop

    def refuse(loop: asyncio.AbstractEventLoop) -> None:
        raise _Refused("cannot patch this loop")

    monkeypatch.setattr(_explorer, "_plain_loop", tracked)
    monkeypatch.setattr(looptime, "patch_event_loop", refuse)
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", execute=task_func(asyncio.sleep)))
        .build()
    )
    result = explore(processor, lambda: 0, kinds=["raise-start"], pairs=0)
    assert result.ok and not result.virtual_time
    assert [n for n in result.notes if "real time" in n] == [
        "real time was used: looptime could not drive asyncio's event loop "
        "(_Refused('cannot patch this loop'))"
    ]
    assert made and all(loop.is_closed() for loop in made)
    with pytest.raises(RuntimeError, match="virtual_time=True: looptime cannot drive"):
        explore(processor, lambda: 0, virtual_time=True)


def test_the_loop_dimension_is_in_force() -> None:
    # SDAX_TEST_LOOPS must change what it says it changes (tests/_loops.py).
    name = loop_names()[0]
    if name in ("uvloop-install", "uvloop-policy"):
        import uvloop

        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()
    in_worker = threading.current_thread() is not threading.main_thread()
    assert in_worker == (name in ("uvloop-factory", "uvloop-run"))
