# Part of _core.pyx (included there; not a module of its own).
# Build kernels that meet Python objects: names to node numbers, one result
# per distinct phase entry, phase flags, the nodes that have a phase.

# ---------------------------------------------------------------------------
# Build-time kernels.
# ---------------------------------------------------------------------------

# The names of a graph are mapped to node numbers through an identity table:
# open addressing over object addresses, which reads one slot per lookup
# instead of the three to four scattered objects (key, hash entry, int value)
# a dict lookup touches. Names that are equal but not the same object, and
# names that are missing, go to a dict by equality, built only if needed.

cdef struct _Slot:
    const void* key
    Py_ssize_t value

cdef enum:
    # How far ahead of the current name the slot it will need is prefetched.
    _AHEAD = 32


cdef inline Py_ssize_t _slot(const void* key, int shift) noexcept nogil:
    # Fibonacci hashing of the address; the top bits index the table.
    return <Py_ssize_t>(((<uint64_t><size_t>key) * 0x9E3779B97F4A7C15ULL) >> shift)


cdef inline Py_ssize_t _probe(
    const _Slot* slots, Py_ssize_t mask, int shift, const void* key
) noexcept nogil:
    # The slot holding ``key``, or the free slot where it belongs (linear probing).
    cdef Py_ssize_t h = _slot(key, shift)
    while slots[h].key != NULL and slots[h].key != key:
        h = (h + 1) & mask
    return h


def resolve_names(
    names: Sequence[Hashable], groups: Sequence[Sequence[Hashable]]
) -> tuple[array[int], array[int]]:
    # The table holds bare addresses and never reads through them, so a name
    # dropped meanwhile cannot make a false match: every key it is compared
    # with stays alive in our own copy of the groups, which is read through.
    cdef list name_list = names if type(names) is list else list(names)
    cdef list group_list = list(groups)
    cdef Py_ssize_t n = len(name_list)
    cdef Py_ssize_t m = len(group_list)
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t g, i, k, e, size, mask, found
    cdef int shift = 64
    cdef _Slot* slots = NULL
    cdef const void** keys = NULL
    cdef const void* key
    cdef carray.array ptr_a, idx_a
    cdef int* ptr
    cdef int* idx
    cdef dict by_value = None
    cdef PyObject* hit
    cdef tuple group_tuple
    # Each group as a tuple, whose items cannot change while they are read.
    for g in range(m):
        group = group_list[g]
        if type(group) is not tuple:
            group = tuple(group)
            group_list[g] = group
        total += len(<tuple>group)
    if total > 0x7FFFFFFF or n > 0x7FFFFFFF:
        raise OverflowError("too many names or dependencies for a C int")
    ptr_a = _new_ints(m + 1, False)
    idx_a = _new_ints(total, False)
    ptr = ptr_a.data.as_ints
    idx = idx_a.data.as_ints
    size = 16
    while size < 2 * n:
        size <<= 1
    k = size
    while k > 1:
        shift -= 1
        k >>= 1
    mask = size - 1
    slots = <_Slot*>_zalloc(size, sizeof(_Slot))
    if slots == NULL:
        raise MemoryError()
    try:
        keys = <const void**>_alloc(total * sizeof(void*))
        # Only addresses are read (borrowed items): the name objects
        # themselves, scattered in memory, are never touched.
        for i in range(n):
            if i + _AHEAD < n:
                _prefetch(&slots[_slot(PyList_GET_ITEM(name_list, i + _AHEAD), shift)])
            key = PyList_GET_ITEM(name_list, i)
            k = _probe(slots, mask, shift, key)
            slots[k].key = key
            slots[k].value = i
        e = 0
        ptr[0] = 0
        for g in range(m):
            group_tuple = <tuple>group_list[g]
            for k in range(PyTuple_GET_SIZE(group_tuple)):
                keys[e] = PyTuple_GET_ITEM(group_tuple, k)
                e += 1
            ptr[g + 1] = <int>e
        for e in range(total):
            if e + _AHEAD < total:
                _prefetch(&slots[_slot(keys[e + _AHEAD], shift)])
            k = _probe(slots, mask, shift, keys[e])
            found = slots[k].value if slots[k].key != NULL else -1
            if found < 0:
                # Equal but not the same object, or no such name.
                if by_value is None:
                    by_value = {name: pos for pos, name in enumerate(name_list)}
                hit = PyDict_GetItemWithError(by_value, <object>keys[e])
                if hit == NULL:
                    raise KeyError(<object>keys[e])
                found = <object>hit
            idx[e] = <int>found
    finally:
        free(slots)
        free(keys)
    return ptr_a, idx_a


