"""Integer graph kernels of sdax, in pure Python.

This module is the twin of the compiled ``_core`` extension: same names, same
signatures, same results, same exceptions. It knows nothing about tasks, task
functions or asyncio; apart from :func:`resolve_names` (names to node
numbers), :func:`memo_map` and :func:`phase_flags` (per-node entries to results
and phase bits), it deals in integers only. A graph of ``n`` nodes is given as
a predecessor adjacency in CSR form: the dependencies of node ``v`` are
``pred_idx[pred_ptr[v]:pred_ptr[v + 1]]``. Node flags are a bytes-like object
of length ``n`` whose bits say which phases a node has (``PRE``, ``EXEC``,
``POST``).

Graph results are ``array('i')`` objects (lists of ints for a cycle path and
``nodes_with``), so results compare equal between the twins.

The public docstrings are written here only: the compiled twin takes them from
this module at import (see ``_core.pyx``), and type checkers read this module
for both twins (the compiled one has no stub).
"""

from __future__ import annotations

from sdax._kernels._core_py_names import memo_map, nodes_with, phase_flags, resolve_names
from sdax._kernels._core_py_order import find_cycle, forward_order, successors, topological_order
from sdax._kernels._core_py_run import Graph, RunState
from sdax._kernels._core_py_sets import effective_sets
from sdax._kernels._core_py_util import EXEC, POST, PRE
from sdax._kernels._core_py_waves import group_unions, post_levels, pre_waves

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

# One twin, one public path: reprs and pickles name sdax._kernels._core_py, where the
# names are importable (the parts are only how the source is laid out).
for _obj in (Graph, RunState):
    _obj.__module__ = __name__
del _obj
