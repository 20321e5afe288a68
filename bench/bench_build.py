"""Build benchmarks: ``builder()``, every ``add_task`` and ``build()``, end to end.

Every task has all three phases; the task objects and dependency lists are made
before timing. The 1,000,000-task graph is opt-in (``--bench-million`` or
``SDAX_BENCH_MILLION=1``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest

import sdax
from bench.conftest import million_enabled
from bench.cores import built_with
from bench.shapes import BuildShape, Deps, build_graph, build_shapes, make_tasks

SHAPES = build_shapes(million=True)

GraphCache = Callable[[BuildShape], tuple[Deps, list[Any]]]


@pytest.fixture(scope="module")
def graphs() -> GraphCache:
    """Dependency lists and tasks per shape, made once per module (one at a time)."""
    cache: dict[str, tuple[Deps, list[Any]]] = {}

    def get(shape: BuildShape) -> tuple[Deps, list[Any]]:
        if shape.key not in cache:
            cache.clear()
            gc.collect()
            deps = shape.make()
            cache[shape.key] = (deps, make_tasks(sdax, deps))
        return cache[shape.key]

    return get


@pytest.mark.parametrize("shape", SHAPES, ids=[s.key for s in SHAPES])
def test_build(
    benchmark: Any, pytestconfig: pytest.Config, graphs: GraphCache, core: str, shape: BuildShape
) -> None:
    if shape.tasks >= 1_000_000 and not million_enabled(pytestconfig):
        pytest.skip("the 1,000,000-task build is opt-in: --bench-million or SDAX_BENCH_MILLION=1")
    deps, tasks = graphs(shape)
    benchmark.group = f"build {shape.key}"
    benchmark.extra_info.update(core=core, tasks=shape.tasks, target_s=shape.target_s)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        gc.collect()
        return (sdax, tasks, deps), {}

    processor = benchmark.pedantic(build_graph, setup=setup, rounds=shape.rounds, iterations=1)
    assert built_with(processor) == core
