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

The twin of ``sdax._kernels._core_py``: same names, same signatures, same results and
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

# The kernels, by concept (Cython includes: one extension module).
include "_core_util.pxi"
include "_core_names.pxi"
include "_core_order.pxi"
include "_core_sets.pxi"
include "_core_waves.pxi"
include "_core_run.pxi"
