"""Layers are folders, and imports point down: apps -> faces -> engine -> build -> kernels.

Every module of ``src/sdax`` is read as text (its imports, with the AST), so
the check covers imports inside functions and ``TYPE_CHECKING`` blocks too.
A module's layer is the folder it sits in:

* ``sdax._kernels/`` (with the compiled ``sdax._core`` beside it): the core
  picker and the pure twin, integers only;
* ``sdax._build/``: declarations, validation, analysis, the plan;
* ``sdax._engine/``: processors and runs, calls, attempts, cleanup, events;
* the top of the package: the faces users import (``sdax``, ``sdax.sdax_core``,
  ...), which only re-export, and the apps (the command line, the demo,
  ``sdax.testing``, ``sdax.contrib``), which use sdax as users do.

A module imports from its own layer or a layer below. From outside a
subpackage the only way in is its ``__init__`` (``from sdax._build import
Plan``, never ``from sdax._build._plan import Plan``); inside, modules import
their siblings directly. Only ``sdax._kernels`` imports the compiled core, and
the pure twin imports nothing else of sdax. No imports form a cycle.

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

# The layers, from the bottom; a subpackage's name is its layer's.
LAYERS = {"_kernels": 0, "_build": 1, "_engine": 2, "face": 3, "app": 4}
SUBPACKAGES = ("_kernels", "_build", "_engine")
COMPILED = "sdax._core"  # the compiled twin: an extension module, not a .py file
LEAF = "sdax._version"  # imports nothing: below every layer, so any may read it
APPS = ("__main__", "_cli", "_demo", "contrib", "testing")
# Private modules at the top that are no app: each with its reason.
TOP_PRIVATE = {
    "_version": "the version string, read by setuptools; a leaf any layer may import",
    "_public": "the faces' __module__ fixup, which only faces call",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The layer of a module of sdax: the folder it sits in."""
    if module in (COMPILED, LEAF):
        return "_kernels"
    parts = module.split(".")
    if len(parts) == 1:
        return "face"
    top = parts[1]
    if top in SUBPACKAGES:
        return top
    return "app" if top in APPS else "face"


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
            # ``from sdax._build import _plan`` imports a module; ``... import Plan`` a name.
            targets = [
                f"{base}.{alias.name}"
                if f"{base}.{alias.name}" in MODULES or f"{base}.{alias.name}" == COMPILED
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


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1] in SUBPACKAGES else None


def test_every_layer_is_a_folder_with_an_init() -> None:
    for name in SUBPACKAGES:
        assert (PACKAGE / name / "__init__.py").is_file(), name
    assert {layer_of(m) for m in MODULES} == set(LAYERS)
    assert layer_of("sdax._core") == layer_of("sdax._kernels._core_py") == "_kernels"
    assert layer_of("sdax._build._plan") == "_build"
    assert layer_of("sdax._engine._run") == "_engine"
    assert layer_of("sdax.sdax_core") == "face"
    assert layer_of("sdax.testing._explorer") == "app"


def test_private_modules_at_the_top_are_apps_or_listed() -> None:
    # A private module belongs in a layer's folder; the top holds faces and apps.
    strays = [
        m
        for m in MODULES
        if m.count(".") == 1
        and m.split(".")[1].startswith("_")
        and m.split(".")[1] not in (*SUBPACKAGES, *APPS, *TOP_PRIVATE)
    ]
    assert not strays, strays
    for name in TOP_PRIVATE:
        assert f"sdax.{name}" in MODULES, name


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    broken = []
    for target in sorted(set(imports_of(module))):
        source_layer, target_layer = layer_of(module), layer_of(target)
        if LAYERS[target_layer] > LAYERS[source_layer]:
            broken.append(f"{module} ({source_layer}) imports {target} ({target_layer})")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_subpackage_is_entered_through_its_init(module: str) -> None:
    mine = _subpackage(module)
    broken = []
    for target in sorted(set(imports_of(module))):
        theirs = _subpackage(target)
        if theirs is not None and theirs != mine and target != theirs:
            broken.append(f"{module} imports {target}: import from {theirs}")
        if target == COMPILED and mine != "sdax._kernels":
            broken.append(f"{module} imports the compiled twin: use sdax._kernels.core")
    assert not broken, "\n".join(broken)


def test_the_pure_twin_imports_nothing_else_of_sdax() -> None:
    twin = [m for m in MODULES if m.startswith("sdax._kernels._core_py")]
    assert twin
    for module in twin:
        others = [t for t in imports_of(module) if not t.startswith("sdax._kernels._core_py")]
        assert not others, (module, others)


def test_the_import_checks_can_fail() -> None:
    # The rules read what they are meant to read: a deep import is seen as one.
    assert layer_of("sdax._engine._run") == "_engine"
    assert _subpackage("sdax._build._plan") == "sdax._build"
    assert _subpackage("sdax._build") == "sdax._build"
    assert _subpackage("sdax.sdax_core") is None
    seen = set(imports_of("sdax.sdax_core"))
    assert seen and all(t in MODULES or t == COMPILED for t in seen), seen


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for source, target in _edges():
        if target in graph:
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


# -- faces: re-exports only, and the home of what they show -------------------------------

FACES = sorted(m for m in MODULES if layer_of(m) == "face" and m.split(".")[-1][0] != "_")


def _is_fixup_call(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value) == "fixup_module_metadata(__name__, globals())"
    )


@pytest.mark.parametrize("module", FACES)
def test_a_face_only_re_exports_and_ends_with_its_fixup(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    assert body and _is_fixup_call(body[-1]), f"{module} must end with its fixup call"
    for node in body[:-1]:
        if isinstance(node, ast.ImportFrom):
            # ``X as X``: an explicit re-export (what type checkers and ruff read as one).
            bad = [a.name for a in node.names if node.module != "__future__" and a.asname != a.name]
            if node.module == "sdax._public":
                bad = []
            assert not bad, f"{module}: re-export {bad} as themselves"
        else:
            assert isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__", (
                f"{module} holds code: {ast.unparse(node)[:60]}"
            )


def test_every_face_is_checked() -> None:
    assert {"sdax", "sdax.sdax_core", "sdax.tasks", "sdax.observe"} <= set(FACES)
    assert not any(layer_of(m) != "face" for m in FACES)


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
