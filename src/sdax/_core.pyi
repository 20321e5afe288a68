"""Type stub of the compiled integer core (``_core.pyx``), twin of ``_core_py``."""

from array import array
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final

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

PRE: Final[int]
EXEC: Final[int]
POST: Final[int]

def resolve_names(
    names: Sequence[Hashable], groups: Sequence[Sequence[Hashable]]
) -> tuple[array[int], array[int]]:
    """Replace names by their positions in ``names``, group by group."""

def memo_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]``, calling ``fn`` once per distinct object."""

def phase_flags(pre: Sequence[Any], execute: Sequence[Any], post: Sequence[Any]) -> bytes:
    """The phase bits of each node, from its three phase entries."""

def nodes_with(flags: bytes | bytearray, bit: int) -> list[int]:
    """The nodes whose flags have ``bit``, in increasing order."""

def successors(
    n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]
) -> tuple[array[int], array[int]]:
    """Transpose a predecessor CSR into a successor CSR."""

def forward_order(n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]) -> array[int] | None:
    """``0, 1, ..., n - 1`` when every node comes after all its predecessors, else None."""

def topological_order(
    n: int, pred_ptr: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int]
) -> array[int]:
    """Kahn's topological order, first-in first-out, lowest index first."""

def find_cycle(n: int, pred_ptr: Sequence[int], pred_idx: Sequence[int]) -> list[int]:
    """Find one dependency cycle (empty list when there is none)."""

def effective_sets(
    n: int,
    order: Sequence[int],
    ptr: Sequence[int],
    idx: Sequence[int],
    flags: bytes | bytearray,
    bit: int,
) -> tuple[array[int], array[int], array[int]]:
    """Effective neighbour sets, looking through nodes that lack a phase."""

def pre_waves(
    order: Sequence[int], flags: bytes | bytearray, set_of: Sequence[int]
) -> tuple[array[int], array[int]]:
    """Group the nodes that have a pre phase into waves."""

def post_levels(
    order: Sequence[int], succ_ptr: Sequence[int], succ_idx: Sequence[int], flags: bytes | bytearray
) -> tuple[array[int], int]:
    """Group the nodes that have a post phase into cleanup levels."""

def group_unions(
    group_of: Sequence[int],
    groups: int,
    set_of: Sequence[int],
    set_ptr: Sequence[int],
    set_idx: Sequence[int],
) -> tuple[array[int], array[int]]:
    """Union of the sets of all members of each group."""

class Graph:
    """A validated, acyclic graph prepared for runs."""

    def __init__(
        self,
        pred_ptr: Sequence[int],
        pred_idx: Sequence[int],
        succ_ptr: Sequence[int],
        succ_idx: Sequence[int],
        flags: bytes | bytearray,
    ) -> None: ...
    @property
    def size(self) -> int:
        """Number of nodes."""

    def run(self) -> RunState:
        """Start the bookkeeping of one run."""

class RunState:
    """Per-run ready-set bookkeeping over a ``Graph``."""

    def __init__(self, graph: Graph) -> None: ...
    def pre_begin(self, ready: list[int]) -> None:
        """Append the nodes whose pre can start right away to ``ready``."""

    def pre_done(self, node: int, ready: list[int]) -> None:
        """Record that ``node``'s pre succeeded; append newly ready nodes."""

    def unstart(self, node: int) -> None:
        """Take back a node handed out by the pre phase but never called."""

    def completed(self, node: int) -> bool:
        """Whether ``node`` passed the pre phase (its pre succeeded or it has none)."""

    def started(self, node: int) -> bool:
        """Whether ``node`` was reached: its pre started, or it completed."""

    def post_begin(self, ready: list[int]) -> None:
        """Append the owed posts that can run right away to ``ready``."""

    def post_done(self, node: int, ready: list[int]) -> None:
        """Record that ``node``'s post finished; append newly ready posts."""
