# Part of _core.pyx (included there; not a module of its own).
# The run graph and the per-run ready-set state.

# ---------------------------------------------------------------------------
# Graph and per-run state.
# ---------------------------------------------------------------------------

cdef enum:
    # Per-run node states (see RunState).
    _WAITING = 0
    _STARTED = 1
    _DONE = 2


def _graph_parameters(
    pred_ptr: Sequence[int],
    pred_idx: Sequence[int],
    succ_ptr: Sequence[int],
    succ_idx: Sequence[int],
    flags: bytes | bytearray,
) -> None:
    """Parameters of ``Graph()``: a cdef class's ``__init__`` is not introspectable."""


def _run_state_parameters(graph: Graph) -> None:
    """Parameters of ``RunState()``: a cdef class's ``__init__`` is not introspectable."""


def _graph_size(Graph graph) -> int:
    return graph._arrays().n


cdef class _Arrays:
    """The C arrays of one Graph, in one block, shared by the graph and its runs."""

    cdef Py_ssize_t n
    cdef Py_ssize_t nroots
    cdef int* pred_ptr
    cdef int* pred_idx
    cdef int* succ_ptr
    cdef int* succ_idx
    cdef int* indeg
    cdef int* roots
    cdef unsigned char* flags
    cdef void* block

    def __dealloc__(self):
        free(self.block)


cdef class Graph:
    __doc__ = _twin.Graph.__doc__  # written once, in the pure twin

    cdef _Arrays _a

    __signature__ = _inspect.signature(_graph_parameters)

    def __init__(
        self,
        pred_ptr: Sequence[int],
        pred_idx: Sequence[int],
        succ_ptr: Sequence[int],
        succ_idx: Sequence[int],
        flags: bytes | bytearray,
    ) -> None:
        cdef carray.array pp, pi, sp, si
        cdef bytes fb
        cdef Py_ssize_t n, m, v, nroots
        cdef _Arrays a
        cdef char* at
        n = len(flags)
        pp, pi = _checked_csr(n, pred_ptr, pred_idx)
        sp, si = _checked_csr(n, succ_ptr, succ_idx)
        if len(pred_idx) != len(succ_idx):
            raise ValueError("predecessor and successor lists must have the same length")
        fb = bytes(flags)
        m = Py_SIZE(pi)
        a = _Arrays.__new__(_Arrays)
        # One block: pred_ptr, succ_ptr (n + 1 each), pred_idx, succ_idx (m each),
        # indeg, roots (n each), then the flag bytes.
        a.block = _alloc((4 * n + 2 + 2 * m) * sizeof(int) + n)
        at = <char*>a.block
        a.pred_ptr = <int*>at
        a.succ_ptr = a.pred_ptr + n + 1
        a.pred_idx = a.succ_ptr + n + 1
        a.succ_idx = a.pred_idx + m
        a.indeg = a.succ_idx + m
        a.roots = a.indeg + n
        a.flags = <unsigned char*>(a.roots + n)
        a.n = n
        memcpy(a.pred_ptr, pp.data.as_ints, (n + 1) * sizeof(int))
        memcpy(a.succ_ptr, sp.data.as_ints, (n + 1) * sizeof(int))
        if m:
            memcpy(a.pred_idx, pi.data.as_ints, m * sizeof(int))
            memcpy(a.succ_idx, si.data.as_ints, m * sizeof(int))
        if n:
            memcpy(a.flags, <const char*>fb, n)
        nroots = 0
        for v in range(n):
            a.indeg[v] = a.pred_ptr[v + 1] - a.pred_ptr[v]
            if a.indeg[v] == 0:
                a.roots[nroots] = <int>v
                nroots += 1
        a.nroots = nroots
        # Runs keep the arrays they started with, even if this graph is set up again.
        self._a = a

    cdef inline _Arrays _arrays(self):
        if self._a is None:
            raise AttributeError("Graph.__init__ was never called")
        return self._a

    # A property object rather than a getset: its __doc__ can be taken from the twin.
    size = property(_graph_size)

    def __reduce__(self):
        # Pickling and copying rebuild the graph from its arrays, as for the pure twin.
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t n = a.n
        cdef Py_ssize_t m = a.pred_ptr[n]
        return Graph, (
            _array_of(a.pred_ptr, n + 1),
            _array_of(a.pred_idx, m),
            _array_of(a.succ_ptr, n + 1),
            _array_of(a.succ_idx, m),
            a.flags[:n] if n else b"",
        )

    def run(self) -> RunState:
        cdef RunState state = RunState.__new__(RunState)
        state._start(self._arrays())
        return state


