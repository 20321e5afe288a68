"""The scripts in ``examples/`` run as a user would run them: ``python examples/<name>.py``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAVE_DASK, reason='needs "distributed" (sdax[dask])')
PRIMES_BELOW_100_000 = 9592


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run one example in a fresh interpreter; return its output (fail on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def without_dask(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import distributed`` fails as if it were not installed."""
    fake = tmp_path / "no-dask" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'distributed\'", name="distributed")\n'
    )
    path = os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_rate_limited_fanout_never_exceeds_its_limits() -> None:
    out = run_example("rate_limited_fanout.py")
    api_peak = re.search(r"peak API calls in flight: (\d+) \(CapacityLimit 'api': (\d+)\)", out)
    run_peak = re.search(r"peak calls in flight per run: (\d+) \(max (\d+)\)", out)
    assert api_peak is not None and run_peak is not None, out
    assert int(api_peak[1]) <= int(api_peak[2])
    assert int(run_peak[1]) <= int(run_peak[2])
    assert "50 results" in out
    assert "slots in use after the runs: 0" in out


def test_cpu_heavy_step_runs_on_a_process_pool() -> None:
    out = run_example("cpu_heavy_step.py")
    assert f"process pool: {PRIMES_BELOW_100_000} primes below 100,000" in out


@needs_dask
def test_cpu_heavy_step_runs_on_a_local_dask_cluster() -> None:
    out = run_example("cpu_heavy_step.py", "--dask")
    assert f"Dask (local cluster, 1 worker process): {PRIMES_BELOW_100_000} primes" in out


@pytest.fixture
def scheduler_address() -> Iterator[str]:
    """A Dask cluster listening on the loopback interface, standing in for a remote one."""
    distributed: Any = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        processes=False,
        n_workers=1,
        threads_per_worker=2,
        protocol="tcp://",
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=":0",
    ) as cluster:
        yield cluster.scheduler_address


@needs_dask
def test_cpu_heavy_step_runs_on_a_cluster_given_by_address(scheduler_address: str) -> None:
    assert scheduler_address.startswith("tcp://127.0.0.1:")
    out = run_example("cpu_heavy_step.py", "--dask", scheduler_address)
    assert f"Dask at {scheduler_address}: {PRIMES_BELOW_100_000} primes" in out


def test_the_dask_example_falls_back_to_a_process_pool_without_dask(tmp_path: Path) -> None:
    out = run_example("cpu_heavy_step.py", "--dask", env=without_dask(tmp_path))
    assert 'Dask is not installed (pip install "sdax[dask]")' in out
    assert f"process pool: {PRIMES_BELOW_100_000} primes" in out
