"""Imports point one way: apps -> faces -> engine -> picker -> twins.

Every module of ``src/sdax`` is read as text (its imports, with the AST), so
the check covers imports inside functions and ``TYPE_CHECKING`` blocks too.
The layers, from the top:

* apps: the command line, the demo, ``sdax.contrib`` and ``sdax.testing``,
  which use sdax as users do;
* faces: the public modules users import (``sdax``, ``sdax.sdax_core``, ...);
  they declare and delegate;
* engine: every other private module (plans, runs, rules, declarations);
* picker: ``sdax._accel``, which chooses the integer core;
* twins: ``sdax._core_py`` (and its private parts) and the compiled ``sdax._core``.

A module may import from its own layer or any layer below, except that only
the picker imports a twin (the rest go through it, so one switch picks the
core for all). Within a layer the imports form no cycle.

The public classes live where their public module says: their ``__module__``
names a module that users import them from, under the same name (what
tracebacks show and what pickling needs).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import sdax

PACKAGE = Path(sdax.__file__).parent

FACES = {
    "sdax",
    "sdax.export",
    "sdax.limits",
    "sdax.observe",
    "sdax.report",
    "sdax.sdax_core",
    "sdax.sdax_task_analyser",
    "sdax.tasks",
}
APPS = ("sdax.__main__", "sdax._cli", "sdax._demo", "sdax.contrib", "sdax.testing")
PICKER = "sdax._accel"
TWINS = ("sdax._core_py", "sdax._core")

LAYERS = {"twin": 0, "picker": 1, "engine": 2, "face": 3, "app": 4}

# Imports allowed to break the direction, each with its reason (none today).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".") or name.startswith(prefix + "_")


def layer_of(module: str) -> str:
    """The layer a module of sdax belongs to."""
    if module in FACES:
        return "face"
    if any(module == app or module.startswith(app + ".") for app in APPS):
        return "app"
    if module == PICKER:
        return "picker"
    if any(_is_under(module, twin) for twin in TWINS):
        return "twin"
    return "engine"


def _resolve(source: str, node: ast.ImportFrom) -> str:
    base = node.module or ""
    if node.level:
        package = source.split(".")
        if MODULES[source].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return base


def imports_of(module: str) -> Iterator[str]:
    """The sdax modules that ``module`` imports, wherever the import statement is."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            # ``from sdax import _core_py`` imports a module; ``from sdax import task`` a name.
            targets = [
                f"{base}.{alias.name}"
                if f"{base}.{alias.name}" in MODULES or f"{base}.{alias.name}" == "sdax._core"
                else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "sdax" or target.startswith("sdax."):
                yield target


def _edges() -> list[tuple[str, str]]:
    return sorted({(m, t) for m in MODULES for t in imports_of(m) if t != m})


def test_every_module_has_a_layer_and_the_layers_are_populated() -> None:
    found = {layer_of(m) for m in MODULES}
    assert found == set(LAYERS)
    assert layer_of("sdax._core") == "twin"
    assert layer_of("sdax._core_py") == "twin"
    assert layer_of("sdax._plan") == "engine"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    broken = []
    for target in sorted(set(imports_of(module))):
        if (module, target) in KNOWN_EXCEPTIONS or target == module:
            continue
        source_layer, target_layer = layer_of(module), layer_of(target)
        if LAYERS[target_layer] > LAYERS[source_layer]:
            broken.append(f"{module} ({source_layer}) imports {target} ({target_layer})")
        elif target_layer == "twin" and source_layer not in ("picker", "twin"):
            broken.append(f"{module} imports the twin {target}: use sdax._accel.core")
    assert not broken, "\n".join(broken)


def test_the_twins_import_nothing_else_of_sdax() -> None:
    for module in MODULES:
        if layer_of(module) == "twin":
            assert all(layer_of(t) == "twin" for t in imports_of(module)), module


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for source, target in _edges():
        if (source, target) not in KNOWN_EXCEPTIONS and target in graph:
            graph[source].add(target)
    # A package's __init__ is imported before its modules: a module of the
    # package that imports from it is no cycle.
    for source, targets in graph.items():
        targets.discard(source.rpartition(".")[0])
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_known_exceptions_are_in_files_of_another_work_package() -> None:
    # Each entry must still describe an import that breaks the direction;
    # one that was fixed is simply not needed (and may be dropped here).
    for source, target in KNOWN_EXCEPTIONS:
        assert LAYERS[layer_of(target)] > LAYERS[layer_of(source)], (source, target)


# -- public classes: their home, as tracebacks and pickles show it -------------------------


def _public_classes() -> list[tuple[str, str, type]]:
    found = []
    for module in sorted(FACES):
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isclass(obj) and obj.__module__.startswith("sdax"):
                found.append((module, name, obj))
    return found


@pytest.mark.parametrize(("module", "name", "cls"), _public_classes())
def test_public_classes_name_a_public_home(module: str, name: str, cls: type) -> None:
    home = cls.__module__
    assert layer_of(home) == "face", f"{module}.{name} shows {home}"
    assert getattr(importlib.import_module(home), cls.__qualname__) is cls


@pytest.mark.parametrize(("module", "name", "cls"), _public_classes())
def test_public_class_annotations_resolve(module: str, name: str, cls: type) -> None:
    # typing.get_type_hints reads a class's annotations in its __module__.
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        assert {f.name for f in dataclasses.fields(cls)} <= set(hints)
