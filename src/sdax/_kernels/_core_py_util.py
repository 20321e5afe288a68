"""Pure twin: the phase bits and the shared checks (as ``_core_util.pxi``)."""

from __future__ import annotations

from collections.abc import Sequence

PRE = 1
EXEC = 2
POST = 4


def _check_csr(n: int, ptr: Sequence[int], idx: Sequence[int]) -> None:
    if n < 0:
        raise ValueError(f"node count must be >= 0, got {n}")
    if len(ptr) != n + 1:
        raise ValueError(
            f"adjacency pointer array must have n + 1 = {n + 1} entries, got {len(ptr)}"
        )
    if ptr[0] != 0 or ptr[n] != len(idx):
        raise ValueError("adjacency pointer array must start at 0 and end at len(indices)")
    for v in range(n):
        if ptr[v] > ptr[v + 1]:
            raise ValueError(f"adjacency pointer array decreases at node {v}")
    for u in idx:
        if u < 0 or u >= n:
            raise ValueError(f"adjacency index {u} is out of range for {n} nodes")
