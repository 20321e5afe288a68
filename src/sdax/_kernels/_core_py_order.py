"""Pure twin: successors and graph order (as ``_core_order.pxi``)."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from sdax._kernels._core_py_util import _check_csr


def successors(
    n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]
) -> tuple[array[int], array[int]]:
    """Transpose a predecessor CSR into a successor CSR.

    Successors of each node come in increasing node order.

    Args:
        n: Number of nodes.
        pred_ptr: CSR offsets of the predecessor lists (length ``n + 1``).
        pred_idx: Concatenated predecessor lists.

    Returns:
        ``(succ_ptr, succ_idx)`` as int arrays.

    Raises:
        ValueError: If the CSR arrays are malformed.
    """
    _check_csr(n, pred_ptr, pred_idx)
    counts = [0] * (n + 1)
    for u in pred_idx:
        counts[u + 1] += 1
    for v in range(n):
        counts[v + 1] += counts[v]
    succ_ptr = array("i", counts)
    fill = counts[:n]
    succ_idx = array("i", bytes(4 * len(pred_idx)))
    for v in range(n):
        for k in range(pred_ptr[v], pred_ptr[v + 1]):
            u = pred_idx[k]
            succ_idx[fill[u]] = v
            fill[u] += 1
    return succ_ptr, succ_idx


def forward_order(n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]) -> array[int] | None:
    """``0, 1, ..., n - 1`` when every node comes after all its predecessors.

    That is a topological order that reads per-node arrays front to back, as
    when every task was added after the tasks it depends on.

    Args:
        n: Number of nodes.
        pred_ptr: Predecessor CSR offsets.
        pred_idx: Predecessor lists.

    Returns:
        The identity order, or ``None`` when some node has a predecessor with
        the same or a higher number.

    Raises:
        ValueError: If the CSR arrays are malformed.
    """
    _check_csr(n, pred_ptr, pred_idx)
    for v in range(n):
        start, end = pred_ptr[v], pred_ptr[v + 1]
        if start != end and max(pred_idx[start:end]) >= v:
            return None
    return array("i", range(n))


def topological_order(
    n: int, pred_ptr: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int]
) -> array[int]:
    """Kahn's topological order, first-in first-out, lowest index first.

    Roots start the queue in index order; a node joins the queue when its last
    predecessor has been taken, in the order of that predecessor's successor
    list.

    Args:
        n: Number of nodes.
        pred_ptr: Predecessor CSR offsets (only the in-degrees are used).
        succ_ptr: Successor CSR offsets.
        succ_idx: Successor lists.

    Returns:
        The order. It is shorter than ``n`` when the graph has a cycle: the
        nodes on or behind a cycle are missing.
    """
    indeg = [pred_ptr[v + 1] - pred_ptr[v] for v in range(n)]
    order = array("i", [v for v in range(n) if indeg[v] == 0])
    head = 0
    while head < len(order):
        u = order[head]
        head += 1
        for k in range(succ_ptr[u], succ_ptr[u + 1]):
            s = succ_idx[k]
            indeg[s] -= 1
            if indeg[s] == 0:
                order.append(s)
    return order


def find_cycle(n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]) -> list[int]:
    """Find one dependency cycle.

    Walks dependency edges depth first, starting from the lowest node index and
    following each node's dependencies in their given order, without recursion.

    Args:
        n: Number of nodes.
        pred_ptr: Predecessor CSR offsets.
        pred_idx: Predecessor lists.

    Returns:
        The cycle as a node path whose first and last entries are the same node
        (``[a, b, a]`` means a depends on b and b depends on a), or an empty
        list when the graph is acyclic.
    """
    color = bytearray(n)  # 0 new, 1 on the current path, 2 finished
    stack: list[int] = []
    cursor: list[int] = []
    for root in range(n):
        if color[root]:
            continue
        color[root] = 1
        stack.append(root)
        cursor.append(pred_ptr[root])
        while stack:
            v = stack[-1]
            k = cursor[-1]
            if k == pred_ptr[v + 1]:
                color[v] = 2
                stack.pop()
                cursor.pop()
                continue
            cursor[-1] = k + 1
            u = pred_idx[k]
            if color[u] == 1:
                path = stack[stack.index(u) :]
                path.append(u)
                return path
            if color[u] == 0:
                color[u] = 1
                stack.append(u)
                cursor.append(pred_ptr[u])
    return []
