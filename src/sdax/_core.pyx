# cython: language_level=3
# cython: binding=True
# cython: embedsignature=True
# cython: annotation_typing=False
# cython: auto_pickle=False
# cython: boundscheck=False
# cython: wraparound=False
# cython: initializedcheck=False
# cython: cdivision=True
"""Integer graph kernels of sdax, compiled.

The twin of ``sdax._core_py``: same names, same signatures, same results and
the same exceptions for the checks that module makes. The work runs over C
``int`` arrays; Python objects appear only at the edges (arguments in, result
arrays and ready lists out), and in :func:`resolve_names` (names to node
numbers), :func:`memo_map` and :func:`phase_flags` (per-node entries to
results and phase bits).

A graph of ``n`` nodes is given as a predecessor adjacency in CSR form (the
dependencies of node ``v`` are ``pred_idx[pred_ptr[v]:pred_ptr[v + 1]]``) and
per-node phase flags (bits ``PRE``, ``EXEC``, ``POST``). Graph results are
``array('i')`` objects (lists of ints for a cycle path and ``nodes_with``).

Arguments the pure twin indexes without checking (the order, set ids, node
numbers handed back to a run) are checked here before memory is touched: where
the pure twin raises ``IndexError`` this module raises ``IndexError`` too; a
negative node number, which Python would silently count from the end, is an
``IndexError`` here, except for ``RunState`` methods, which index exactly as the
pure twin's lists and bytearrays do.
"""

import array as _pyarray
import inspect as _inspect
import operator as _operator

from cpython cimport array as carray
from cpython.long cimport PyLong_AsLongAndOverflow, PyLong_CheckExact
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_GET_ITEM, PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_FromSsize_t
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.object cimport Py_SIZE, PyObject
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

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

cdef enum:
    _PRE = 1
    _POST = 4
    # Per-run node states (see RunState).
    _WAITING = 0
    _STARTED = 1
    _DONE = 2

