# Part of _core.pyx (included there; not a module of its own).
# Pre waves, post levels and the unions of their sets.

def pre_waves(
    order: Sequence[int], flags: bytes | bytearray, set_of: Sequence[int]
) -> tuple[array[int], array[int]]:
    cdef bytes fb = _flag_bytes(flags)
    cdef carray.array oa, sa, wave_of_a
    cdef Py_ssize_t n, t, i, len_o, len_s, smax
    cdef const int* o
    cdef const int* ss
    cdef const unsigned char* f
    cdef int* wave_of
    cdef int* wave_by_set = NULL
    cdef int v, s, w
    cdef bint small
    cdef dict by_set = None
    cdef IntVec wave_set
    n = len(fb)
    f = <const unsigned char*>fb
    oa = _ints(order)
    sa = _ints(set_of)
    o = oa.data.as_ints
    ss = sa.data.as_ints
    len_o = Py_SIZE(oa)
    len_s = Py_SIZE(sa)
    wave_of_a = _new_ints(n, False)
    wave_of = wave_of_a.data.as_ints
    memset(wave_of, 0xFF, n * sizeof(int))  # every entry -1
    # Set ids made by effective_sets are small and non-negative: a flat table
    # maps them to waves. Anything else goes through a dict, like the pure twin.
    small = True
    smax = -1
    for i in range(len_s):
        if ss[i] < 0:
            small = False
            break
        if ss[i] > smax:
            smax = ss[i]
    if small and smax > 2 * len_s + 64:
        small = False
    wave_set.data = NULL
    wave_set.owned = False
    try:
        _vec_init(&wave_set, 16)
        if small:
            wave_by_set = <int*>_alloc((smax + 1) * sizeof(int))
            memset(wave_by_set, 0xFF, (smax + 1) * sizeof(int))
        else:
            by_set = {}
        for t in range(len_o):
            # The order visits nodes all over memory: ask for what the loop
            # reads of a node (its set id, its wave entry, its set's wave) ahead.
            if t + 16 < len_o and 0 <= o[t + 16] < n and o[t + 16] < len_s:
                _prefetch(ss + o[t + 16])
                _prefetch(wave_of + o[t + 16])
            if small and t + 8 < len_o and 0 <= o[t + 8] < n and o[t + 8] < len_s:
                if 0 <= ss[o[t + 8]] <= smax:
                    _prefetch(wave_by_set + ss[o[t + 8]])
            v = o[t]
            _check("node", v, n)
            if f[v] & _PRE:
                _check("node", v, len_s)
                s = ss[v]
                if small:
                    w = wave_by_set[s]
                    if w < 0:
                        w = <int>wave_set.size
                        wave_by_set[s] = w
                        _push(&wave_set, s)
                else:
                    found = by_set.get(s)
                    if found is None:
                        w = <int>wave_set.size
                        by_set[s] = w
                        _push(&wave_set, s)
                    else:
                        w = found
                wave_of[v] = w
        return wave_of_a, _array_of(wave_set.data, wave_set.size)
    finally:
        free(wave_by_set)
        _vec_free(&wave_set)


def post_levels(
    order: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int], flags: bytes | bytearray
) -> tuple[array[int], int]:
    cdef bytes fb = _flag_bytes(flags)
    cdef carray.array oa, pa, ia, level_a
    cdef Py_ssize_t n, pos, len_p, len_i
    cdef const int* o
    cdef const int* sp
    cdef const int* si
    cdef const unsigned char* f
    cdef int* level_of
    cdef int* reach = NULL  # highest level + 1 among the post nodes effectively below
    cdef int v, k, s, r, w, best, count
    n = len(fb)
    f = <const unsigned char*>fb
    oa = _ints(order)
    pa = _ints(succ_ptr)
    ia = _ints(succ_idx)
    o = oa.data.as_ints
    sp = pa.data.as_ints
    si = ia.data.as_ints
    len_p = Py_SIZE(pa)
    len_i = Py_SIZE(ia)
    level_a = _new_ints(n, False)
    level_of = level_a.data.as_ints
    memset(level_of, 0xFF, n * sizeof(int))  # every entry -1
    count = 0
    try:
        reach = <int*>_alloc(n * sizeof(int))
        memset(reach, 0, n * sizeof(int))
        for pos in range(Py_SIZE(oa) - 1, -1, -1):
            # The order visits nodes all over memory: prefetch a few nodes ahead.
            if pos >= 32 and 0 <= o[pos - 32] < len_p - 1:
                _prefetch(sp + o[pos - 32])
            if pos >= 20 and 0 <= o[pos - 20] < len_p - 1 and 0 <= sp[o[pos - 20]] < len_i:
                _prefetch(si + sp[o[pos - 20]])
            if pos >= 10 and 0 <= o[pos - 10] < len_p - 1:
                w = o[pos - 10]
                if w < n:
                    _prefetch(reach + w)
                    _prefetch(level_of + w)
                if 0 <= sp[w] <= sp[w + 1] <= len_i:
                    for k in range(sp[w], sp[w + 1]):
                        if 0 <= si[k] < n:
                            _prefetch(reach + si[k])
            v = o[pos]
            _check("node", v, n)
            _check("succ_ptr index", v + 1, len_p)
            best = 0
            for k in range(sp[v], sp[v + 1]):
                _check("succ_idx index", k, len_i)
                s = si[k]
                _check("node", s, n)
                r = reach[s]
                if r > best:
                    best = r
            if f[v] & _POST:
                level_of[v] = best
                if best + 1 > count:
                    count = best + 1
                reach[v] = best + 1
            else:
                reach[v] = best
        return level_a, count
    finally:
        free(reach)


