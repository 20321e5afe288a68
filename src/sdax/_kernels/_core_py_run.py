"""Pure twin: the graph of a processor and the bookkeeping of a run (as ``_core_run.pxi``)."""

from __future__ import annotations

from collections.abc import Sequence

from sdax._kernels._core_py_util import POST, PRE, _check_csr

# Per-run node states (see RunState).
_WAITING = 0
_STARTED = 1
_DONE = 2


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
        "_roots",
        "_succ",
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
