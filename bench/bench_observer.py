"""Observer overhead: a 1,000-task three-phase run with and without observers.

Cases (one processor, built once, zero-work phase functions):

- ``none``: no observer attached (the path every unobserved run takes);
- ``empty``: a ``RunObserver`` subclass that overrides nothing, for this run;
- ``report``: a ``sdax.report.RunReport``, for this run.

As pytest benchmarks (group ``observer-overhead``, both cores)::

    python -m pytest bench/ -k observer_overhead --benchmark-only --benchmark-group-by=group

As a script, the cases timed interleaved in one process, medians and ratios::

    python bench/bench_observer.py [--rounds 40] [--clock cpu|wall]

(``--clock cpu``, the default, times this process's CPU time, which other load
on the machine hardly disturbs; ``wall`` is elapsed time.)

The zero-cost promise of the observer hooks compares ``none`` with a build that
had no hooks at all. Give that build's source directory (for instance ``git
archive <commit> src`` unpacked somewhere) and the script alternates
subprocesses of both builds, timing ``none`` in each, and prints both medians
and their ratio::

    python bench/bench_observer.py --against /tmp/prehook/src --sessions 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest

import sdax
from bench import shapes, timing

GROUP = "observer-overhead"
CASES = ("none", "empty", "report")
ROUNDS = 40
WARMUP = 3


def _processor() -> Any:
    return shapes.level_processor(sdax, 1, shapes.N_TASKS, shapes.PHASES3, shapes.zero_work)


def make_runner(case: str, processor: Any) -> shapes.Runner:
    """One ``process_tasks`` per call, with the case's observer (a new one each run)."""
    if case == "none":
        return shapes.single_run(processor)
    # Imported here so that ``--cases none`` also runs on a build without observers.
    from sdax.observe import RunObserver

    if case == "empty":

        class Empty(RunObserver):
            """Overrides nothing: every hook is the base class's no-op."""

        factory: Callable[[], RunObserver] = Empty
    elif case == "report":
        from sdax.report import RunReport

        factory = RunReport
    else:
        raise ValueError(f"unknown case {case!r} (known: {', '.join(CASES)})")

    async def run() -> None:
        await processor.process_tasks(shapes.Ctx(), observer=factory())

    return run


@pytest.mark.parametrize("case", CASES)
def test_observer_overhead(
    benchmark: Any,
    pytestconfig: pytest.Config,
    bench_loop: asyncio.AbstractEventLoop,
    core: str,
    case: str,
) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["case"] = case
    benchmark.extra_info["core"] = core
    runner = make_runner(case, _processor())
    timing.time_runs(benchmark, pytestconfig, bench_loop, runner, ROUNDS, WARMUP)


# -- script ------------------------------------------------------------------------------


def measure(
    cases: Sequence[str], rounds: int, warmup: int = WARMUP, clock: str = "cpu"
) -> dict[str, list[float]]:
    """Seconds per run of each case, timed interleaved (see ``timing.time_interleaved``).

    ``clock`` is a key of ``timing.CLOCKS``: ``"cpu"`` (this process's CPU
    time, robust to other load on the machine) or ``"wall"``.
    """
    processor = _processor()
    loop = asyncio.new_event_loop()
    try:
        runners = {case: (make_runner(case, processor), nullcontext) for case in cases}
        return timing.time_interleaved(loop, runners, rounds, warmup, timing.CLOCKS[clock])
    finally:
        loop.close()


def _table(times: dict[str, list[float]]) -> str:
    base = timing.median(times["none"]) if "none" in times else None
    lines = ["case     median us     min us   vs none", "-------  ---------  ---------  -------"]
    for case, values in times.items():
        med = timing.median(values)
        ratio = "" if base is None else f"{med / base:7.3f}"
        lines.append(f"{case:<7}  {med * 1e6:9.1f}  {min(values) * 1e6:9.1f}  {ratio}")
    return "\n".join(lines)


def _against(other_src: str, sessions: int, rounds: int, clock: str) -> str:
    """Alternate subprocesses of this build and another one, timing ``none`` in each."""
    this_src = str(Path(sdax.__file__).resolve().parent.parent)
    root = str(Path(__file__).resolve().parent.parent)
    builds = {"this": this_src, "other": other_src}
    times: dict[str, list[float]] = {"this": [], "other": []}
    for session in range(sessions):
        order = list(builds) if session % 2 == 0 else list(reversed(builds))
        for label in order:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([builds[label], root]))
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--cases",
                    "none",
                    "--rounds",
                    str(rounds),
                    "--clock",
                    clock,
                    "--json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out)
            times[label].extend(result["times"]["none"])
            print(
                f"session {session + 1}/{sessions}: {label} ({result['sdax_file']})",
                file=sys.stderr,
                flush=True,
            )
    this, other = timing.median(times["this"]), timing.median(times["other"])
    this_min, other_min = min(times["this"]), min(times["other"])
    return (
        f"no observer, {len(times['this'])} runs each ({sessions} alternating sessions, "
        f"{clock} clock):\n"
        f"  this build   median {this * 1e6:9.1f} us  min {this_min * 1e6:9.1f} us"
        f"  ({this_src})\n"
        f"  other build  median {other * 1e6:9.1f} us  min {other_min * 1e6:9.1f} us"
        f"  ({other_src})\n"
        f"  this / other: median {this / other:.3f}, min {this_min / other_min:.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Time the cases (or compare with another build); print a table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds per case")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--json", action="store_true", help="print the raw times as JSON")
    parser.add_argument(
        "--against", metavar="SRC", help="compare 'none' with the sdax under this directory"
    )
    parser.add_argument("--sessions", type=int, default=6, help="subprocess pairs for --against")
    parser.add_argument(
        "--clock",
        choices=sorted(timing.CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (default; robust to other load), or wall time",
    )
    args = parser.parse_args(argv)
    if args.against:
        print(_against(args.against, args.sessions, args.rounds, args.clock))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    times = measure(cases, args.rounds, clock=args.clock)
    if args.json:
        json.dump({"sdax_file": sdax.__file__, "times": times}, sys.stdout)
        print()
    else:
        print(
            f"sdax {sdax.__version__} ({sdax.IMPLEMENTATION} core), "
            f"{shapes.N_TASKS} tasks x 3 phases, {args.rounds} rounds, {args.clock} clock"
        )
        print(_table(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