cdef carray.array _INTS = _pyarray.array("i")

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define SDAX_PREFETCH(p) __builtin_prefetch(p)
    #else
    #define SDAX_PREFETCH(p) ((void)0)
    #endif
    #define SDAX_HIGH32 0xFFFFFFFF00000000ULL

    /* Big tables are read at random places; with 4 KiB pages nearly every read
       of a table much bigger than the caches also misses the TLB (and, in a
       virtual machine, walks two page tables). Asking Linux for transparent
       huge pages on the 2 MiB-aligned inside of a big block that has not been
       touched yet removes most of those misses and most page faults. It is a
       hint: it changes no result, and a kernel that refuses it changes nothing. */
    #if defined(__linux__)
    #include <stdint.h>
    #include <sys/mman.h>
    #define SDAX_HUGE_PAGE ((uintptr_t)2 << 20)
    static void sdax_huge_pages(void* p, size_t nbytes) {
    #ifdef MADV_HUGEPAGE
        uintptr_t start = ((uintptr_t)p + SDAX_HUGE_PAGE - 1) & ~(SDAX_HUGE_PAGE - 1);
        uintptr_t end = ((uintptr_t)p + nbytes) & ~(SDAX_HUGE_PAGE - 1);
        if (p != NULL && nbytes >= ((size_t)4 << 20) && end > start) {
            (void)madvise((void*)start, (size_t)(end - start), MADV_HUGEPAGE);
        }
    #else
        (void)p; (void)nbytes;
    #endif
    }
    #else
    static void sdax_huge_pages(void* p, size_t nbytes) { (void)p; (void)nbytes; }
    #endif
    """
    const uint64_t _HIGH "SDAX_HIGH32"  # the high half of a 64-bit hash
    # A hint to start loading memory the loop will need soon; it never faults.
    void _prefetch "SDAX_PREFETCH"(const void* p) noexcept nogil
    # Huge pages for a block of at least 4 MiB, before its pages are touched.
    void _huge_pages "sdax_huge_pages"(void* p, size_t nbytes) noexcept nogil


# ---------------------------------------------------------------------------
# Small C helpers: growable int vectors, sorting, hashing, conversions.
# ---------------------------------------------------------------------------

cdef struct IntVec:
    int* data
    Py_ssize_t size
    Py_ssize_t cap
    bint owned  # False while data points into a block owned by someone else


cdef int _vec_init(IntVec* vec, Py_ssize_t cap) except -1:
    if cap < 4:
        cap = 4
    vec.data = <int*>malloc(cap * sizeof(int))
    if vec.data == NULL:
        raise MemoryError()
    _huge_pages(vec.data, cap * sizeof(int))
    vec.size = 0
    vec.cap = cap
    vec.owned = True
    return 0


cdef int _vec_grow(IntVec* vec, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = vec.cap * 2 if vec.cap >= 4 else 8
    cdef int* data
    while cap < need:
        cap *= 2
    if vec.owned:
        data = <int*>realloc(vec.data, cap * sizeof(int))
        if data == NULL:
            raise MemoryError()
        _huge_pages(data, cap * sizeof(int))
    else:
        data = <int*>malloc(cap * sizeof(int))
        if data == NULL:
            raise MemoryError()
        _huge_pages(data, cap * sizeof(int))
        if vec.size:
            memcpy(data, vec.data, vec.size * sizeof(int))
        vec.owned = True
    vec.data = data
    vec.cap = cap
    return 0


cdef inline int _push(IntVec* vec, int x) except -1:
    if vec.size == vec.cap:
        _vec_grow(vec, vec.size + 1)
    vec.data[vec.size] = x
    vec.size += 1
    return 0


cdef int _extend(IntVec* vec, const int* src, Py_ssize_t count) except -1:
    if vec.size + count > vec.cap:
        _vec_grow(vec, vec.size + count)
    if count:
        memcpy(vec.data + vec.size, src, count * sizeof(int))
    vec.size += count
    return 0


cdef void _vec_free(IntVec* vec) noexcept:
    if vec.owned and vec.data != NULL:
        free(vec.data)
    vec.data = NULL
    vec.size = 0
    vec.cap = 0
    vec.owned = False


cdef void* _alloc(Py_ssize_t nbytes) except NULL:
    cdef void* p = malloc(nbytes if nbytes > 0 else 1)
    if p == NULL:
        raise MemoryError()
    _huge_pages(p, nbytes)
    return p


cdef void* _zalloc(Py_ssize_t count, size_t size) noexcept:
    """``calloc``, with huge pages for a big block (NULL when out of memory)."""
    cdef void* p = calloc(count, size)
    if p != NULL:
        _huge_pages(p, count * size)
    return p


cdef inline void _insertion_sort(int* a, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef int x
    for i in range(1, size):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


cdef void _heap_sort(int* a, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t start, end, root, child
    cdef int x
    start = size // 2
    end = size
    while end > 1:
        if start > 0:
            start -= 1
        else:
            end -= 1
            x = a[end]
            a[end] = a[0]
            a[0] = x
        root = start
        while True:
            child = 2 * root + 1
            if child >= end:
                break
            if child + 1 < end and a[child + 1] > a[child]:
                child += 1
            if a[root] >= a[child]:
                break
            x = a[root]
            a[root] = a[child]
            a[child] = x
            root = child


cdef void _intro_sort(int* a, Py_ssize_t size, int depth) noexcept nogil:
    # Quicksort (median of three, Hoare partition) down to small runs, which
    # insertion sort finishes; heapsort takes over if the partitions go bad.
    cdef Py_ssize_t i, j, mid
    cdef int pivot, x
    while size > 16:
        if depth == 0:
            _heap_sort(a, size)
            return
        depth -= 1
        mid = (size - 1) >> 1
        if a[mid] < a[0]:
            x = a[mid]; a[mid] = a[0]; a[0] = x
        if a[size - 1] < a[0]:
            x = a[size - 1]; a[size - 1] = a[0]; a[0] = x
        if a[size - 1] < a[mid]:
            x = a[size - 1]; a[size - 1] = a[mid]; a[mid] = x
        pivot = a[mid]
        i = -1
        j = size
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while a[j] > pivot:
                j -= 1
            if i >= j:
                break
            x = a[i]; a[i] = a[j]; a[j] = x
        # [0, j] <= pivot <= [j + 1, size): recurse into the smaller side.
        if j + 1 < size - j - 1:
            _intro_sort(a, j + 1, depth)
            a += j + 1
            size -= j + 1
        else:
            _intro_sort(a + j + 1, size - j - 1, depth)
            size = j + 1
    _insertion_sort(a, size)


cdef bint _radix_sort(int* a, Py_ssize_t size) noexcept nogil:
    """LSD radix sort, a byte per pass, as many passes as the largest value needs.

    Returns False (leaving ``a`` as it was) for negative values or no memory.
    """
    cdef Py_ssize_t count[256]
    cdef Py_ssize_t i, total, c
    cdef unsigned int top = 0
    cdef unsigned int shift = 0
    cdef unsigned int d
    cdef int* src = a
    cdef int* dst
    cdef int* other
    for i in range(size):
        if a[i] < 0:
            return False
        top |= <unsigned int>a[i]
    other = <int*>malloc(size * sizeof(int))
    if other == NULL:
        return False
    dst = other
    while shift < 32 and (top >> shift):
        memset(count, 0, sizeof(count))
        for i in range(size):
            count[(<unsigned int>src[i] >> shift) & 0xFF] += 1
        total = 0
        for d in range(256):
            c = count[d]
            count[d] = total
            total += c
        for i in range(size):
            d = (<unsigned int>src[i] >> shift) & 0xFF
            dst[count[d]] = src[i]
            count[d] += 1
        src, dst = dst, src
        shift += 8
    if src != a:
        memcpy(a, src, size * sizeof(int))
    free(other)
    return True


cdef inline void _sort_ints(int* a, Py_ssize_t size) noexcept nogil:
    cdef int depth = 0
    cdef Py_ssize_t s = size
    if size <= 16:
        _insertion_sort(a, size)
        return
    if size >= 512 and _radix_sort(a, size):
        return
    while s:
        depth += 2
        s >>= 1
    _intro_sort(a, size, depth)


cdef inline uint64_t _hash_ints(const int* a, Py_ssize_t size) noexcept nogil:
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL ^ <uint64_t>size
    cdef Py_ssize_t i
    for i in range(size):
        h = (h ^ <uint64_t><unsigned int>a[i]) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 29
    h ^= h >> 32
    return h


cdef carray.array _new_ints(Py_ssize_t size, bint zero):
    cdef carray.array out = carray.clone(_INTS, size, False)
    _huge_pages(out.data.as_ints, size * sizeof(int))
    if zero and size:
        memset(out.data.as_ints, 0, size * sizeof(int))
    return out


cdef carray.array _array_of(const int* data, Py_ssize_t size):
    cdef carray.array out = carray.clone(_INTS, size, False)
    _huge_pages(out.data.as_ints, size * sizeof(int))
    if size:
        memcpy(out.data.as_ints, data, size * sizeof(int))
    return out


cdef carray.array _ints(object seq):
    """``seq`` as an ``array('i')``, without a copy when it already is one."""
    if type(seq) is carray.array and (<carray.array>seq).ob_descr.typecode == c'i':
        return <carray.array>seq
    if isinstance(seq, (bytes, bytearray)):
        # array('i', b"...") would reinterpret the bytes; indexing gives one int per byte.
        seq = list(seq)
    return _pyarray.array("i", seq)


cdef bytes _flag_bytes(object flags):
    if type(flags) is bytes:
        return <bytes>flags
    if isinstance(flags, (bytes, bytearray)):
        return bytes(flags)
    return bytes(list(flags))


cdef int _index_error(str what, Py_ssize_t i, Py_ssize_t size) except -1:
    raise IndexError(f"{what} {i} is out of range (size {size})")


cdef inline int _check(str what, Py_ssize_t i, Py_ssize_t size) except -1:
    if i < 0 or i >= size:
        _index_error(what, i, size)
    return 0


# ---------------------------------------------------------------------------
# CSR validation (the same checks and messages as the pure twin).
# ---------------------------------------------------------------------------

cdef int _check_csr_slow(object n, object ptr, object idx) except -1:
    # Only reached when the values do not fit a C int: the pure twin's loops, verbatim.
    for v in range(n):
        if ptr[v] > ptr[v + 1]:
            raise ValueError(f"adjacency pointer array decreases at node {v}")
    for u in idx:
        if u < 0 or u >= n:
            raise ValueError(f"adjacency index {u} is out of range for {n} nodes")
    return 0


cdef tuple _checked_csr(object n, object ptr, object idx):
    cdef carray.array pa, ia
    cdef Py_ssize_t cn, v, k, m
    cdef const int* p
    cdef const int* x
    cdef int u
    if n < 0:
        raise ValueError(f"node count must be >= 0, got {n}")
    if len(ptr) != n + 1:
        raise ValueError(
            f"adjacency pointer array must have n + 1 = {n + 1} entries, got {len(ptr)}"
        )
    if ptr[0] != 0 or ptr[n] != len(idx):
        raise ValueError("adjacency pointer array must start at 0 and end at len(indices)")
    try:
        pa = _ints(ptr)
        ia = _ints(idx)
    except (OverflowError, TypeError):
        _check_csr_slow(n, ptr, idx)
        raise
    cn = Py_SIZE(pa) - 1
    m = Py_SIZE(ia)
    p = pa.data.as_ints
    x = ia.data.as_ints
    for v in range(cn):
        if p[v] > p[v + 1]:
            raise ValueError(f"adjacency pointer array decreases at node {v}")
    for k in range(m):
        u = x[k]
        if u < 0 or u >= cn:
            raise ValueError(f"adjacency index {u} is out of range for {n} nodes")
    return pa, ia


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
    keys = <const void**>malloc((total if total else 1) * sizeof(void*))
    if slots == NULL or keys == NULL:
        free(slots)
        free(keys)
        raise MemoryError()
    _huge_pages(keys, total * sizeof(void*))
    try:
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
    """``[fn(x) for x in items]``, calling ``fn`` once per distinct object.

    Objects are told apart by identity; ``fn`` is called in the order the
    objects first appear, and every item of the same object gets the same result.

    Args:
        fn: The function to apply.
        items: The objects, typically a few distinct ones repeated many times.

    Returns:
        The results, one per item.
    """
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
    """The nodes whose flags have ``bit``, in increasing order."""
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


# ---------------------------------------------------------------------------
# Graph and per-run state.
# ---------------------------------------------------------------------------

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

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self._arrays().n

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
        """Start the bookkeeping of one run."""
        cdef RunState state = RunState.__new__(RunState)
        state._start(self._arrays())
        return state


cdef class RunState:
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
        """Append the nodes whose pre can start right away to ``ready``."""
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
        """Record that ``node``'s pre succeeded; append newly ready nodes."""
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
        """Take back a node handed out by the pre phase but never called."""
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        cdef Py_ssize_t v = raw + a.n if raw < 0 else raw
        if self._state[v] != _STARTED:
            raise ValueError(f"node {node} has no pre in progress")
        self._state[v] = _WAITING

    def completed(self, node: int) -> bool:
        """Whether ``node`` passed the pre phase (its pre succeeded or it has none)."""
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        return self._state[raw + a.n if raw < 0 else raw] == _DONE

    def started(self, node: int) -> bool:
        """Whether ``node`` was reached: its pre started, or it completed."""
        cdef _Arrays a = self._arrays()
        cdef Py_ssize_t raw = self._raw_index(node, a.n, False)
        return self._state[raw + a.n if raw < 0 else raw] != _WAITING

    def post_begin(self, ready: list[int]) -> None:
        """Append the owed posts that can run right away to ``ready``.

        Call it once, after the pre phase (and any execute phase) ended.
        """
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
        """Record that ``node``'s post finished; append newly ready posts."""
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
