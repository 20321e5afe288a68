"""Pure twin: effective predecessor sets (as ``_core_sets.pxi``)."""

from __future__ import annotations

from array import array
from collections.abc import Sequence


def effective_sets(
    n: int,
    order: Sequence[int],
    ptr: Sequence[int],
    idx: Sequence[int],
    flags: bytes | bytearray,
    bit: int,
) -> tuple[array[int], array[int], array[int]]:
    """Effective neighbour sets, looking through nodes that lack a phase.

    For every node ``v``, its effective set is the set of nearest nodes that
    have ``bit`` in their flags, found by walking the adjacency (``ptr``/``idx``)
    from ``v`` and passing through nodes without ``bit``. With the predecessor
    adjacency this gives the effective prerequisites for a phase; with the
    successor adjacency, the effective dependents.

    Equal sets are stored once: every node gets the id of its set in a table of
    distinct sets. Set 0 is the empty set; each set lists nodes in increasing
    order.

    Args:
        n: Number of nodes.
        order: A topological order for the direction of ``ptr``/``idx``: every
            neighbour of a node comes before the node.
        ptr: CSR offsets of the adjacency to walk.
        idx: CSR lists of the adjacency to walk.
        flags: Phase bits per node.
        bit: The phase bit that makes a node visible.

    Returns:
        ``(set_of, set_ptr, set_idx)``: the set id of each node, and the table
        of sets in CSR form.
    """
    set_of = array("i", bytes(4 * n))
    set_ptr = array("i", [0, 0])  # set 0 is the empty set
    set_idx = array("i")
    table: dict[tuple[int, ...], int] = {(): 0}
    stamp = [-1] * n
    for v in order:
        start = ptr[v]
        end = ptr[v + 1]
        if end == start:
            continue
        if end - start == 1:
            u = idx[start]
            if not flags[u] & bit:
                set_of[v] = set_of[u]
                continue
        members: list[int] = []
        for k in range(start, end):
            u = idx[k]
            if flags[u] & bit:
                if stamp[u] != v:
                    stamp[u] = v
                    members.append(u)
            else:
                s = set_of[u]
                for j in range(set_ptr[s], set_ptr[s + 1]):
                    w = set_idx[j]
                    if stamp[w] != v:
                        stamp[w] = v
                        members.append(w)
        members.sort()
        key = tuple(members)
        sid = table.get(key)
        if sid is None:
            sid = len(set_ptr) - 1
            table[key] = sid
            set_idx.extend(members)
            set_ptr.append(len(set_idx))
        set_of[v] = sid
    return set_of, set_ptr, set_idx