def group_unions(
    group_of: Sequence[int],
    groups: int,
    set_of: Sequence[int],
    set_ptr: Sequence[int],
    set_idx: Sequence[int],
) -> tuple[array[int], array[int]]:
    cdef carray.array ga, sa, pa, ia
    cdef Py_ssize_t n, cg, v, t, start, len_s, len_p, len_i
    cdef const int* go
    cdef const int* so
    cdef const int* sp
    cdef const int* si
    cdef Py_ssize_t* gptr = NULL
    cdef Py_ssize_t* fill = NULL
    cdef int* gsets = NULL
    cdef int* stamp = NULL
    cdef int g, s, j, w
    cdef IntVec union_ptr
    cdef IntVec union_idx
    ga = _ints(group_of)
    if type(groups) is not int:
        range(groups)  # the pure twin's first use of it: raises exactly as it does there
    cg = groups if groups > 0 else 0
    sa = _ints(set_of)
    pa = _ints(set_ptr)
    ia = _ints(set_idx)
    n = Py_SIZE(ga)
    go = ga.data.as_ints
    so = sa.data.as_ints
    sp = pa.data.as_ints
    si = ia.data.as_ints
    len_s = Py_SIZE(sa)
    len_p = Py_SIZE(pa)
    len_i = Py_SIZE(ia)
    union_ptr.data = union_idx.data = NULL
    union_ptr.owned = union_idx.owned = False
    try:
        # Members' set ids bucketed by group, in node order.
        gptr = <Py_ssize_t*>_alloc((cg + 1) * sizeof(Py_ssize_t))
        memset(gptr, 0, (cg + 1) * sizeof(Py_ssize_t))
        for v in range(n):
            g = go[v]
            if g >= 0:
                _check("group", g, cg)
                _check("node", v, len_s)
                gptr[g + 1] += 1
        for v in range(cg):
            gptr[v + 1] += gptr[v]
        fill = <Py_ssize_t*>_alloc((cg + 1) * sizeof(Py_ssize_t))
        memcpy(fill, gptr, (cg + 1) * sizeof(Py_ssize_t))
        gsets = <int*>_alloc(gptr[cg] * sizeof(int))
        for v in range(n):
            g = go[v]
            if g >= 0:
                gsets[fill[g]] = so[v]
                fill[g] += 1
        stamp = <int*>_alloc(n * sizeof(int))
        memset(stamp, 0xFF, n * sizeof(int))  # every entry -1
        _vec_init(&union_ptr, cg + 1)
        _vec_init(&union_idx, 64)
        _push(&union_ptr, 0)
        for g in range(cg):
            start = union_idx.size
            for t in range(gptr[g], gptr[g + 1]):
                s = gsets[t]
                _check("set_ptr index", s, len_p)
                _check("set_ptr index", s + 1, len_p)
                for j in range(sp[s], sp[s + 1]):
                    _check("set_idx index", j, len_i)
                    w = si[j]
                    _check("node", w, n)
                    if stamp[w] != g:
                        stamp[w] = g
                        _push(&union_idx, w)
            _sort_ints(union_idx.data + start, union_idx.size - start)
            _push(&union_ptr, <int>union_idx.size)
        return _array_of(union_ptr.data, union_ptr.size), _array_of(
            union_idx.data, union_idx.size
        )
    finally:
        free(gptr)
        free(fill)
        free(gsets)
        free(stamp)
        _vec_free(&union_ptr)
        _vec_free(&union_idx)
