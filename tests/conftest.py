"""Shared fixtures: the two twins of the integer core.

``core`` runs a test once per twin: the pure-Python ``sdax._kernels._core_py`` and the
compiled ``sdax._core``. ``engine_core`` does the same for the engine: it makes
the twin the core that every processor built during the test plans and runs
with, so a behaviour test module that asks for it (``pytestmark =
pytest.mark.usefixtures("engine_core")``) checks both twins in one session.
When the compiled module cannot be imported, its case is skipped, unless
``SDAX_REQUIRE_EXTENSIONS=1`` says a compiled build was expected: then it fails.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import pytest
from _loops import install_policy, loop_factories, program_runner
from _support import load_core

import sdax
from sdax._build import _plan


def pytest_report_header() -> list[str]:
    """Say which sdax the tests import, and which core and asyncio path it runs."""
    where = os.path.dirname(sdax.__file__)
    return [
        f"sdax {sdax.__version__} from {where}; active core: {sdax.IMPLEMENTATION}; "
        f"asyncio path: {sdax.ASYNCIO_PATH}; event loops: {', '.join(_LOOP_FACTORIES)}"
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``eager_start`` tests where a phase call's first step waits for a loop turn.

    That is the public asyncio path on 3.11, which has no eager tasks: the
    semantics hold there, but a call no longer starts before the loop turns.
    """
    if sdax.ASYNCIO_PATH == "fast" or sys.version_info >= (3, 12):
        return
    skip = pytest.mark.skip(reason="public asyncio path on 3.11: no eager task start")
    for item in items:
        if item.get_closest_marker("eager_start") is not None:
            item.add_marker(skip)


@pytest.fixture(params=["python", "cython"])
def core(request: pytest.FixtureRequest) -> ModuleType:
    """Each twin of the integer core in turn."""
    return load_core(request.param)


@pytest.fixture(params=["python", "cython"])
def engine_core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Each twin in turn as the core of the processors the test builds.

    ``sdax._build._plan`` builds every plan (graph checks, orders, waves and the
    per-run ``Graph``) with its module attribute ``core``, which ``sdax._kernels``
    chose at import; a processor keeps the objects its plan was built with.
    """
    twin = load_core(request.param)
    monkeypatch.setattr(_plan, "core", twin)
    return twin


@pytest.fixture
def compiled_core() -> ModuleType:
    """The compiled twin, for tests that compare it with the pure one."""
    return load_core("cython")


_LOOP_FACTORIES = loop_factories()
_RUN_IN_PROGRAM = program_runner()
_UNDO_POLICY: list[Callable[[], None]] = []


def pytest_configure(config: pytest.Config) -> None:
    """``SDAX_TEST_LOOPS=uvloop-install`` or ``uvloop-policy``: install uvloop for the session."""
    undo = install_policy()
    if undo is not None:
        _UNDO_POLICY.append(undo)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put asyncio's own policy back."""
    while _UNDO_POLICY:
        _UNDO_POLICY.pop()()


def _explorer_test(item: pytest.Function) -> bool:
    name = item.path.name
    return name.startswith(("test_explore", "test_testing_"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """``uvloop-factory``, ``uvloop-run``: a sync explorer test runs inside a uvloop program.

    It runs in a worker thread of ``asyncio.run(..., loop_factory=uvloop.new_event_loop)``
    or of ``uvloop.run(...)``, which is where ``explore_async`` runs ``explore``.
    """
    if (
        _RUN_IN_PROGRAM is None
        or inspect.iscoroutinefunction(pyfuncitem.function)
        or not _explorer_test(pyfuncitem)
    ):
        return None
    args: dict[str, Any] = {
        name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames
    }
    _RUN_IN_PROGRAM(lambda: pyfuncitem.obj(**args))
    return True


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's hook: run every async test on each loop asked for."""
    return _LOOP_FACTORIES
