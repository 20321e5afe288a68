"""Shared fixtures: the two twins of the integer core.

``core`` runs a test once per twin: the pure-Python ``sdax._core_py`` and the
compiled ``sdax._core``. When the compiled module cannot be imported, its case
is skipped, unless ``SDAX_REQUIRE_EXTENSIONS=1`` says a compiled build was
expected: then it fails.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

import sdax


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to something other than 0."""
    return os.environ.get(name, "").strip() not in ("", "0")


def load_core(kind: str) -> ModuleType:
    """Import one twin: ``"python"`` or ``"cython"``; skip or fail when it is missing."""
    if kind == "python":
        return importlib.import_module("sdax._core_py")
    try:
        return importlib.import_module("sdax._core")
    except ImportError as exc:
        if env_flag("SDAX_REQUIRE_EXTENSIONS"):
            pytest.fail(
                f"SDAX_REQUIRE_EXTENSIONS=1 but the compiled core cannot be imported: {exc}",
                pytrace=False,
            )
        pytest.skip("the compiled core (sdax._core) is not built")


def pytest_report_header() -> list[str]:
    """Say which sdax the tests import, and which core it runs."""
    where = os.path.dirname(sdax.__file__)
    return [f"sdax {sdax.__version__} from {where}; active core: {sdax.IMPLEMENTATION}"]


@pytest.fixture(params=["python", "cython"])
def core(request: pytest.FixtureRequest) -> ModuleType:
    """Each twin of the integer core in turn."""
    return load_core(request.param)


@pytest.fixture
def compiled_core() -> ModuleType:
    """The compiled twin, for tests that compare it with the pure one."""
    return load_core("cython")
