# Part of _core.pyx (included there; not a module of its own).
# Build kernels over the adjacency: successors, declaration order as a
# topological order, Kahn's order, cycle finding.

def successors(
    n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]
) -> tuple[array[int], array[int]]:
    cdef carray.array pa, ia, sp_a, si_a
    cdef Py_ssize_t cn, m, v, k
    cdef const int* pp
    cdef const int* pi
    cdef int* sp
    cdef int* si
    cdef int* fill
    cdef int u
    pa, ia = _checked_csr(n, pred_ptr, pred_idx)
    cn = Py_SIZE(pa) - 1
    m = Py_SIZE(ia)
    pp = pa.data.as_ints
    pi = ia.data.as_ints
    sp_a = _new_ints(cn + 1, True)
    si_a = _new_ints(m, False)
    sp = sp_a.data.as_ints
    si = si_a.data.as_ints
    # Both passes hit counters all over memory, one per edge, in edge order:
    # ask for the counters (and in the second pass the slot to write) ahead.
    for k in range(m):
        if k + 16 < m:
            _prefetch(sp + pi[k + 16] + 1)
        sp[pi[k] + 1] += 1
    for v in range(cn):
        sp[v + 1] += sp[v]
    fill = <int*>_alloc(cn * sizeof(int))
    memcpy(fill, sp, cn * sizeof(int))
    for v in range(cn):
        for k in range(pp[v], pp[v + 1]):
            if k + 16 < m:
                _prefetch(fill + pi[k + 16])
            if k + 8 < m:
                _prefetch(si + fill[pi[k + 8]])
            u = pi[k]
            si[fill[u]] = <int>v
            fill[u] += 1
    free(fill)
    return sp_a, si_a


def forward_order(
    n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]
) -> array[int] | None:
    cdef carray.array pa, ia, out_a
    cdef Py_ssize_t cn, v, k
    cdef const int* pp
    cdef const int* pi
    cdef int* out
    pa, ia = _checked_csr(n, pred_ptr, pred_idx)
    cn = Py_SIZE(pa) - 1
    pp = pa.data.as_ints
    pi = ia.data.as_ints
    for v in range(cn):
        for k in range(pp[v], pp[v + 1]):
            if pi[k] >= v:
                return None
    out_a = _new_ints(cn, False)
    out = out_a.data.as_ints
    for v in range(cn):
        out[v] = <int>v
    return out_a


def topological_order(
    n: int, pred_ptr: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int]
) -> array[int]:
    cdef carray.array pa, sa, ia
    cdef Py_ssize_t cn, v, k, head, tail, len_sp, len_si
    cdef const int* pp
    cdef const int* sp
    cdef const int* si
    cdef long long* indeg = NULL
    cdef int* order = NULL
    cdef int u, s, w
    cn = n
    if cn < 0:
        cn = 0
    pa = _ints(pred_ptr)
    sa = _ints(succ_ptr)
    ia = _ints(succ_idx)
    if cn and Py_SIZE(pa) < cn + 1:
        _index_error("pred_ptr index", Py_SIZE(pa), Py_SIZE(pa))
    pp = pa.data.as_ints
    sp = sa.data.as_ints
    si = ia.data.as_ints
    len_sp = Py_SIZE(sa)
    len_si = Py_SIZE(ia)
    try:
        indeg = <long long*>_alloc(cn * sizeof(long long))
        order = <int*>_alloc(cn * sizeof(int))
        tail = 0
        for v in range(cn):
            indeg[v] = <long long>pp[v + 1] - pp[v]
            if indeg[v] == 0:
                order[tail] = <int>v
                tail += 1
        head = 0
        while head < tail:
            # Queued nodes lie all over memory: prefetch a few of them ahead.
            if head + 24 < tail and order[head + 24] + 1 < len_sp:
                _prefetch(sp + order[head + 24])
            if head + 14 < tail and order[head + 14] + 1 < len_sp:
                w = order[head + 14]
                if 0 <= sp[w] < len_si:
                    _prefetch(si + sp[w])
            if head + 6 < tail and order[head + 6] + 1 < len_sp:
                w = order[head + 6]
                if 0 <= sp[w] <= sp[w + 1] <= len_si:
                    for k in range(sp[w], sp[w + 1]):
                        if 0 <= si[k] < cn:
                            _prefetch(indeg + si[k])
            u = order[head]
            head += 1
            _check("succ_ptr index", u + 1, len_sp)
            for k in range(sp[u], sp[u + 1]):
                _check("succ_idx index", k, len_si)
                s = si[k]
                _check("node", s, cn)
                indeg[s] -= 1
                if indeg[s] == 0:
                    order[tail] = s
                    tail += 1
        return _array_of(order, tail)
    finally:
        free(indeg)
        free(order)


def find_cycle(n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]) -> list[int]:
    cdef carray.array pa, ia
    cdef Py_ssize_t cn, root, depth, len_p, len_i, i, at
    cdef const int* pp
    cdef const int* pi
    cdef unsigned char* color = NULL  # 0 new, 1 on the current path, 2 finished
    cdef int* stack = NULL
    cdef int* cursor = NULL
    cdef int v, k, u
    if type(n) is not int or n < 0:
        bytearray(n)  # the pure twin's first step: raises exactly as it does there
    cn = n
    pa = _ints(pred_ptr)
    ia = _ints(pred_idx)
    pp = pa.data.as_ints
    pi = ia.data.as_ints
    len_p = Py_SIZE(pa)
    len_i = Py_SIZE(ia)
    try:
        color = <unsigned char*>_alloc(cn)
        memset(color, 0, cn)
        stack = <int*>_alloc(cn * sizeof(int))
        cursor = <int*>_alloc(cn * sizeof(int))
        for root in range(cn):
            if color[root]:
                continue
            _check("pred_ptr index", root + 1, len_p)
            color[root] = 1
            stack[0] = <int>root
            cursor[0] = pp[root]
            depth = 1
            while depth:
                v = stack[depth - 1]
                k = cursor[depth - 1]
                if k == pp[v + 1]:
                    color[v] = 2
                    depth -= 1
                    continue
                cursor[depth - 1] = k + 1
                _check("pred_idx index", k, len_i)
                u = pi[k]
                _check("node", u, cn)
                if color[u] == 1:
                    at = 0
                    while stack[at] != u:
                        at += 1
                    path = [stack[i] for i in range(at, depth)]
                    path.append(u)
                    return path
                if color[u] == 0:
                    _check("pred_ptr index", u + 1, len_p)
                    color[u] = 1
                    stack[depth] = u
                    cursor[depth] = pp[u]
                    depth += 1
        return []
    finally:
        free(color)
        free(stack)
        free(cursor)
