"""The core's type contract: type checkers see the pure twin, and the stub matches it.

``sdax._kernels.core`` is typed as ``sdax._kernels._core_py`` (whichever twin runs), so a
wrong call into the core is a type error in the engine. ``_core.pyi``
describes the compiled twin for tools that read the extension directly; it is
written by hand, so these tests hold it to the pure twin: the same names, the
same signatures, the same class members.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import sdax
from sdax._kernels import _core_py

STUB = Path(sdax.__file__).with_name("_core.pyi")


def _signature(node: ast.FunctionDef) -> str:
    # Text of the parameters and return annotation, decorators aside.
    returns = "" if node.returns is None else ast.unparse(node.returns)
    return f"({ast.unparse(node.args)}) -> {returns}"


def _source_def(obj: Any) -> ast.FunctionDef:
    # The pure twin may spread over several modules: parse each object where it lives.
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef), obj
    return node


def _stub() -> dict[str, ast.stmt]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _stub_all() -> list[str]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return value
    raise AssertionError("_core.pyi has no __all__")


def _members(cls: type) -> list[str]:
    return sorted(name for name in vars(cls) if not name.startswith("_") or name == "__init__")


def test_stub_names_are_the_pure_twins_names() -> None:
    assert _stub_all() == list(_core_py.__all__)
    assert sorted(_stub()) == sorted(_core_py.__all__)


@pytest.mark.parametrize(
    "name", [n for n in _core_py.__all__ if inspect.isfunction(getattr(_core_py, n))]
)
def test_stub_function_signatures_are_the_pure_twins(name: str) -> None:
    stub = _stub()[name]
    assert isinstance(stub, ast.FunctionDef)
    assert _signature(stub) == _signature(_source_def(getattr(_core_py, name)))


@pytest.mark.parametrize("name", ["PRE", "EXEC", "POST"])
def test_stub_declares_the_phase_bits_as_final_ints(name: str) -> None:
    stub = _stub()[name]
    assert isinstance(stub, ast.AnnAssign)
    assert ast.unparse(stub.annotation) == "Final[int]"
    assert type(getattr(_core_py, name)) is int


@pytest.mark.parametrize(
    "name", [n for n in _core_py.__all__ if isinstance(getattr(_core_py, n), type)]
)
def test_stub_class_members_and_signatures_are_the_pure_twins(name: str) -> None:
    stub = _stub()[name]
    assert isinstance(stub, ast.ClassDef)
    methods = {node.name: node for node in stub.body if isinstance(node, ast.FunctionDef)}
    cls = getattr(_core_py, name)
    assert sorted(methods) == _members(cls)
    for member, node in methods.items():
        pure = inspect.getattr_static(cls, member)
        if isinstance(pure, property):
            assert [ast.unparse(d) for d in node.decorator_list] == ["property"], member
            pure = pure.fget
        assert _signature(node) == _signature(_source_def(pure)), member


# -- the engine sees the core's types ------------------------------------------------------

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
