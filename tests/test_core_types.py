"""The core's type contract: type checkers see the pure twin, whichever twin runs.

``sdax._kernels.core`` is typed as ``sdax._kernels._core_py``, so a wrong call
into the core is a type error in the engine. The compiled ``sdax._core`` has no
stub: nothing is typed against it, and its names, signatures and docstrings are
held to the pure twin's by tests/test_core_parity.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sdax

SNIPPET = """\
from array import array

from sdax._kernels import core

good: tuple[array[int], array[int]] = core.successors(1, [0, 0], [])
bad: int = core.successors("not", "ints")
"""


def test_a_wrong_call_into_the_core_fails_type_checking(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    # Point mypy at the sdax that the tests import: an installed copy is found
    # in site-packages (it ships py.typed; mypy refuses site-packages on
    # MYPYPATH), a source tree (editable install) through MYPYPATH.
    home = Path(sdax.__file__).parent.parent
    env = dict(os.environ)
    if home.name not in ("site-packages", "dist-packages"):
        env["MYPYPATH"] = str(home)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # Errors of the snippet only (sdax's own are the job of the mypy run on src/).
    errors = [
        line
        for line in done.stdout.splitlines()
        if ": error:" in line and Path(line.split(":")[0]).name == "snippet.py"
    ]
    # Only the wrong call fails: the right one type-checks, so core is not Any.
    assert {line.split(":")[1] for line in errors} == {"6"}, done.stdout
    assert any("incompatible type" in line for line in errors), done.stdout
