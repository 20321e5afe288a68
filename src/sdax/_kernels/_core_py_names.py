"""Pure twin: names to node numbers, per-node maps and phase bits (as ``_core_names.pxi``)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate
from typing import Any


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
    position = {name: i for i, name in enumerate(names)}
    group_list = [g if type(g) is tuple else tuple(g) for g in groups]
    ptr = array("i", [0])
    ptr.extend(accumulate(map(len, group_list)))
    return ptr, array("i", [position[key] for group in group_list for key in group])


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
    item_list = list(items)
    ids = list(map(id, item_list))
    first = dict(zip(ids, item_list, strict=True))  # keeps the order of first appearance
    results = {key: fn(obj) for key, obj in first.items()}
    return list(map(results.__getitem__, ids))


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
    if not len(pre) == len(execute) == len(post):
        raise ValueError(
            f"phase lists differ in length: {len(pre)}, {len(execute)} and {len(post)} entries"
        )
    return bytes(
        [
            (a is not None) | (b is not None) << 1 | (c is not None) << 2
            for a, b, c in zip(pre, execute, post, strict=True)
        ]
    )


def nodes_with(flags: bytes | bytearray, bit: int) -> list[int]:
    """The nodes whose flags have ``bit``, in increasing order."""
    mask = bit & 0xFF  # a byte has no higher bits
    return [v for v, f in enumerate(flags) if f & mask]
