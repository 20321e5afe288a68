"""Helpers of the core tests: the twins and the integer inputs of the kernels."""

from __future__ import annotations

import importlib
import os
import random
from array import array
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import pytest

# -- the twins -------------------------------------------------------------------


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to something other than 0."""
    return os.environ.get(name, "").strip() not in ("", "0")


def load_core(kind: str) -> ModuleType:
    """Import one twin: ``"python"`` or ``"cython"``; skip or fail when it is missing."""
    if kind == "python":
        return importlib.import_module("sdax._kernels._core_py")
    try:
        return importlib.import_module("sdax._core")
    except ImportError as exc:
        if env_flag("SDAX_REQUIRE_EXTENSIONS"):
            pytest.fail(
                f"SDAX_REQUIRE_EXTENSIONS=1 but the compiled core cannot be imported: {exc}",
                pytrace=False,
            )
        pytest.skip("the compiled core (sdax._core) is not built")


# -- core inputs -----------------------------------------------------------------

# The core's pre, execute and post bits, spelled out rather than read from the code under test.
PHASE_BITS = (1, 2, 4)
PRE_BIT, EXEC_BIT, POST_BIT = PHASE_BITS

Deps = list[list[int]]


def csr(deps: Sequence[Sequence[int]]) -> tuple[array[int], array[int]]:
    """Predecessor lists as ``(ptr, idx)`` int arrays."""
    ptr = array("i", [0])
    idx = array("i")
    for d in deps:
        idx.extend(d)
        ptr.append(len(idx))
    return ptr, idx


def sets_of(
    set_of: Sequence[int], set_ptr: Sequence[int], set_idx: Sequence[int]
) -> list[list[int]]:
    """Each node's set, spelled out (set ids depend on the walk, sets do not)."""
    return [list(set_idx[set_ptr[s] : set_ptr[s + 1]]) for s in set_of]


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call gives: its result, or the type and words of its error."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def random_dag(rng: random.Random, n: int, fan_in: Sequence[int]) -> Deps:
    """Sorted predecessor lists of ``n`` nodes, each on lower-numbered ones.

    Node ``v`` depends on ``min(v, k)`` distinct earlier nodes, ``k`` drawn from
    ``fan_in``.
    """
    return [sorted(rng.sample(range(v), min(v, rng.choice(fan_in)))) for v in range(n)]


# The generator of random_core_graph.


def _size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.08:
        return rng.randint(0, 3)
    if roll < 0.70:
        return rng.randint(4, 60)
    if roll < 0.92:
        return rng.randint(61, 600)
    return rng.randint(601, 3000)


