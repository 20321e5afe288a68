# Part of _core.pyx (included there; not a module of its own).
# The phase bits and the C helpers of the compiled core (as _core_py_util.py):
# growable int vectors, sorting, hashing, conversions, allocation (with
# huge-page hints) and CSR validation.

PRE = 1
EXEC = 2
POST = 4

cdef enum:
    _PRE = 1
    _POST = 4

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