cdef class RunState:
    __doc__ = _twin.RunState.__doc__  # written once, in the pure twin

    cdef _Arrays _a
    cdef int* _count
    cdef unsigned char* _state
    cdef void* _block
    cdef IntVec _reached
    cdef IntVec _stack
    cdef IntVec _out  # ready nodes waiting for a ``ready`` that is not a plain list

    __signature__ = _inspect.signature(_run_state_parameters)

    def __init__(self, graph: Graph) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a Graph, not {type(graph).__name__}")
        self._start((<Graph>graph)._arrays())

    def __dealloc__(self):
        self._release()

    cdef void _release(self) noexcept:
        _vec_free(&self._reached)
        _vec_free(&self._stack)
        _vec_free(&self._out)
        free(self._block)
        self._block = NULL

    cdef int _start(self, _Arrays a) except -1:
        cdef Py_ssize_t n = a.n
        cdef char* at
        self._release()
        # One block: counters, reached list and stack (n ints each), then the states.
        self._block = _alloc(3 * n * sizeof(int) + n)
        at = <char*>self._block
        self._count = <int*>at
        self._reached.data = self._count + n
        self._stack.data = self._reached.data + n
        self._state = <unsigned char*>(self._stack.data + n)
        self._reached.size = self._stack.size = 0
        self._reached.cap = self._stack.cap = n
        self._reached.owned = self._stack.owned = False
        memcpy(self._count, a.indeg, n * sizeof(int))
        memset(self._state, _WAITING, n)
        self._a = a
        return 0

    cdef inline _Arrays _arrays(self):
        if self._a is None:
            raise AttributeError("RunState.__init__ was never called")
        return self._a

    cdef Py_ssize_t _raw_index(self, object node, Py_ssize_t length, bint as_list) except? -1:
        """``node`` as an index into a sequence of ``length`` (negative: from the end).

        Plain ints in range take the fast path. Anything else indexes a real
        ``list`` or ``bytearray`` of that length, as the pure twin does, so that
        any error is the one Python itself raises there.
        """
        cdef int overflow = 0
        cdef long i
        if PyLong_CheckExact(node):
            i = PyLong_AsLongAndOverflow(node, &overflow)
            if not overflow and -length <= i < length:
                return i
        # (operator.getitem: Cython must not turn this into an unchecked access.)
        _operator.getitem([None] * length if as_list else bytearray(length), node)
        return _operator.index(node)

    cdef inline int _emit(self, int v, list direct) except -1:
        if direct is not None:
            direct.append(v)
        else:
            _push(&self._out, v)
        return 0

    cdef int _flush(self, object ready) except -1:
        cdef Py_ssize_t i
        if self._out.size:
            pending = [self._out.data[i] for i in range(self._out.size)]
            self._out.size = 0
            for node in pending:
                ready.append(node)
        return 0

    cdef int _pre_edges(self, _Arrays a, int start, int end, list direct) except -1:
        cdef int k, s
        cdef int* count = self._count
        for k in range(start, end):
            s = a.succ_idx[k]
            count[s] -= 1
            if count[s] == 0:
                _push(&self._reached, s)
                if a.flags[s] & _PRE:
                    self._state[s] = _STARTED
                    self._emit(s, direct)
                else:
                    self._state[s] = _DONE
                    _push(&self._stack, s)
        return 0

    cdef int _pre_drain(self, _Arrays a, list direct) except -1:
        cdef int v
        while self._stack.size:
            self._stack.size -= 1
            v = self._stack.data[self._stack.size]
            self._pre_edges(a, a.succ_ptr[v], a.succ_ptr[v + 1], direct)
        return 0

    cdef int _post_edges(self, _Arrays a, int start, int end, list direct) except -1:
        cdef int k, p
        cdef int* count = self._count
        for k in range(start, end):
            p = a.pred_idx[k]
            count[p] -= 1
            if count[p] == 0:
                if a.flags[p] & _POST:
                    self._emit(p, direct)
                else:
                    _push(&self._stack, p)
        return 0

    cdef int _post_drain(self, _Arrays a, list direct) except -1:
        cdef int v
        while self._stack.size:
            self._stack.size -= 1
            v = self._stack.data[self._stack.size]
            self._post_edges(a, a.pred_ptr[v], a.pred_ptr[v + 1], direct)
        return 0

    def __reduce__(self):
        # Pickling and copying carry the run's counters, states and reached list.
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t n = a.n
        cdef Graph graph = Graph.__new__(Graph)
        graph._a = a
        return _restore_run_state, (
            graph,
            _array_of(self._count, n),
            self._state[:n] if n else b"",
            _array_of(self._reached.data, self._reached.size),
        )

    def pre_begin(self, ready: list[int]) -> None:
        cdef _Arrays a = self._arrays()
        cdef list direct = ready if type(ready) is list else None
        cdef Py_ssize_t i
        cdef int v
        if self._reached.size:
            raise ValueError("the pre phase has already begun")
        self._stack.size = 0
        self._out.size = 0
        for i in range(a.nroots):
            v = a.roots[i]
            _push(&self._reached, v)
            if a.flags[v] & _PRE:
                self._state[v] = _STARTED
                self._emit(v, direct)
            else:
                self._state[v] = _DONE
                _push(&self._stack, v)
        self._pre_drain(a, direct)
        self._flush(ready)

    def pre_done(self, node: int, ready: list[int]) -> None:
        cdef _Arrays a = self._arrays()
        cdef list direct = ready if type(ready) is list else None
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        cdef Py_ssize_t v = raw + a.n if raw < 0 else raw
        if self._state[v] != _STARTED:
            raise ValueError(f"node {node} has no pre in progress")
        self._state[v] = _DONE
        self._stack.size = 0
        self._out.size = 0
        self._pre_edges(a, a.succ_ptr[v], a.succ_ptr[v + 1], direct)
        self._pre_drain(a, direct)
        self._flush(ready)

    def unstart(self, node: int) -> None:
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        cdef Py_ssize_t v = raw + a.n if raw < 0 else raw
        if self._state[v] != _STARTED:
            raise ValueError(f"node {node} has no pre in progress")
        self._state[v] = _WAITING

    def completed(self, node: int) -> bool:
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        return self._state[raw + a.n if raw < 0 else raw] == _DONE

    def started(self, node: int) -> bool:
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        return self._state[raw + a.n if raw < 0 else raw] != _WAITING

    def post_begin(self, ready: list[int]) -> None:
        cdef _Arrays a = self._arrays()
        cdef list direct = ready if type(ready) is list else None
        cdef int* count = self._count
        cdef unsigned char* state = self._state
        cdef int* reached = self._reached.data
        cdef Py_ssize_t i, kept = 0
        cdef int v, k, c
        for i in range(self._reached.size):
            v = reached[i]
            if state[v] != _WAITING:
                reached[kept] = v
                kept += 1
        self._reached.size = kept
        for i in range(kept):
            v = reached[i]
            c = 0
            for k in range(a.succ_ptr[v], a.succ_ptr[v + 1]):
                if state[a.succ_idx[k]] != _WAITING:
                    c += 1
            count[v] = c
        self._stack.size = 0
        self._out.size = 0
        for i in range(kept):
            v = reached[i]
            if count[v] == 0:
                if a.flags[v] & _POST:
                    self._emit(v, direct)
                else:
                    _push(&self._stack, v)
        self._post_drain(a, direct)
        self._flush(ready)

    def post_done(self, node: int, ready: list[int]) -> None:
        cdef _Arrays a = self._arrays()
        cdef list direct = ready if type(ready) is list else None
        # Indexed like the pure twin's per-node list (negative: from the end).
        cdef Py_ssize_t raw = self._raw_index(node, a.n, True)
        cdef Py_ssize_t v = raw + a.n if raw < 0 else raw
        self._stack.size = 0
        self._out.size = 0
        self._post_edges(a, a.pred_ptr[v], a.pred_ptr[v + 1], direct)
        self._post_drain(a, direct)
        self._flush(ready)


def _restore_run_state(graph: Graph, count: array[int], state: bytes, reached: array[int]) -> RunState:
    """Rebuild a pickled or copied ``RunState``."""
    cdef RunState run = graph.run()
    cdef Py_ssize_t n = graph.size
    cdef Py_ssize_t i
    if len(count) != n or len(state) != n:
        raise ValueError("the run state does not fit the graph")
    for i in range(n):
        run._count[i] = count[i]
        run._state[i] = state[i]
    for i in range(len(reached)):
        _check("node", reached[i], n)
        _push(&run._reached, reached[i])
    return run
