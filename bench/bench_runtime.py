"""Runtime benchmarks: each group holds its raw-asyncio baselines and the sdax cases.

One round is one ``loop.run_until_complete(runner())`` on a loop made beforehand;
processors are built before timing. See ``bench/shapes.py`` for the shapes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sdax
from bench.shapes import BASELINES, GROUPS, SDAX_CASES, Runner
from bench.timing import time_runs

ROUNDS = {"concurrency": 15, "concurrency-suspending": 10, "suspending": 30}
DEFAULT_ROUNDS = 50
WARMUP = 3

BASELINE_PARAMS = [
    pytest.param(g.key, key, id=f"{g.key}-{key}") for g in GROUPS for key in g.baselines
]
CASE_PARAMS = [pytest.param(g.key, key, id=f"{g.key}-{key}") for g in GROUPS for key in g.cases]


def _run(
    benchmark: Any,
    config: pytest.Config,
    loop: asyncio.AbstractEventLoop,
    group: str,
    runner: Runner,
) -> None:
    benchmark.group = group
    time_runs(benchmark, config, loop, runner, ROUNDS.get(group, DEFAULT_ROUNDS), WARMUP)


@pytest.mark.parametrize(("group", "key"), BASELINE_PARAMS)
def test_baseline(
    benchmark: Any,
    pytestconfig: pytest.Config,
    bench_loop: asyncio.AbstractEventLoop,
    group: str,
    key: str,
) -> None:
    benchmark.extra_info["case"] = BASELINES[key][0]
    _run(benchmark, pytestconfig, bench_loop, group, BASELINES[key][1]())


@pytest.mark.parametrize(("group", "key"), CASE_PARAMS)
def test_sdax(
    benchmark: Any,
    pytestconfig: pytest.Config,
    bench_loop: asyncio.AbstractEventLoop,
    core: str,
    group: str,
    key: str,
) -> None:
    benchmark.extra_info["case"] = SDAX_CASES[key][0]
    benchmark.extra_info["core"] = core
    _run(benchmark, pytestconfig, bench_loop, group, SDAX_CASES[key][1](sdax))
