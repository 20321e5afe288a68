"""Run this sdax on either integer core inside one process.

``sdax._kernels`` picks the core once, at import time (``SDAX_NO_EXTENSIONS``), and
the modules above it keep references to the chosen core (``sdax._build._plan`` holds it
as ``core``). To measure both cores side by side in one process,
:func:`using_core` rebinds, for the duration of a ``with`` block, every reference
that a ``sdax.*`` module holds to the active core (the module itself, or a
function or class defined by it) to the same-named object of the requested twin,
and restores them on exit.

A processor keeps the core objects it was built with (its plan's ``Graph``), so
build *and* run a processor inside the same ``using_core`` block; for the runs
this matters only if the engine calls the core through module globals at run time.
:func:`built_with` reads back which core a processor's graph comes from, so the
benchmarks can check the switch really happened.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType
from typing import Any

__all__ = [
    "CORES",
    "CoreUnavailable",
    "active_core",
    "built_with",
    "complete_run",
    "core_module",
    "core_scope",
    "unavailable_reason",
    "using_core",
]

from sdax._kernels import _accel

# Captured before any using_core block rebinds ``_accel.core``.
_ACTIVE: ModuleType = _accel.core

CORES: dict[str, str] = {"pure": "sdax._kernels._core_py", "compiled": "sdax._core"}
"""Bench labels of the twins, and their module names."""

_CONSTANTS = ("PRE", "EXEC", "POST")


class CoreUnavailable(RuntimeError):
    """The requested core cannot be imported (e.g. the extension is not built)."""


def core_module(label: str) -> ModuleType:
    """Import the twin called ``label`` ("pure" or "compiled").

    Raises:
        CoreUnavailable: It cannot be imported, with the reason.
    """
    name = CORES[label]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise CoreUnavailable(
            f"{label} core {name} is not importable ({type(exc).__name__}: {exc}); "
            "build the extension with `pip install -e .` (Cython and a C compiler needed)"
        ) from exc


def unavailable_reason(label: str) -> str | None:
    """Why the core ``label`` cannot be used, or ``None`` when it can."""
    try:
        core_module(label)
    except CoreUnavailable as exc:
        return str(exc)
    return None


def active_core() -> ModuleType:
    """The core that ``sdax._kernels`` chose at import time."""
    return _ACTIVE


def _core_objects(core: ModuleType) -> dict[int, str]:
    """ids of the module and of the functions/classes it defines, with their names."""
    found = {id(core): ""}
    for name, value in vars(core).items():
        if getattr(value, "__module__", None) == core.__name__ and callable(value):
            found[id(value)] = name
    return found


@contextmanager
def using_core(label: str) -> Iterator[ModuleType]:
    """Make sdax build (and run) with the twin ``label`` inside the block.

    Yields:
        The twin module.

    Raises:
        CoreUnavailable: The twin cannot be imported.
        RuntimeError: The twins disagree on the phase-bit constants, or the twin
            lacks an object the engine refers to.
    """
    twin = core_module(label)
    active = active_core()
    if twin is active:
        yield twin
        return
    for const in _CONSTANTS:
        if getattr(twin, const) != getattr(active, const):
            raise RuntimeError(f"the cores disagree on {const}: cannot switch in-process")
    wanted = _core_objects(active)
    swaps: list[tuple[ModuleType, str, Any]] = []
    try:
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or mod is active or mod is twin:
                continue
            if mod_name != "sdax" and not mod_name.startswith("sdax."):
                continue
            for attr, value in list(vars(mod).items()):
                name = wanted.get(id(value))
                if name is None:
                    continue
                replacement = twin if name == "" else getattr(twin, name, None)
                if replacement is None:
                    raise RuntimeError(
                        f"{mod_name}.{attr} refers to {active.__name__}.{name}, "
                        f"which {twin.__name__} lacks"
                    )
                swaps.append((mod, attr, value))
                setattr(mod, attr, replacement)
        yield twin
    finally:
        for mod, attr, value in reversed(swaps):
            setattr(mod, attr, value)


def core_scope(label: str) -> Callable[[], AbstractContextManager[ModuleType]]:
    """A zero-argument callable that enters ``using_core(label)``.

    The scope the interleaved timers enter around each timed call of a case.
    """
    return lambda: using_core(label)


def built_with(processor: Any) -> str | None:
    """The label of the core a processor was built with, ``None`` if unknown.

    Reads the module of the processor's run graph (``processor._plan.graph``).
    """
    graph = getattr(getattr(processor, "_plan", None), "graph", None)
    module = type(graph).__module__ if graph is not None else None
    for label, name in CORES.items():
        if module == name:
            return label
    return None


def complete_run(graph: Any) -> None:
    """Walk a fresh ``RunState`` of a core ``Graph`` through a successful run.

    As the engine does, without calling any phase: ``pre_begin``, ``pre_done``
    for every handed-out node, then ``post_begin`` and ``post_done`` likewise.
    """
    state = graph.run()
    ready: list[int] = []
    state.pre_begin(ready)
    while ready:
        state.pre_done(ready.pop(), ready)
    state.post_begin(ready)
    while ready:
        state.post_done(ready.pop(), ready)
