"""The two twins of the integer core expose the same names, signatures and docstrings."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from sdax._kernels import _core_py

NAMES = list(_core_py.__all__)


def _public_members(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def test_all_is_the_same(compiled_core: ModuleType) -> None:
    assert list(compiled_core.__all__) == NAMES
    for name in NAMES:
        assert hasattr(compiled_core, name), name


@pytest.mark.parametrize("name", ["PRE", "EXEC", "POST"])
def test_phase_bits_are_the_same(compiled_core: ModuleType, name: str) -> None:
    assert getattr(compiled_core, name) == getattr(_core_py, name)
    assert type(getattr(compiled_core, name)) is int


@pytest.mark.parametrize("name", [n for n in NAMES if callable(getattr(_core_py, n))])
def test_signatures_are_the_same(compiled_core: ModuleType, name: str) -> None:
    ours = getattr(compiled_core, name)
    theirs = getattr(_core_py, name)
    assert inspect.signature(ours) == inspect.signature(theirs)


@pytest.mark.parametrize("name", ["Graph", "RunState"])
def test_class_members_and_their_signatures_are_the_same(
    compiled_core: ModuleType, name: str
) -> None:
    ours = getattr(compiled_core, name)
    theirs = getattr(_core_py, name)
    members = _public_members(theirs)
    assert _public_members(ours) == members
    for member in members:
        mine = inspect.getattr_static(ours, member)
        pure = inspect.getattr_static(theirs, member)
        if isinstance(pure, property):
            assert isinstance(mine, property) or inspect.isgetsetdescriptor(mine), member
            continue
        assert inspect.signature(getattr(ours, member)) == inspect.signature(
            getattr(theirs, member)
        ), member


@pytest.mark.parametrize("name", [n for n in NAMES if not isinstance(getattr(_core_py, n), int)])
def test_docstrings_are_the_pure_twins_own(compiled_core: ModuleType, name: str) -> None:
    # Written once, in the pure twin: the compiled twin holds the very same string
    # objects, for every public function, class, method and property, so they cannot drift.
    ours = getattr(compiled_core, name)
    theirs = getattr(_core_py, name)
    assert ours.__doc__ is theirs.__doc__
    if isinstance(theirs, type):
        for member in _public_members(theirs):
            mine = inspect.getattr_static(ours, member).__doc__
            pure = inspect.getattr_static(theirs, member).__doc__
            assert mine is pure, f"{name}.{member}"
            assert getattr(ours, member).__doc__ is pure, f"{name}.{member}"


@pytest.mark.parametrize("name", NAMES)
def test_every_public_name_is_documented(core: ModuleType, name: str) -> None:
    obj = getattr(core, name)
    if isinstance(obj, int):
        return  # the phase bits are documented in the module docstring
    assert obj.__doc__ and obj.__doc__.strip()
    if isinstance(obj, type):
        for member in _public_members(obj):
            assert getattr(obj, member).__doc__, f"{name}.{member}"


def test_module_is_documented(core: ModuleType) -> None:
    assert core.__doc__
    for bit in ("PRE", "EXEC", "POST"):
        assert bit in core.__doc__