def memo_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    # A list is read in place (big ones cost megabytes to copy), all of it
    # before ``fn`` runs, so ``fn`` cannot change what is being read.
    cdef list item_list = items if type(items) is list else list(items)
    cdef Py_ssize_t n = len(item_list)
    cdef Py_ssize_t size = 16
    cdef Py_ssize_t i, k, h
    cdef int shift = 60
    cdef _Slot* slots = <_Slot*>_zalloc(size, sizeof(_Slot))
    cdef _Slot* bigger
    cdef int* at = NULL  # per item, the number of its distinct object
    cdef list distinct = []
    cdef list results
    cdef list out
    cdef const void* key
    cdef object result
    if slots == NULL:
        raise MemoryError()
    try:
        at = <int*>_alloc(n * sizeof(int))
        for i in range(n):
            key = PyList_GET_ITEM(item_list, i)
            h = _probe(slots, size - 1, shift, key)
            if slots[h].key == NULL:
                slots[h].key = key
                slots[h].value = len(distinct)
                distinct.append(<object>key)
                if len(distinct) * 2 > size:
                    bigger = <_Slot*>_zalloc(size * 2, sizeof(_Slot))
                    if bigger == NULL:
                        raise MemoryError()
                    shift -= 1
                    for k in range(size):
                        if slots[k].key != NULL:
                            bigger[_probe(bigger, 2 * size - 1, shift, slots[k].key)] = slots[k]
                    free(slots)
                    slots = bigger
                    size *= 2
                    h = _probe(slots, size - 1, shift, key)
            at[i] = <int>slots[h].value
        free(slots)
        slots = NULL
        results = [fn(x) for x in distinct]
        out = PyList_New(n)
        for i in range(n):
            result = <object>PyList_GET_ITEM(results, at[i])
            Py_INCREF(result)
            PyList_SET_ITEM(out, i, result)
    finally:
        free(slots)
        free(at)
    return out


def phase_flags(pre: Sequence[Any], execute: Sequence[Any], post: Sequence[Any]) -> bytes:
    # Lists are read in place: nothing here can change them.
    cdef list a = pre if type(pre) is list else list(pre)
    cdef list b = execute if type(execute) is list else list(execute)
    cdef list c = post if type(post) is list else list(post)
    cdef Py_ssize_t n = len(a)
    cdef Py_ssize_t v
    cdef bytearray out
    cdef unsigned char* f
    cdef void* none = <void*>None
    if len(b) != n or len(c) != n:
        raise ValueError(
            f"phase lists differ in length: {n}, {len(b)} and {len(c)} entries"
        )
    out = bytearray(n)
    f = <unsigned char*>(<char*>out)
    for v in range(n):
        f[v] = (
            (PyList_GET_ITEM(a, v) != none)
            | (PyList_GET_ITEM(b, v) != none) << 1
            | (PyList_GET_ITEM(c, v) != none) << 2
        )
    return bytes(out)


def nodes_with(flags: bytes | bytearray, bit: int) -> list[int]:
    cdef bytes fb = _flag_bytes(flags)
    cdef const unsigned char* f = <const unsigned char*>fb
    cdef Py_ssize_t n = len(fb)
    cdef Py_ssize_t v, count = 0
    cdef unsigned char b = <unsigned char>(bit & 0xFF)  # a byte has no higher bits
    cdef list out
    cdef object item
    for v in range(n):
        if f[v] & b:
            count += 1
    out = PyList_New(count)
    count = 0
    for v in range(n):
        if f[v] & b:
            item = PyLong_FromSsize_t(v)
            Py_INCREF(item)  # the list takes this reference
            PyList_SET_ITEM(out, count, item)
            count += 1
    return out
