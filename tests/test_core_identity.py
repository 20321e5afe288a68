"""Which integer core a build actually runs.

Wherever the compiled core is built (and always under
``SDAX_REQUIRE_EXTENSIONS=1``) the engine must call the compiled module's
objects, not merely have the module around; with ``SDAX_NO_EXTENSIONS=1`` it
must call the pure twin's. A skip names what is missing.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
import types
from array import array

import pytest
from _support import env_flag

import sdax
from sdax import AsyncDagTaskProcessor, AsyncTask, TaskFunction
from sdax._build import _plan
from sdax._kernels import _accel, _core_py


async def _nothing(ctx: object) -> None:
    return None


def _processor() -> AsyncDagTaskProcessor[object, str]:
    fn = TaskFunction(_nothing)
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", pre_execute=fn, post_execute=fn))
        .add_task(AsyncTask("b", pre_execute=fn), depends_on=["a"])
        .build()
    )


def _implementation_in_child(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SDAX_")}
    done = subprocess.run(
        [sys.executable, "-c", "import sdax; print(sdax.IMPLEMENTATION)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_active_core_is_public_and_consistent() -> None:
    assert sdax.IMPLEMENTATION in ("cython", "python")
    assert sdax.IMPLEMENTATION == _accel.IMPLEMENTATION
    expected = "sdax._core" if sdax.IMPLEMENTATION == "cython" else "sdax._kernels._core_py"
    assert _accel.core.__name__ == expected
    assert vars(_plan)["core"] is _accel.core


def why_the_compiled_core_is_not_checked() -> str | None:
    """What keeps this session from checking the compiled core, or ``None``.

    The check runs wherever the compiled core is active, and wherever
    ``SDAX_REQUIRE_EXTENSIONS=1`` says it must be (then a missing one fails).
    """
    if env_flag("SDAX_NO_EXTENSIONS"):
        return "SDAX_NO_EXTENSIONS=1 makes the pure core the active one"
    if env_flag("SDAX_REQUIRE_EXTENSIONS"):
        return None
    try:
        importlib.import_module("sdax._core")
    except ImportError as exc:
        return (
            f"the compiled core is not built ({exc}), so the pure core is active; "
            "SDAX_REQUIRE_EXTENSIONS is not set, which would make this a failure"
        )
    return None


@pytest.mark.parametrize(
    ("env", "built", "reason"),
    [
        ({"SDAX_NO_EXTENSIONS": "1"}, True, "SDAX_NO_EXTENSIONS=1"),
        ({"SDAX_NO_EXTENSIONS": "1", "SDAX_REQUIRE_EXTENSIONS": "1"}, True, "SDAX_NO_EXTENSIONS=1"),
        ({}, False, "the compiled core is not built"),
        ({}, True, None),
        ({"SDAX_REQUIRE_EXTENSIONS": "1"}, False, None),
        ({"SDAX_REQUIRE_EXTENSIONS": "1"}, True, None),
    ],
    ids=[
        "pure-forced",
        "pure-forced-required",
        "not-built",
        "built",
        "required-missing",
        "required",
    ],
)
def test_the_skip_reason_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], built: bool, reason: str | None
) -> None:
    for name in ("SDAX_NO_EXTENSIONS", "SDAX_REQUIRE_EXTENSIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    real_import = importlib.import_module

    def import_module(name: str) -> types.ModuleType:
        if name == "sdax._core" and not built:
            raise ImportError("No module named 'sdax._core'")
        return types.ModuleType(name) if name == "sdax._core" else real_import(name)

    monkeypatch.setattr(importlib, "import_module", import_module)
    found = why_the_compiled_core_is_not_checked()
    if reason is None:
        assert found is None
    else:
        assert found is not None and found.startswith(reason), found


def test_the_engine_runs_the_compiled_core_in_a_compiled_build(
    request: pytest.FixtureRequest,
) -> None:
    reason = why_the_compiled_core_is_not_checked()
    if reason is not None:
        pytest.skip(reason)
    compiled = request.getfixturevalue("compiled_core")
    assert compiled.__file__ is not None
    assert compiled.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert not isinstance(compiled.successors, types.FunctionType)
    assert sdax.IMPLEMENTATION == "cython"
    assert _accel.core is compiled
    # The very objects the plan builder calls, and what a built processor holds.
    for name in ("successors", "topological_order", "find_cycle", "effective_sets"):
        assert getattr(vars(_plan)["core"], name) is getattr(compiled, name)
    plan = _processor().analysis.plan
    assert type(plan.graph) is compiled.Graph
    assert type(plan.graph.run()) is compiled.RunState
    assert type(plan.order) is array


def test_the_engine_runs_the_pure_core_when_extensions_are_disabled() -> None:
    if not env_flag("SDAX_NO_EXTENSIONS"):
        pytest.skip("SDAX_NO_EXTENSIONS is not set")
    assert sdax.IMPLEMENTATION == "python"
    assert _accel.core is _core_py
    assert vars(_plan)["core"].successors is _core_py.successors
    plan = _processor().analysis.plan
    assert type(plan.graph) is _core_py.Graph
    assert type(plan.graph.run()) is _core_py.RunState


def test_the_engine_core_fixture_makes_the_engine_build_with_that_twin(
    engine_core: types.ModuleType,
) -> None:
    plan = _processor().analysis.plan
    assert type(plan.graph) is engine_core.Graph
    assert type(plan.graph.run()) is engine_core.RunState


def test_sdax_no_extensions_forces_the_pure_core() -> None:
    assert _implementation_in_child(SDAX_NO_EXTENSIONS="1") == "python"


def test_without_the_switch_the_compiled_core_is_chosen_when_built() -> None:
    try:
        importlib.import_module("sdax._core")
    except ImportError:
        if env_flag("SDAX_REQUIRE_EXTENSIONS"):
            pytest.fail("SDAX_REQUIRE_EXTENSIONS=1 but sdax._core cannot be imported")
        assert _implementation_in_child() == "python"
    else:
        assert _implementation_in_child() == "cython"
        assert _implementation_in_child(SDAX_NO_EXTENSIONS="0") == "cython"