def _shape(rng: random.Random, n: int) -> tuple[str, Deps]:
    """Predecessor lists where every dependency has a lower index."""
    kind = rng.choice(
        ["chain", "fan_out", "joins", "shared_joins", "layers", "wide_join", "random"]
    )
    deps: Deps = [[] for _ in range(n)]
    if kind == "chain":
        for v in range(1, n):
            if rng.random() < 0.95:
                deps[v].append(v - 1)
    elif kind == "fan_out":
        roots = max(1, n // 50)
        for v in range(roots, n):
            deps[v].append(rng.randrange(min(v, roots + (v - roots) // 4 + 1)))
    elif kind == "joins":
        # Groups of nodes merged by a join node, on which the next group depends.
        v = 0
        previous: list[int] = []
        while v < n:
            width = rng.randint(1, 8)
            group = list(range(v, min(n, v + width)))
            for g in group:
                deps[g].extend(previous)
            v += len(group)
            if v < n:
                deps[v].extend(group)
                previous = [v]
                v += 1
    elif kind == "shared_joins":
        # Several joins over the same group (equal effective sets), and nodes
        # that depend on many of them at once.
        group = list(range(min(n, rng.randint(1, 12))))
        joins = list(range(len(group), min(n, len(group) + rng.randint(1, 10))))
        for j in joins:
            deps[j].extend(group)
        for v in range(len(group) + len(joins), n):
            deps[v].extend(rng.sample(joins, rng.randint(1, len(joins))))
            if rng.random() < 0.3:
                deps[v].append(rng.randrange(v))
    elif kind == "layers":
        width = rng.randint(1, 30)
        for v in range(width, n):
            layer_start = (v // width - 1) * width
            for _ in range(rng.randint(1, 4)):
                deps[v].append(rng.randrange(layer_start, layer_start + width))
    elif kind == "wide_join":
        hub = n // 2
        for v in range(hub + 1, n):
            deps[v].append(hub)
            if rng.random() < 0.1:
                deps[v].append(rng.randrange(hub))
        if n:
            deps[hub].extend(range(hub))
    else:
        for v in range(1, n):
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 4, 5, 6])):
                deps[v].append(rng.randrange(v))
    if n and rng.random() < 0.2:
        # Repeated dependencies are allowed by the core.
        v = rng.randrange(n)
        deps[v].extend(deps[v][:2])
    return kind, deps


def _flags(rng: random.Random, n: int, deps: Deps, kind: str) -> bytes:
    profile = rng.choice(["all", "mixed", "sparse", "none"])
    p_pre, p_exec, p_post = {
        "all": (1.0, 1.0, 1.0),
        "mixed": (0.8, 0.5, 0.7),
        "sparse": (0.5, 0.3, 0.4),
        "none": (0.0, 0.3, 0.0),
    }[profile]
    # Many phase-less nodes make effective sets large; keep big graphs tractable.
    p_join = 0.5 if n <= 600 else 0.15
    out = bytearray(n)
    for v in range(n):
        if len(deps[v]) > 1 and rng.random() < p_join:
            continue  # a join: no phase at all
        bits = 0
        if rng.random() < p_pre:
            bits |= PRE_BIT
        if rng.random() < p_exec:
            bits |= EXEC_BIT
        if rng.random() < p_post:
            bits |= POST_BIT
        out[v] = bits
    if kind == "wide_join" and n:
        out[n // 2] = 0
    if kind == "shared_joins":
        for v in range(n):
            if len(deps[v]) > 1 and rng.random() < 0.8:
                out[v] = 0
    return bytes(out)


def _add_cycle(rng: random.Random, deps: Deps) -> None:
    n = len(deps)
    if rng.random() < 0.2:
        v = rng.randrange(n)
        deps[v].append(v)
        return
    a, b = sorted(rng.sample(range(n), 2))
    # a depends on b, and b on a (it may already, directly or not).
    deps[a].append(b)
    if a not in deps[b]:
        deps[b].append(a)


def _relabel(rng: random.Random, deps: Deps, flags: bytes) -> tuple[Deps, bytes]:
    """The same graph with shuffled node numbers, so index order is not an order."""
    n = len(deps)
    perm = list(range(n))
    rng.shuffle(perm)
    new_deps: Deps = [[] for _ in range(n)]
    new_flags = bytearray(n)
    for v in range(n):
        new_deps[perm[v]] = [perm[u] for u in deps[v]]
        new_flags[perm[v]] = flags[v]
    return new_deps, bytes(new_flags)


def random_core_graph(seed: int) -> tuple[str, Deps, bytes]:
    """One seeded graph for the kernels: its kind, predecessor lists and phase bits.

    Kinds: chains, fan-outs, joins, joins sharing one set, layers, wide joins
    and random DAGs, of 0 to 3,000 nodes, sometimes with a cycle added
    (``"+cycle"``), and in most seeds renumbered so that index order is no order.
    """
    rng = random.Random(seed)
    n = _size(rng)
    kind, deps = _shape(rng, n)
    flags = _flags(rng, n, deps, kind)
    if n >= 2 and rng.random() < 0.15:
        _add_cycle(rng, deps)
        kind += "+cycle"
    if rng.random() < 0.7:
        deps, flags = _relabel(rng, deps, flags)
    return kind, deps, flags
