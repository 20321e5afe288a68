"""Differential tests: both twins of the integer core, on the same random graphs.

Each seed makes one graph (chains, fan-outs, joins, joins sharing one set,
layers, wide joins or random DAGs; mixed phase flags with phase-less join
nodes; sometimes cycles; up to a few thousand nodes), names its nodes
(strings, ints, tuples; dependencies given by the same objects or by equal
copies; sometimes an unknown name), runs every kernel on both twins and
asserts the results are identical, errors included. Then it drives one
``RunState`` per twin in lockstep through a random run (successes, a failure
that stops the pre phase, unstarted nodes, runs carried on from pickled
copies, cleanup in random completion order, and in some seeds deliberate
misuse) and asserts every answer is the same.
"""

from __future__ import annotations

import itertools
import pickle
import random
from array import array
from types import ModuleType
from typing import Any

import pytest
from _support import PHASE_BITS, Deps, csr, outcome, random_core_graph, sets_of

from sdax._kernels import _core_py

PRE, EXEC, POST = PHASE_BITS
SEEDS = range(520)  # graphs from _support.random_core_graph


# -- comparing -------------------------------------------------------------------


def same(name: str, pure: ModuleType, compiled: ModuleType, *args: Any) -> Any:
    """Call ``name`` on both twins; assert identical outcomes; return the result."""
    expected = outcome(getattr(pure, name), *args)
    got = outcome(getattr(compiled, name), *args)
    assert got == expected, name
    if expected[0] == "ok":
        result = expected[1]
        for mine, theirs in zip(_arrays(got[1]), _arrays(result), strict=True):
            assert type(mine) is type(theirs), name
            if isinstance(theirs, array):
                assert mine.typecode == theirs.typecode, name
        return result
    return None


def _names(seed: int, deps: Deps) -> tuple[list[Any], list[Any]]:
    """Names for the nodes of ``deps``, and the dependency groups spelled with names.

    A group holds the very name object or an equal copy of it, as a tuple or a
    list; one seed in eight names an unknown task somewhere.
    """
    rng = random.Random(seed ^ 0x5DA)
    kinds = (lambda v: f"task-{v}", lambda v: v * 7919, lambda v: ("node", v))
    names = [rng.choice(kinds)(v) for v in range(len(deps))]

    def spelled(u: int) -> Any:
        name = names[u]
        if rng.random() < 0.5:
            return name
        if isinstance(name, str):
            return "".join(list(name))  # equal, not the same object
        if isinstance(name, tuple):
            return tuple(list(name))
        return int(str(name))

    groups: list[Any] = []
    for d in deps:
        group = [spelled(u) for u in d]
        groups.append(group if rng.random() < 0.2 else tuple(group))
    if groups and rng.random() < 0.125:
        target = rng.randrange(len(groups))
        group = list(groups[target])
        group.insert(rng.randrange(len(group) + 1), "no such task")
        groups[target] = tuple(group)
    return names, groups


def _arrays(result: Any) -> tuple[Any, ...]:
    return result if isinstance(result, tuple) else (result,)


def _check_cycle(path: list[int], deps: Deps) -> None:
    assert len(path) >= 2 and path[0] == path[-1]
    assert len(set(path[:-1])) == len(path) - 1
    for a, b in itertools.pairwise(path):
        assert b in deps[a]


# -- the kernels -----------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_kernels_agree(compiled_core: ModuleType, seed: int) -> None:
    kind, deps, flags = random_core_graph(seed)
    pure, comp = _core_py, compiled_core
    n = len(deps)
    pp, pi = csr(deps)
    names, groups = _names(seed, deps)
    resolved = same("resolve_names", pure, comp, names, groups)
    if resolved is not None:
        assert resolved == (pp, pi)
    # Phase entries as a build has them: a few objects shared by many nodes.
    shared = [object() for _ in range(3)]
    entries = [
        [shared[v % 3] if flag & bit else None for v, flag in enumerate(flags)]
        for bit in (PRE, EXEC, POST)
    ]
    assert same("phase_flags", pure, comp, *entries) == flags
    for bit in (PRE, EXEC, POST):
        same("nodes_with", pure, comp, flags, bit)
    seen: dict[str, list[object]] = {"pure": [], "compiled": []}
    made = [
        twin.memo_map(lambda x, log=seen[label]: log.append(x) or len(log), entries[0] + entries[2])
        for label, twin in (("pure", pure), ("compiled", comp))
    ]
    assert made[0] == made[1] and seen["pure"] == seen["compiled"]
    sp, si = same("successors", pure, comp, n, pp, pi)
    order = same("topological_order", pure, comp, n, pp, sp, si)
    cycle = same("find_cycle", pure, comp, n, pp, pi)
    if len(order) < n:
        assert "cycle" in kind
        _check_cycle(cycle, deps)
    else:
        assert cycle == []
        assert sorted(order) == list(range(n))
    forward = same("forward_order", pure, comp, n, pp, pi)
    if forward is not None:
        assert all(u < v for v, d in enumerate(deps) for u in d)
        assert list(forward) == list(range(n))
        # Plan walks this order when it has it: same sets, same levels.
        for twin in (pure, comp):
            by_kahn = twin.effective_sets(n, order, pp, pi, flags, PRE)
            by_index = twin.effective_sets(n, forward, pp, pi, flags, PRE)
            assert sets_of(*by_kahn) == sets_of(*by_index)
            assert twin.post_levels(order, sp, si, flags) == twin.post_levels(
                forward, sp, si, flags
            )
    # On a cyclic graph the order is partial; both twins still agree on it.
    pre_sets = same("effective_sets", pure, comp, n, order, pp, pi, flags, PRE)
    same("effective_sets", pure, comp, n, order, pp, pi, flags, EXEC)
    same("pre_waves", pure, comp, order, flags, pre_sets[0])
    level_of, levels = same("post_levels", pure, comp, order, sp, si, flags)
    reverse = array("i", reversed(order))
    post_sets = same("effective_sets", pure, comp, n, reverse, sp, si, flags, POST)
    same("group_unions", pure, comp, level_of, levels, *post_sets)
    wave_of, wave_set = same("pre_waves", pure, comp, order, flags, pre_sets[0])
    same("group_unions", pure, comp, wave_of, len(wave_set), *pre_sets)


