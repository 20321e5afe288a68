# cython: language_level=3
# cython: binding=True
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

Every public docstring is written once, in the pure twin, and taken from it at
import: a function's or method's ``__doc__`` is set at the end of this module
(with ``binding=True`` they are Cython functions, whose ``__doc__`` is
writable), a class's in its body (an extension type's ``__doc__`` is fixed once
the type exists).
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

# The pure twin: where the public docstrings are written.
from sdax._kernels import _core_py as _twin

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

# The kernels, by concept (Cython includes: one extension module).
include "_core_util.pxi"
include "_core_names.pxi"
include "_core_order.pxi"
include "_core_sets.pxi"
include "_core_waves.pxi"
include "_core_run.pxi"


def _take_docstrings() -> None:
    # The public functions, methods and properties get the pure twin's docstrings.
    cdef dict names = globals()
    for name in __all__:
        ours = names[name]
        theirs = getattr(_twin, name)
        if isinstance(ours, type):
            for member, obj in vars(ours).items():
                if not member.startswith("_"):
                    obj.__doc__ = _inspect.getattr_static(theirs, member).__doc__
        elif callable(ours):
            ours.__doc__ = theirs.__doc__


_take_docstrings()
del _take_docstrings
