"""The integer core's build kernels: compiled twin against pure twin.

Times what a processor's build asks of the core (the calls ``sdax._plan.Plan``
makes: ``resolve_names`` for task names ``"t0"``, ``"t1"``, ...,
``memo_map``, ``phase_flags`` and ``nodes_with`` for phase entries shared by
many tasks, ``successors``, ``topological_order``, ``forward_order``,
``effective_sets`` for the pre phase, ``pre_waves``, ``post_levels`` and the
``Graph``), kernel by kernel and as one pipeline, on a seeded random DAG; plus
one run's ready-set bookkeeping (``RunState`` through a whole successful run),
on that graph and, a thousand times over, on a 50-node one. Both twins get the
same arrays, and their results are checked equal before anything is timed.
Times are process CPU time by default (steadier on a shared machine; ``--clock
wall`` for wall time).

As a script (from the repository root, with this sdax installed)::

    python bench/bench_core_kernels.py                  # 100,000 nodes
    python bench/bench_core_kernels.py --nodes 1000000 --rounds 1
    python bench/bench_core_kernels.py --shape wide_join
    python bench/bench_core_kernels.py --ordered        # node numbers not shuffled
    python bench/bench_core_kernels.py --compiled-only --nodes 1000000 --rounds 3

Under pytest (``python -m pytest bench/bench_core_kernels.py --benchmark-only``)
the pipeline is one pytest-benchmark case per twin, on 100,000 nodes.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
from array import array
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cores import CORES, CoreUnavailable, complete_run, core_module
from bench.timing import CLOCKS

PRE, EXEC, POST = 1, 2, 4
SMALL_NODES = 50
SMALL_RUNS = 1000

Graph = tuple[int, "array[int]", "array[int]", bytes]


def random_dag(n: int, seed: int = 1, shuffle: bool = True, deps_per_node: float = 4.0) -> Graph:
    """A random DAG in predecessor-CSR form, with mixed phase flags.

    Each node depends on about ``deps_per_node`` uniformly chosen earlier nodes;
    node numbers are then shuffled (unless ``shuffle`` is false) so that index
    order is not a topological order and the kernels' memory accesses scatter.
    One node in ten with several dependencies is a phase-less join; the others
    have a pre phase with probability 0.9, an execute phase 0.5 and a post phase
    0.8.
    """
    rng = random.Random(seed)
    top = int(2 * deps_per_node)
    deps: list[list[int]] = [[]]
    for v in range(1, n):
        deps.append([rng.randrange(v) for _ in range(rng.randint(0, min(top, v)))])
    flags = bytearray(n)
    for v in range(n):
        if len(deps[v]) > 1 and rng.random() < 0.1:
            continue
        flags[v] = (
            (PRE if rng.random() < 0.9 else 0)
            | (EXEC if rng.random() < 0.5 else 0)
            | (POST if rng.random() < 0.8 else 0)
        )
    return _relabel(rng, deps, flags, shuffle)


def wide_join(n: int, seed: int = 1, shuffle: bool = True) -> Graph:
    """Half the nodes feed one phase-less join; the other half depend on it."""
    rng = random.Random(seed)
    hub = n // 2
    deps: list[list[int]] = [[] for _ in range(n)]
    deps[hub] = list(range(hub))
    for v in range(hub + 1, n):
        deps[v] = [hub]
    flags = bytearray([PRE | EXEC | POST]) * n
    flags[hub] = 0
    return _relabel(rng, deps, flags, shuffle)


def _relabel(rng: random.Random, deps: list[list[int]], flags: bytearray, shuffle: bool) -> Graph:
    n = len(deps)
    perm = list(range(n))
    if shuffle:
        rng.shuffle(perm)
    new_deps: list[list[int]] = [[] for _ in range(n)]
    new_flags = bytearray(n)
    for v in range(n):
        new_deps[perm[v]] = [perm[u] for u in deps[v]]
        new_flags[perm[v]] = flags[v]
    ptr = array("i", [0])
    idx = array("i")
    for d in new_deps:
        idx.extend(d)
        ptr.append(len(idx))
    return n, ptr, idx, bytes(new_flags)


SHAPES: dict[str, Callable[[int, int, bool], Graph]] = {
    "random": random_dag,
    "wide_join": wide_join,
}


Named = tuple[list[str], list[tuple[str, ...]], list[object | None]]
_NAMED: dict[int, Named] = {}


def named(graph: Graph) -> Named:
    """What a build starts from: task names, dependencies by name, phase entries.

    The phase entries are the pre, execute and post entries of every node, one
    after the other, each one of three shared objects or None (as in ``Plan``).
    """
    key = id(graph)
    if key not in _NAMED:
        n, pp, pi, flags = graph
        names = [f"t{v}" for v in range(n)]
        groups = [tuple(names[u] for u in pi[pp[v] : pp[v + 1]]) for v in range(n)]
        shared = (object(), object(), object())
        entries = [
            shared[k] if flags[v] & bit else None
            for k, bit in enumerate((PRE, EXEC, POST))
            for v in range(n)
        ]
        _NAMED[key] = (names, groups, entries)
    return _NAMED[key]


def _spec(entry: object | None) -> tuple[object] | None:
    return None if entry is None else (entry,)


def pipeline(core: Any, graph: Graph) -> dict[str, Any]:
    """The core calls of one processor build; returns every result by kernel."""
    n, pp, pi, flags = graph
    names, groups, entries = named(graph)
    resolved = core.resolve_names(names, groups)
    specs = [core.memo_map(_spec, entries[i * n : (i + 1) * n]) for i in range(3)]
    phase_flags = core.phase_flags(*specs)
    executes = core.nodes_with(phase_flags, EXEC)
    sp, si = core.successors(n, pp, pi)
    order = core.topological_order(n, pp, sp, si)
    if len(order) != n:
        raise ValueError("the benchmark graph has a cycle")
    walk = core.forward_order(n, pp, pi)  # None unless the numbering is a topological order
    if walk is None:
        walk = order
    sets = core.effective_sets(n, walk, pp, pi, flags, PRE)
    waves = core.pre_waves(order, flags, sets[0])
    levels = core.post_levels(walk, sp, si, flags)
    core.Graph(pp, pi, sp, si, flags)
    return {
        "resolve_names": resolved,
        "phase_flags": phase_flags,
        "nodes_with": executes,
        "successors": (sp, si),
        "topological_order": order,
        "effective_sets": sets,
        "pre_waves": waves,
        "post_levels": levels,
    }


def stages(core: Any, graph: Graph) -> dict[str, Callable[[], object]]:
    """Each kernel of the pipeline as a call on precomputed inputs."""
    n, pp, pi, flags = graph
    sp, si = core.successors(n, pp, pi)
    order = core.topological_order(n, pp, sp, si)
    set_of = core.effective_sets(n, order, pp, pi, flags, PRE)[0]
    the_graph = core.Graph(pp, pi, sp, si, flags)
    names, groups, entries = named(graph)
    specs = core.memo_map(_spec, entries)
    sn, spp, spi, sfl = random_dag(SMALL_NODES, 2)
    ssp, ssi = core.successors(sn, spp, spi)
    small = core.Graph(spp, spi, ssp, ssi, sfl)
    return {
        "resolve_names": lambda: core.resolve_names(names, groups),
        "memo_map": lambda: core.memo_map(_spec, entries),
        "phase_flags": lambda: core.phase_flags(specs[:n], specs[n : 2 * n], specs[2 * n :]),
        "nodes_with": lambda: core.nodes_with(flags, EXEC),
        "successors": lambda: core.successors(n, pp, pi),
        "forward_order": lambda: core.forward_order(n, pp, pi),
        "topological_order": lambda: core.topological_order(n, pp, sp, si),
        "effective_sets": lambda: core.effective_sets(n, order, pp, pi, flags, PRE),
        "pre_waves": lambda: core.pre_waves(order, flags, set_of),
        "post_levels": lambda: core.post_levels(order, sp, si, flags),
        "Graph": lambda: core.Graph(pp, pi, sp, si, flags),
        "pipeline": lambda: pipeline(core, graph),
        "one run (RunState)": lambda: complete_run(the_graph),
        f"{SMALL_RUNS} runs, {SMALL_NODES} nodes": lambda: small_runs(small),
    }


def small_runs(graph: Any) -> None:
    """Many runs of a small graph: the per-call cost, as a processor sees it."""
    for _ in range(SMALL_RUNS):
        complete_run(graph)


def timed(fn: Callable[[], object], rounds: int, clock: Callable[[], float]) -> float:
    """Median time of ``rounds`` calls, garbage collector off while timing."""
    times = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            start = clock()
            fn()
            times.append(clock() - start)
        finally:
            gc.enable()
    return statistics.median(times)


def load(label: str) -> ModuleType | None:
    """The twin called ``label``, or None when it is not built."""
    try:
        return core_module(label)
    except CoreUnavailable:
        return None


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:10.2f} ms"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The script's flags."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="random")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds per kernel; each times the pure twin once and the compiled one "
        "--compiled-calls times, back to back, and yields one speedup",
    )
    parser.add_argument("--compiled-calls", type=int, default=5)
    parser.add_argument("--compiled-only", action="store_true")
    parser.add_argument(
        "--ordered",
        action="store_true",
        help="keep node numbers in declaration order (no shuffle): friendlier to caches",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="process CPU time (default: steadier on a shared machine) or wall time",
    )
    return parser.parse_args(argv)


def compare(
    ours: dict[str, Callable[[], object]],
    theirs: dict[str, Callable[[], object]],
    args: argparse.Namespace,
) -> None:
    """Print each kernel's medians, the compiled twin's and the pure one's, and the speedup."""
    clock = CLOCKS[args.clock]
    print(f"{'kernel':<20} {'pure':>13} {'compiled':>13} {'speedup':>9}")
    for name, fn in ours.items():
        # Interleaved rounds: a load change on a shared machine hits both twins.
        pure_times, compiled_times, ratios = [], [], []
        for _ in range(args.rounds):
            t_c = timed(fn, args.compiled_calls, clock)
            compiled_times.append(t_c)
            if name in theirs:
                t_p = timed(theirs[name], 1, clock)
                pure_times.append(t_p)
                ratios.append(t_p / t_c)
        t_c = statistics.median(compiled_times)
        if ratios:
            t_p = statistics.median(pure_times)
            ratio = statistics.median(ratios)
            print(f"{name:<20} {_fmt(t_p)} {_fmt(t_c)} {ratio:8.1f}x", flush=True)
        else:
            print(f"{name:<20} {'':>13} {_fmt(t_c)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Print per-kernel medians for both twins and the compiled speedup."""
    args = parse_args(argv)
    pure = None if args.compiled_only else load("pure")
    compiled = load("compiled")
    if compiled is None:
        print("the compiled core (sdax._core) is not built: nothing to compare", file=sys.stderr)
        return 1
    order = "declaration order" if args.ordered else "shuffled numbers"
    print(f"building the {args.shape} graph of {args.nodes:,} nodes ({order}) ...", flush=True)
    graph = SHAPES[args.shape](args.nodes, args.seed, not args.ordered)
    edges = len(graph[2])
    print(
        f"{args.nodes:,} nodes, {edges:,} edges; python {sys.version.split()[0]}; "
        f"{args.clock} time; medians of {args.rounds} rounds (speedup: median of the "
        "per-round ratios, each round timing both twins back to back)"
    )
    if pure is not None:
        results = pipeline(compiled, graph)
        if results != pipeline(pure, graph) or results["resolve_names"] != graph[1:3]:
            print("the twins disagree on this graph", file=sys.stderr)
            return 1
        print("both twins give identical results\n")
    compare(stages(compiled, graph), stages(pure, graph) if pure is not None else {}, args)
    return 0


# -- pytest-benchmark cases --------------------------------------------------------

_CACHE: dict[int, Graph] = {}


@pytest.mark.parametrize("label", ["pure", "compiled"])
def test_core_pipeline_100k(benchmark: Any, label: str) -> None:
    """One processor build's core calls on a 100,000-node random DAG."""
    core = load(label)
    if core is None:
        pytest.skip(f"{CORES[label]} is not built")
    graph = _CACHE.setdefault(100_000, random_dag(100_000))
    benchmark.group = "core kernels: build pipeline, 100,000 nodes"
    benchmark.pedantic(pipeline, args=(core, graph), rounds=3 if label == "pure" else 10)


if __name__ == "__main__":
    sys.exit(main())
