"""Measure the shapes with whatever ``sdax`` this interpreter imports; print one JSON object.

Meant for another interpreter, the reference package's venv for instance::

    /tmp/refvenv/bin/python bench/reference.py --rounds 15

It times every runtime shape (and the build series it is asked for) beside the
raw-asyncio baselines measured in the same process. ``report.py --reference``
runs it and adds its figures to the report. Only ``bench/shapes.py`` and
``bench/timing.py`` are imported from this repository: the standard library and
the public API that sdax 0.7.1 and this package share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.shapes import FAMILIES, make_tasks, parse_build_specs
from bench.timing import CLOCKS, measure_groups, median, time_build


def _sdax_version(sdax: ModuleType) -> str:
    try:
        from importlib.metadata import version

        return version("sdax")
    except Exception:  # any failure just means "unknown"
        return str(getattr(sdax, "__version__", "unknown"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The script's flags."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--build",
        default="",
        help="build shapes as family:tasks:rounds,... (families: random, chain, fan)",
    )
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="cpu (default) or wall time"
    )
    parser.add_argument(
        "--build-budget",
        type=float,
        default=60.0,
        help="skip the larger builds of a family once one round took this many seconds",
    )
    return parser.parse_args(argv)


def measure_runtime(
    sdax: ModuleType, args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Every runtime group, baselines and cases interleaved: seconds per run by key."""
    runtime = {}
    loop = asyncio.new_event_loop()
    try:
        clock = CLOCKS[args.clock]
        for group_key, times in measure_groups(sdax, loop, args.rounds, args.warmup, clock):
            runtime[group_key] = times
            print(f"measured {group_key}", file=sys.stderr, flush=True)
    finally:
        loop.close()
    return runtime


def measure_build(sdax: ModuleType, args: argparse.Namespace) -> dict[str, list[float] | None]:
    """Seconds per build of each asked-for graph; ``None`` once its family went over budget."""
    build: dict[str, list[float] | None] = {}
    over_budget: set[str] = set()
    for family, n, rounds in parse_build_specs(args.build):
        key = f"{family}:{n}"
        if family in over_budget:
            build[key] = None
            continue
        deps = FAMILIES[family](n)
        tasks = make_tasks(sdax, deps)
        build_times = time_build(sdax, tasks, deps, rounds, clock=CLOCKS[args.clock])
        build[key] = build_times
        print(f"built {key}: {median(build_times):.3f} s", file=sys.stderr, flush=True)
        if max(build_times) > args.build_budget:
            over_budget.add(family)
    return build


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the shapes with the ``sdax`` this interpreter imports; print JSON."""
    args = parse_args(argv)

    import sdax

    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "sdax_version": _sdax_version(sdax),
        "sdax_file": sdax.__file__,
        "implementation": str(getattr(sdax, "IMPLEMENTATION", "n/a")),
        "rounds": args.rounds,
        "clock": args.clock,
        "runtime": measure_runtime(sdax, args),
    }
    result["build"] = measure_build(sdax, args)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
