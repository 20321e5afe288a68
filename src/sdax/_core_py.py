"""Integer graph kernels of sdax, in pure Python.

This module is the twin of the compiled ``_core`` extension: same names, same
signatures, same results, same exceptions. It knows nothing about tasks, task
functions or asyncio; apart from :func:`resolve_names` (names to node
numbers), :func:`memo_map` and :func:`phase_flags` (per-node entries to results
and phase bits), it deals in integers only. A graph of ``n`` nodes is given as
a predecessor adjacency in CSR form: the dependencies of node ``v`` are
``pred_idx[pred_ptr[v]:pred_ptr[v + 1]]``. Node flags are a bytes-like object
of length ``n`` whose bits say which phases a node has (``PRE``, ``EXEC``,
``POST``).

Graph results are ``array('i')`` objects (lists of ints for a cycle path and
``nodes_with``), so results compare equal between the twins.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate
from typing import Any

__all__ = [
    "EXEC",
    "POST",
    "PRE",
    "Graph",
    "RunState",
    "effective_sets",
    "find_cycle",
    "forward_order",
    "group_unions",
    "memo_map",
    "nodes_with",
    "phase_flags",
    "post_levels",
    "pre_waves",
    "resolve_names",
    "successors",
    "topological_order",
]

PRE = 1
EXEC = 2
POST = 4

# Per-run node states (see RunState).
_WAITING = 0
_STARTED = 1
_DONE = 2


def _check_csr(n: int, ptr: Sequence[int], idx: Sequence[int]) -> None:
    if n < 0:
        raise ValueError(f"node count must be >= 0, got {n}")
    if len(ptr) != n + 1:
        raise ValueError(
            f"adjacency pointer array must have n + 1 = {n + 1} entries, got {len(ptr)}"
        )
    if ptr[0] != 0 or ptr[n] != len(idx):
        raise ValueError("adjacency pointer array must start at 0 and end at len(indices)")
    for v in range(n):
        if ptr[v] > ptr[v + 1]:
            raise ValueError(f"adjacency pointer array decreases at node {v}")
    for u in idx:
        if u < 0 or u >= n:
            raise ValueError(f"adjacency index {u} is out of range for {n} nodes")


def resolve_names(
    names: Sequence[Hashable], groups: Sequence[Sequence[Hashable]]
) -> tuple[array[int], array[int]]:
    """Replace names by their positions in ``names``, group by group.

    Args:
        names: Distinct hashable keys; a key's node number is its position.
        groups: Sequences of keys (the dependencies of each node).

    Returns:
        ``(ptr, idx)``: a CSR whose group ``g`` is
        ``idx[ptr[g]:ptr[g + 1]]``, the positions of ``groups[g]``'s keys.

    Raises:
        KeyError: A key of a group is not in ``names`` (the key is the
            exception's argument).
        TypeError: A key is unhashable.
    """
    position = {name: i for i, name in enumerate(names)}
    group_list = [g if type(g) is tuple else tuple(g) for g in groups]
    ptr = array("i", [0])
    ptr.extend(accumulate(map(len, group_list)))
    return ptr, array("i", [position[key] for group in group_list for key in group])


def memo_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]``, calling ``fn`` once per distinct object.

    Objects are told apart by identity; ``fn`` is called in the order the
    objects first appear, and every item of the same object gets the same result.

    Args:
        fn: The function to apply.
        items: The objects, typically a few distinct ones repeated many times.

    Returns:
        The results, one per item.
    """
    item_list = list(items)
    ids = list(map(id, item_list))
    first = dict(zip(ids, item_list, strict=True))  # keeps the order of first appearance
    results = {key: fn(obj) for key, obj in first.items()}
    return list(map(results.__getitem__, ids))


def phase_flags(pre: Sequence[Any], execute: Sequence[Any], post: Sequence[Any]) -> bytes:
    """The phase bits of each node, from its three phase entries.

    Args:
        pre: Per node, its pre phase or ``None``.
        execute: Per node, its execute phase or ``None``.
        post: Per node, its post phase or ``None``.

    Returns:
        One byte per node: ``PRE``, ``EXEC`` and ``POST`` set for the entries
        that are not ``None``.

    Raises:
        ValueError: The three sequences differ in length.
    """
    if not len(pre) == len(execute) == len(post):
        raise ValueError(
            f"phase lists differ in length: {len(pre)}, {len(execute)} and {len(post)} entries"
        )
    return bytes(
        [
            (a is not None) | (b is not None) << 1 | (c is not None) << 2
            for a, b, c in zip(pre, execute, post, strict=True)
        ]
    )


def nodes_with(flags: bytes | bytearray, bit: int) -> list[int]:
    """The nodes whose flags have ``bit``, in increasing order."""
    mask = bit & 0xFF  # a byte has no higher bits
    return [v for v, f in enumerate(flags) if f & mask]


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


class Graph:
    """A validated, acyclic graph prepared for runs.

    Holds both adjacencies, the phase flags, the in-degrees and the roots, so
    that starting a run only copies one counter array.

    Args:
        pred_ptr: Predecessor CSR offsets.
        pred_idx: Predecessor lists.
        succ_ptr: Successor CSR offsets.
        succ_idx: Successor lists.
        flags: Phase bits per node.

    Raises:
        ValueError: If the arrays do not describe the same ``len(flags)`` nodes.
    """

    __slots__ = (
        "_flags",
        "_indeg",
        "_pred",
        "_pred_idx",
        "_pred_ptr",
        "_roots",
        "_succ",
        "_succ_idx",
        "_succ_ptr",
    )

    def __init__(
        self,
        pred_ptr: Sequence[int],
        pred_idx: Sequence[int],
        succ_ptr: Sequence[int],
        succ_idx: Sequence[int],
        flags: bytes | bytearray,
    ) -> None:
        n = len(flags)
        _check_csr(n, pred_ptr, pred_idx)
        _check_csr(n, succ_ptr, succ_idx)
        if len(pred_idx) != len(succ_idx):
            raise ValueError("predecessor and successor lists must have the same length")
        self._pred_ptr = list(pred_ptr)
        self._pred_idx = list(pred_idx)
        self._succ_ptr = list(succ_ptr)
        self._succ_idx = list(succ_idx)
        self._flags = bytes(flags)
        self._indeg = [pred_ptr[v + 1] - pred_ptr[v] for v in range(n)]
        self._roots = [v for v in range(n) if self._indeg[v] == 0]
        # Per-node neighbour tuples: in pure Python, iterating a tuple is much
        # cheaper than indexing a CSR range.
        self._succ = [tuple(succ_idx[succ_ptr[v] : succ_ptr[v + 1]]) for v in range(n)]
        self._pred = [tuple(pred_idx[pred_ptr[v] : pred_ptr[v + 1]]) for v in range(n)]

    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self._flags)

    def run(self) -> RunState:
        """Start the bookkeeping of one run."""
        return RunState(self)


