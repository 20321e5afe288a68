# Part of _core.pyx (included there; not a module of its own).
# Effective neighbour sets through phase-less nodes, with equal sets stored once.

cdef enum:
    # effective_sets makes the set of a node _LEAD nodes ahead of the one it
    # interns, in a ring of _RING_MASK + 1 entries of _RING_WIDTH ints.
    _LEAD = 8
    _RING_MASK = 15
    _RING_WIDTH = 8


cdef struct NodeRec:
    int set_id  # effective set id, once the node has been walked
    int stamp  # the last node whose members took this one in
    int visible  # has the phase bit
    int pad  # 16 bytes: a record never straddles two cache lines


cdef int _merge_runs(IntVec* a, IntVec* runs, IntVec* scratch) except -1:
    """Sort ``a``, made of sorted runs that start at the offsets in ``runs``.

    No value appears twice. Runs are merged pairwise, back and forth between
    ``a`` and ``scratch``; the result ends in ``a`` (the buffers may swap).
    """
    cdef Py_ssize_t size = a.size
    cdef Py_ssize_t count = runs.size
    cdef Py_ssize_t r, kept, lo, mid, hi, i, j, k
    cdef int* src
    cdef int* dst
    cdef int* data
    cdef Py_ssize_t cap
    cdef bint owned
    if scratch.cap < size:
        _vec_grow(scratch, size)
    while count > 1:
        src = a.data
        dst = scratch.data
        r = 0
        kept = 0
        while r < count:
            lo = runs.data[r]
            hi = runs.data[r + 2] if r + 2 < count else size
            if r + 1 < count:
                mid = runs.data[r + 1]
                i = lo
                j = mid
                k = lo
                while i < mid and j < hi:
                    if src[i] < src[j]:
                        dst[k] = src[i]
                        i += 1
                    else:
                        dst[k] = src[j]
                        j += 1
                    k += 1
                if i < mid:
                    memcpy(dst + k, src + i, (mid - i) * sizeof(int))
                if j < hi:
                    memcpy(dst + k, src + j, (hi - j) * sizeof(int))
            else:
                memcpy(dst + lo, src + lo, (hi - lo) * sizeof(int))
            runs.data[kept] = <int>lo
            kept += 1
            r += 2
        count = kept
        data, cap, owned = a.data, a.cap, a.owned
        a.data, a.cap, a.owned = scratch.data, scratch.cap, scratch.owned
        scratch.data, scratch.cap, scratch.owned = data, cap, owned
    runs.size = count
    return 0


cdef struct SetTable:
    # Open addressing. A slot is 0 when free, else the high 32 bits of the set's
    # hash (compared first, so most probes never touch the set itself) or'ed
    # with its id (never 0: the empty set 0 is not stored).
    uint64_t* slots
    Py_ssize_t mask
    Py_ssize_t used


cdef int _table_init(SetTable* t, Py_ssize_t expect) except -1:
    # Room for ``expect`` sets without growing (each growth rehashes every set);
    # calloc leaves the pages of a big table untouched until a slot is used.
    cdef Py_ssize_t cap = 1024
    while cap < 2 * expect + 2:
        cap *= 2
    t.mask = cap - 1
    t.used = 0
    t.slots = <uint64_t*>_zalloc(cap, sizeof(uint64_t))
    if t.slots == NULL:
        raise MemoryError()
    return 0


cdef void _table_free(SetTable* t) noexcept:
    free(t.slots)
    t.slots = NULL