# -- runs ------------------------------------------------------------------------


class Lockstep:
    """One RunState per twin, driven by the same calls; every answer compared."""

    def __init__(self, graphs: tuple[Any, Any]) -> None:
        self.runs = (graphs[0].run(), graphs[1].run())

    def fill(self, method: str, *args: Any) -> list[int]:
        """Call a method that appends to a ready list; return that list."""
        answers = []
        for run in self.runs:
            ready: list[int] = []
            answers.append((outcome(getattr(run, method), *args, ready), ready))
        assert answers[0] == answers[1], (method, args)
        return answers[0][1]

    def clone(self) -> None:
        """Go on with pickled copies of both runs."""
        self.runs = (
            pickle.loads(pickle.dumps(self.runs[0])),
            pickle.loads(pickle.dumps(self.runs[1])),
        )

    def ask(self, method: str, *args: Any) -> Any:
        """Call any other method; return its outcome."""
        answers = [outcome(getattr(run, method), *args) for run in self.runs]
        assert answers[0] == answers[1], (method, args)
        return answers[0]


def _misuse(rng: random.Random, step: Lockstep, n: int) -> None:
    node: Any = rng.choice(
        [rng.randrange(-n - 2, n + 2), n, -n - 1, True, False, 2**64, 3.0, "1", None]
    )
    method = rng.choice(["pre_done", "post_done", "unstart", "started", "completed"])
    if method in ("pre_done", "post_done"):
        step.fill(method, node)
    else:
        step.ask(method, node)


@pytest.mark.parametrize("seed", SEEDS)
def test_runs_agree(compiled_core: ModuleType, seed: int) -> None:
    _, deps, flags = random_core_graph(seed)
    n = len(deps)
    pp, pi = csr(deps)
    sp, si = _core_py.successors(n, pp, pi)
    graphs = (_core_py.Graph(pp, pi, sp, si, flags), compiled_core.Graph(pp, pi, sp, si, flags))
    assert graphs[0].size == graphs[1].size == n
    rng = random.Random(seed * 7919 + 1)
    misuse = n > 0 and rng.random() < 0.25
    step = Lockstep(graphs)

    pending = step.fill("pre_begin")
    step.fill("pre_begin")  # twice: the same error, or (nothing reached) nothing
    while pending:
        node = pending.pop(rng.randrange(len(pending)))
        roll = rng.random()
        if misuse and roll < 0.05:
            _misuse(rng, step, n)
        if roll < 0.9:
            pending.extend(step.fill("pre_done", node))
        elif roll < 0.91:
            step.clone()
            pending.append(node)
        elif roll < 0.95:
            step.ask("started", rng.randrange(n))
            step.ask("completed", rng.randrange(n))
            pending.append(node)
        else:
            # A failure: ``node`` was called and failed; stop the pre phase. The
            # nodes handed out and not called yet are taken back, the others
            # (running, then cancelled) stay started.
            for other in pending:
                if rng.random() < 0.5:
                    step.ask("unstart", other)
            break
    for v in range(n):
        step.ask("started", v)
        step.ask("completed", v)

    pending = step.fill("post_begin")
    while pending:
        node = pending.pop(rng.randrange(len(pending)))
        if misuse and rng.random() < 0.05:
            _misuse(rng, step, n)
        pending.extend(step.fill("post_done", node))
    if misuse:
        for _ in range(20):
            _misuse(rng, step, n)
        step.fill("post_begin")
        step.fill("pre_begin")
