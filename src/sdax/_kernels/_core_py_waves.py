"""Pure twin: pre waves, cleanup levels and group unions (as ``_core_waves.pxi``)."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from sdax._kernels._core_py_util import POST, PRE


def pre_waves(
    order: Sequence[int], flags: bytes | bytearray, set_of: Sequence[int]
) -> tuple[array[int], array[int]]:
    """Group the nodes that have a pre phase into waves.

    Nodes with the same effective prerequisite set form one wave. Waves are
    numbered in the order their first member appears in ``order``.

    Args:
        order: Topological order of the nodes (dependencies first).
        flags: Phase bits per node.
        set_of: Effective prerequisite set id per node (see ``effective_sets``).

    Returns:
        ``(wave_of, wave_set)``: the wave of each node (-1 for nodes without a
        pre phase) and, for each wave, the id of its prerequisite set.
    """
    n = len(flags)
    wave_of = array("i", [-1]) * n
    wave_set = array("i")
    wave_by_set: dict[int, int] = {}
    for v in order:
        if flags[v] & PRE:
            s = set_of[v]
            w = wave_by_set.get(s)
            if w is None:
                w = len(wave_set)
                wave_by_set[s] = w
                wave_set.append(s)
            wave_of[v] = w
    return wave_of, wave_set


def post_levels(
    order: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int], flags: bytes | bytearray
) -> tuple[array[int], int]:
    """Group the nodes that have a post phase into cleanup levels.

    A node's level is the length of the longest chain of post-phase nodes that
    depend on it (looking through nodes without a post phase): level 0 has no
    dependents with a post phase, and a node's cleanup can run once every level
    below it is done.

    Args:
        order: Topological order of the nodes (dependencies first).
        succ_ptr: Successor CSR offsets.
        succ_idx: Successor lists.
        flags: Phase bits per node.

    Returns:
        ``(level_of, count)``: the level of each node (-1 for nodes without a
        post phase) and the number of levels.
    """
    n = len(flags)
    # reach[v]: highest level + 1 among the post nodes effectively below v (0: none).
    reach = [0] * n
    level_of = array("i", [-1]) * n
    count = 0
    for pos in range(len(order) - 1, -1, -1):
        v = order[pos]
        best = 0
        for k in range(succ_ptr[v], succ_ptr[v + 1]):
            r = reach[succ_idx[k]]
            if r > best:
                best = r
        if flags[v] & POST:
            level_of[v] = best
            if best + 1 > count:
                count = best + 1
            reach[v] = best + 1
        else:
            reach[v] = best
    return level_of, count


def group_unions(
    group_of: Sequence[int],
    groups: int,
    set_of: Sequence[int],
    set_ptr: Sequence[int],
    set_idx: Sequence[int],
) -> tuple[array[int], array[int]]:
    """Union of the sets of all members of each group.

    Args:
        group_of: Group of each node, -1 for nodes in no group.
        groups: Number of groups.
        set_of: Set id of each node.
        set_ptr: Set table CSR offsets.
        set_idx: Set table members.

    Returns:
        ``(union_ptr, union_idx)``: for each group, its members' sets merged,
        in increasing node order.
    """
    n = len(group_of)
    members: list[list[int]] = [[] for _ in range(groups)]
    for v in range(n):
        g = group_of[v]
        if g >= 0:
            members[g].append(set_of[v])
    union_ptr = array("i", [0])
    union_idx = array("i")
    stamp = [-1] * n
    for g in range(groups):
        out: list[int] = []
        for s in members[g]:
            for j in range(set_ptr[s], set_ptr[s + 1]):
                w = set_idx[j]
                if stamp[w] != g:
                    stamp[w] = g
                    out.append(w)
        out.sort()
        union_idx.extend(out)
        union_ptr.append(len(union_idx))
    return union_ptr, union_idx