cdef int _table_grow(SetTable* t, const IntVec* info, const IntVec* set_idx) except -1:
    # Hashes are not kept: recompute them (doubling keeps the total linear).
    cdef Py_ssize_t cap = (t.mask + 1) * 2
    cdef Py_ssize_t mask = cap - 1
    cdef Py_ssize_t i, sid, start
    cdef uint64_t h
    cdef uint64_t* slots = <uint64_t*>_alloc(cap * sizeof(uint64_t))
    memset(slots, 0, cap * sizeof(uint64_t))
    for sid in range(1, info.size // 2 - 1):
        start = info.data[2 * sid]
        h = _hash_ints(set_idx.data + start, info.data[2 * sid + 2] - start)
        i = <Py_ssize_t>(h & <uint64_t>mask)
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = (h & _HIGH) | <uint64_t>sid
    free(t.slots)
    t.slots = slots
    t.mask = mask
    return 0


cdef int _intern_set(
    SetTable* t, IntVec* info, IntVec* set_idx, const int* members, Py_ssize_t size
) except -1:
    """Id of the set ``members`` (sorted, not empty), adding it to the table if new.

    ``info`` holds two ints per set (its start in ``set_idx``, and a mark for
    the caller), then one more pair whose start is the end of the last set.
    """
    return _intern_hashed(t, info, set_idx, members, size, _hash_ints(members, size))


cdef int _intern_hashed(
    SetTable* t, IntVec* info, IntVec* set_idx, const int* members, Py_ssize_t size, uint64_t h
) except -1:
    """``_intern_set`` with the hash of ``members`` already computed."""
    cdef uint64_t tag = h & _HIGH
    cdef uint64_t e
    cdef Py_ssize_t i = <Py_ssize_t>(h & <uint64_t>t.mask)
    cdef int sid, start
    while True:
        e = t.slots[i]
        if e == 0:
            break
        if (e & _HIGH) == tag:
            sid = <int>(e & 0xFFFFFFFFULL)
            start = info.data[2 * sid]
            if info.data[2 * sid + 2] - start == size and (
                memcmp(set_idx.data + start, members, size * sizeof(int)) == 0
            ):
                return sid
        i = (i + 1) & t.mask
    # New: the closing pair becomes this set's, and a new closing pair follows.
    sid = <int>(info.size // 2 - 1)
    t.slots[i] = tag | <uint64_t>sid
    _extend(set_idx, members, size)
    _push(info, <int>set_idx.size)
    _push(info, -1)
    t.used += 1
    if t.used * 2 > t.mask:
        _table_grow(t, info, set_idx)
    return sid


def effective_sets(
    n: int,
    order: Sequence[int],
    ptr: Sequence[int],
    idx: Sequence[int],
    flags: bytes | bytearray,
    bit: int,
) -> tuple[array[int], array[int], array[int]]:
    cdef carray.array oa, pa, ia, set_of_a, set_ptr_a
    cdef bytes fb
    cdef Py_ssize_t cn, t, len_o, len_p, len_i, len_f, j, k2, nsets
    cdef const int* o
    cdef const int* p
    cdef const int* x
    cdef const unsigned char* f
    cdef unsigned char b
    cdef int* so
    cdef NodeRec* rec = NULL
    cdef int* m
    cdef int v, k, u, w, s, start, end, sid, first, last
    # Sets made ahead for the next _LEAD nodes: size (0: none), hash, members.
    cdef int ring_size[_RING_MASK + 1]
    cdef uint64_t ring_hash[_RING_MASK + 1]
    cdef int ring[(_RING_MASK + 1) * _RING_WIDTH]
    cdef int* ahead
    cdef Py_ssize_t slot
    cdef IntVec info  # per set: start in set_idx, last node that merged it in; then the end
    cdef IntVec set_idx
    cdef IntVec members
    cdef IntVec singles  # members that are direct dependencies, before sorting
    cdef IntVec runs  # where each sorted run starts in members
    cdef IntVec scratch  # merge buffer
    cdef SetTable table
    if type(n) is not int or n < 0:
        bytes(4 * n)  # the pure twin's first step: raises exactly as it does there
    cn = n
    oa = _ints(order)
    pa = _ints(ptr)
    ia = _ints(idx)
    fb = _flag_bytes(flags)
    b = <unsigned char>(bit & 0xFF)  # flags are bytes: only the low bits can match
    o = oa.data.as_ints
    p = pa.data.as_ints
    x = ia.data.as_ints
    f = <const unsigned char*>fb
    len_o = Py_SIZE(oa)
    len_p = Py_SIZE(pa)
    len_i = Py_SIZE(ia)
    len_f = len(fb)
    set_of_a = _new_ints(cn, True)
    so = set_of_a.data.as_ints
    info.data = set_idx.data = members.data = singles.data = runs.data = scratch.data = NULL
    info.owned = set_idx.owned = members.owned = False
    singles.owned = runs.owned = scratch.owned = False
    table.slots = NULL
    try:
        # What the walk reads about a dependency sits in one record (one cache line).
        rec = <NodeRec*>_alloc(cn * sizeof(NodeRec))
        for j in range(cn):
            rec[j].set_id = 0
            rec[j].stamp = -1
            rec[j].visible = (f[j] & b) != 0 if j < len_f else 0
        _vec_init(&info, 128)
        _vec_init(&set_idx, len_i + 16)
        _vec_init(&members, 64)
        _vec_init(&singles, 64)
        _vec_init(&runs, 16)
        _vec_init(&scratch, 64)
        _table_init(&table, cn)
        memset(ring_size, 0, sizeof(ring_size))
        for k in (0, -1, 0, -1):  # set 0, the empty set; then the closing pair
            _push(&info, k)
        for t in range(len_o):
            # The order visits nodes all over memory: ask for the offsets, the
            # predecessor lists and the predecessors' sets a few nodes ahead.
            if t + 32 < len_o:
                v = o[t + 32]
                if 0 <= v < len_p - 1:
                    _prefetch(p + v)
            if t + 20 < len_o:
                v = o[t + 20]
                if 0 <= v < len_p - 1 and 0 <= p[v] < len_i:
                    _prefetch(x + p[v])
                if 0 <= v < cn:
                    _prefetch(rec + v)
            if t + 12 < len_o:
                v = o[t + 12]
                if 0 <= v < len_p - 1 and 0 <= p[v] <= p[v + 1] <= len_i:
                    for k in range(p[v], p[v + 1]):
                        if 0 <= x[k] < cn:
                            _prefetch(rec + x[k])
            if t + _LEAD < len_o:
                # A node whose few dependencies are all visible has them as its
                # set: make it now, and load the table slot it will be looked up in.
                slot = (t + _LEAD) & _RING_MASK
                ahead = ring + slot * _RING_WIDTH
                ring_size[slot] = 0
                v = o[t + _LEAD]
                if 0 <= v < len_p - 1 and 0 <= p[v] < p[v + 1] <= len_i:
                    if p[v + 1] - p[v] <= _RING_WIDTH:
                        j = 0
                        for k in range(p[v], p[v + 1]):
                            u = x[k]
                            if u < 0 or u >= cn or not rec[u].visible:
                                j = 0
                                break
                            ahead[j] = u
                            j += 1
                        if j:
                            _insertion_sort(ahead, j)
                            k2 = 1
                            for k in range(1, j):
                                if ahead[k] != ahead[k2 - 1]:
                                    ahead[k2] = ahead[k]
                                    k2 += 1
                            ring_size[slot] = <int>k2
                            ring_hash[slot] = _hash_ints(ahead, k2)
                            _prefetch(table.slots + (ring_hash[slot] & <uint64_t>table.mask))
            if t + 2 < len_o:
                v = o[t + 2]
                if 0 <= v < len_p - 1 and 0 <= p[v] <= p[v + 1] <= len_i:
                    for k in range(p[v], p[v + 1]):
                        u = x[k]
                        if 0 <= u < cn and not rec[u].visible:
                            _prefetch(info.data + 2 * rec[u].set_id)
            if t + 1 < len_o:
                v = o[t + 1]
                if 0 <= v < len_p - 1 and 0 <= p[v] <= p[v + 1] <= len_i:
                    for k in range(p[v], p[v + 1]):
                        u = x[k]
                        if 0 <= u < cn and not rec[u].visible:
                            _prefetch(set_idx.data + info.data[2 * rec[u].set_id])
            v = o[t]
            _check("ptr index", v + 1, len_p)
            _check("node", v, len_p)
            start = p[v]
            end = p[v + 1]
            if end == start:
                continue
            slot = t & _RING_MASK
            if ring_size[slot]:
                # Made ahead (see above): the sorted, distinct dependencies.
                _check("node", v, cn)
                rec[v].set_id = _intern_hashed(
                    &table, &info, &set_idx, ring + slot * _RING_WIDTH, ring_size[slot],
                    ring_hash[slot]
                )
                continue
            if end - start == 1:
                _check("idx index", start, len_i)
                u = x[start]
                _check("node", u, len_f)
                _check("node", u, cn)
                if not rec[u].visible:
                    _check("node", v, cn)
                    rec[v].set_id = rec[u].set_id
                    continue
            # Members come in sorted runs (each set taken in, minus nodes seen
            # already) and single nodes; the singles are sorted, then the runs
            # merged: cheaper than sorting everything.
            members.size = 0
            singles.size = 0
            runs.size = 0
            if end - start > singles.cap:
                _vec_grow(&singles, end - start)
            for k in range(start, end):
                _check("idx index", k, len_i)
                u = x[k]
                _check("node", u, len_f)
                _check("node", u, cn)
                if rec[u].visible:
                    if rec[u].stamp != v:
                        rec[u].stamp = v
                        singles.data[singles.size] = u
                        singles.size += 1
                else:
                    s = rec[u].set_id
                    if info.data[2 * s + 1] == v:
                        continue  # the same set through another join: nothing new
                    info.data[2 * s + 1] = v
                    first = info.data[2 * s]
                    last = info.data[2 * s + 2]
                    if members.size + (last - first) > members.cap:
                        _vec_grow(&members, members.size + (last - first))
                    m = members.data
                    j = members.size
                    for k2 in range(first, last):
                        w = set_idx.data[k2]
                        if rec[w].stamp != v:
                            rec[w].stamp = v
                            m[members.size] = w
                            members.size += 1
                    if members.size > j:
                        _push(&runs, <int>j)
            if singles.size:
                _sort_ints(singles.data, singles.size)
                _push(&runs, <int>members.size)
                _extend(&members, singles.data, singles.size)
            if runs.size > 1:
                _merge_runs(&members, &runs, &scratch)
            if members.size == 0:
                sid = 0
            else:
                sid = _intern_set(&table, &info, &set_idx, members.data, members.size)
            _check("node", v, cn)
            rec[v].set_id = sid
        for j in range(cn):
            so[j] = rec[j].set_id
        nsets = info.size // 2 - 1
        set_ptr_a = _new_ints(nsets + 1, False)
        for j in range(nsets + 1):
            set_ptr_a.data.as_ints[j] = info.data[2 * j]
        return set_of_a, set_ptr_a, _array_of(set_idx.data, set_idx.size)
    finally:
        free(rec)
        _vec_free(&info)
        _vec_free(&set_idx)
        _vec_free(&members)
        _vec_free(&singles)
        _vec_free(&runs)
        _vec_free(&scratch)
        _table_free(&table)
