"""pytest setup for the benchmarks under ``bench/``.

Run them with::

    python -m pytest bench/ --benchmark-only --benchmark-group-by=group

The root configuration collects ``tests/`` only (``testpaths``), so a plain
``pytest`` never runs these. Benchmark modules are named ``bench_*.py``; the
hook below collects them (the root ``python_files`` setting is left alone).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sdax
from bench import shapes
from bench.cores import built_with, unavailable_reason, using_core

MILLION_ENV = "SDAX_BENCH_MILLION"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The benchmarks' own options: ``--bench-million`` and ``--bench-rounds``."""
    group = parser.getgroup("sdax-bench", "sdax benchmarks")
    group.addoption(
        "--bench-million",
        action="store_true",
        default=False,
        help=f"also build the 1,000,000-task graph (slow in pure mode; or set {MILLION_ENV}=1)",
    )
    group.addoption(
        "--bench-rounds",
        type=int,
        default=None,
        help="timed rounds of every runtime benchmark (default: per group)",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py`` as test modules (the root ``python_files`` stays as it is)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def million_enabled(config: pytest.Config) -> bool:
    """Whether the 1,000,000-task build was asked for."""
    env = os.environ.get(MILLION_ENV, "").strip()
    return bool(config.getoption("--bench-million")) or env not in ("", "0")


@pytest.fixture
def bench_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per benchmark, made before timing starts."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(params=["pure", "compiled"])
def core(request: pytest.FixtureRequest) -> Iterator[str]:
    """The integer core under test ("pure" or "compiled"), active for the whole test.

    Skips when the twin cannot be imported (the compiled core not built yet).
    """
    label: str = request.param
    reason = unavailable_reason(label)
    if reason is not None:
        pytest.skip(reason)
    with using_core(label):
        probe: Any = shapes.level_processor(sdax, 1, 2, shapes.PHASES3, shapes.zero_work)
        if built_with(probe) != label:
            pytest.fail(
                f"could not switch sdax to the {label} core in-process (see bench/cores.py)"
            )
        yield label