class RunState:
    """Per-run ready-set bookkeeping over a ``Graph``.

    One instance serves one run. It copies the in-degrees of the graph and
    counts them down as phases finish, handing back the nodes that are ready
    for a phase call. Nodes without the phase at hand are passed through at
    once, however long a chain of them is.

    Pre phase: ``pre_begin`` hands out the ready roots; ``pre_done`` marks a
    node's pre as succeeded and hands out the nodes it made ready. Every node
    handed out counts as started; ``unstart`` takes that back for a node the
    caller never called (a failure stopped the phase first).

    Post phase: a node owes a post when it has a post phase and was reached
    (its pre was started, or it has no pre and all its prerequisites
    completed). ``post_begin`` hands out the owed posts with no reached
    dependent; ``post_done`` releases a node's prerequisites. Reached nodes
    that owe no post are passed through at once.

    Args:
        graph: The graph to walk.
    """

    __slots__ = ("_count", "_graph", "_reached", "_state")

    def __init__(self, graph: Graph) -> None:
        self._graph = graph
        self._count = graph._indeg[:]
        self._state = bytearray(len(graph._flags))
        self._reached: list[int] = []

    def _release_pre(self, stack: list[int], ready: list[int]) -> None:
        count = self._count
        state = self._state
        graph = self._graph
        flags = graph._flags
        succ = graph._succ
        reached = self._reached
        while stack:
            for s in succ[stack.pop()]:
                left = count[s] - 1
                count[s] = left
                if not left:
                    reached.append(s)
                    if flags[s] & PRE:
                        state[s] = _STARTED
                        ready.append(s)
                    else:
                        state[s] = _DONE
                        stack.append(s)

    def pre_begin(self, ready: list[int]) -> None:
        """Append the nodes whose pre can start right away to ``ready``."""
        if self._reached:
            raise ValueError("the pre phase has already begun")
        flags = self._graph._flags
        state = self._state
        stack: list[int] = []
        for v in self._graph._roots:
            self._reached.append(v)
            if flags[v] & PRE:
                state[v] = _STARTED
                ready.append(v)
            else:
                state[v] = _DONE
                stack.append(v)
        self._release_pre(stack, ready)

    def pre_done(self, node: int, ready: list[int]) -> None:
        """Record that ``node``'s pre succeeded; append newly ready nodes."""
        if self._state[node] != _STARTED:
            raise ValueError(f"node {node} has no pre in progress")
        self._state[node] = _DONE
        self._release_pre([node], ready)

    def unstart(self, node: int) -> None:
        """Take back a node handed out by the pre phase but never called."""
        if self._state[node] != _STARTED:
            raise ValueError(f"node {node} has no pre in progress")
        self._state[node] = _WAITING

    def completed(self, node: int) -> bool:
        """Whether ``node`` passed the pre phase (its pre succeeded or it has none)."""
        return self._state[node] == _DONE

    def started(self, node: int) -> bool:
        """Whether ``node`` was reached: its pre started, or it completed."""
        return self._state[node] != _WAITING

    def _release_post(self, stack: list[int], ready: list[int]) -> None:
        count = self._count
        graph = self._graph
        flags = graph._flags
        pred = graph._pred
        while stack:
            for p in pred[stack.pop()]:
                left = count[p] - 1
                count[p] = left
                if not left:
                    if flags[p] & POST:
                        ready.append(p)
                    else:
                        stack.append(p)

    def post_begin(self, ready: list[int]) -> None:
        """Append the owed posts that can run right away to ``ready``.

        Call it once, after the pre phase (and any execute phase) ended.
        """
        count = self._count
        state = self._state
        graph = self._graph
        flags = graph._flags
        succ = graph._succ
        reached = [v for v in self._reached if state[v] != _WAITING]
        self._reached = reached
        for v in reached:
            c = 0
            for s in succ[v]:
                if state[s] != _WAITING:
                    c += 1
            count[v] = c
        stack: list[int] = []
        for v in reached:
            if count[v] == 0:
                if flags[v] & POST:
                    ready.append(v)
                else:
                    stack.append(v)
        self._release_post(stack, ready)

    def post_done(self, node: int, ready: list[int]) -> None:
        """Record that ``node``'s post finished; append newly ready posts."""
        self._release_post([node], ready)
