"""Print the sdax benchmark table (Markdown): raw asyncio, pure core, compiled core.

Usage (from the repository root, in a venv where this sdax is installed)::

    python bench/report.py                 # full run, a few minutes
    python bench/report.py --quick         # smoke run, well under a minute
    python bench/report.py --reference /tmp/refvenv/bin/python   # add sdax 0.7.1
    python -m bench --million              # include the 1,000,000-task build

This file only reads the flags and runs the steps in order: ``bench/measure.py``
and ``bench/memory.py`` measure, ``bench/render.py`` turns the figures into the
tables, whose ratios to the raw-asyncio baselines are what the performance
targets are about.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import shapes, timing
from bench.cores import CORES, unavailable_reason
from bench.machine import load_average, run_info
from bench.measure import (
    Report,
    extra_build_shapes,
    measure_build,
    measure_primitives,
    measure_runtime,
    progress,
    reference_build_specs,
    run_reference,
)
from bench.memory import measure_memory
from bench.render import render


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The report's flags."""
    parser = argparse.ArgumentParser(
        description="Benchmark sdax (raw asyncio vs pure vs compiled core); print Markdown."
    )
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per runtime case")
    parser.add_argument("--reference", metavar="PYTHON", help="interpreter of a reference sdax")
    parser.add_argument(
        "--million",
        action="store_true",
        default=os.environ.get("SDAX_BENCH_MILLION", "").strip() not in ("", "0"),
        help="also build 1,000,000 tasks (or SDAX_BENCH_MILLION=1)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(timing.CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (default; robust to other load), or wall time",
    )
    parser.add_argument("--no-runtime", action="store_true", help="skip the runtime shapes")
    parser.add_argument("--no-build", action="store_true", help="skip the build series")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory figures")
    parser.add_argument("--output", type=Path, help="also write the Markdown to this file")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    return parser.parse_args(argv)


def build_series(args: argparse.Namespace) -> list[shapes.BuildShape]:
    """The build shapes to time; with ``--reference``, its smaller sizes first."""
    build = shapes.build_shapes(million=args.million, quick=args.quick)
    if args.reference:
        known = {s.key for s in build}
        extra = extra_build_shapes(reference_build_specs(args.quick))
        build = [s for s in extra if s.key not in known] + build
    return build


def measure_all(args: argparse.Namespace, cores: Sequence[str], report: Report) -> None:
    """Every section the flags ask for, in the report's order, into ``report``."""
    clock = timing.CLOCKS[args.clock]
    rounds, warmup = report.info["rounds"], report.info["warmup"]
    progress("runtime shapes...")
    if not args.no_runtime:
        measure_runtime(cores, rounds, warmup, clock, report)
    if not args.no_build:
        progress("build series...")
        measure_build(cores, build_series(args), clock, report)
    progress("primitive costs...")
    report.primitives = measure_primitives(cores, args.quick, clock)
    if not args.no_memory:
        n = 10_000 if args.quick else 100_000
        progress(f"memory ({n:,} tasks)...")
        for label in cores:
            report.memory[label] = measure_memory(label, n, clock)
    if args.reference:
        progress("reference package...")
        specs = "" if args.no_build else reference_build_specs(args.quick)
        report.reference = run_reference(args.reference, rounds, warmup, specs, args.clock)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the flags ask for, print the Markdown report (and save it if asked)."""
    args = parse_args(argv)
    cores_all = list(CORES)
    unavailable = {label: unavailable_reason(label) for label in cores_all}
    cores = [label for label in cores_all if unavailable[label] is None]
    report = Report()
    report.info = run_info(
        unavailable,
        rounds=args.rounds or (3 if args.quick else 25),
        warmup=1 if args.quick else 2,
        quick=args.quick,
        clock=args.clock,
    )
    started = time.perf_counter()
    measure_all(args, cores, report)
    report.info["load_end"] = load_average()
    report.info["duration_s"] = round(time.perf_counter() - started)
    progress(f"done in {report.info['duration_s']} s")

    text = render(report, cores_all)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.__dict__, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
