"""Unit tests of the build-time kernels of the integer core, on both twins.

Graphs are written as predecessor lists (``deps[v]`` are the nodes ``v`` depends
on) and turned into CSR arrays by ``csr``.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from types import ModuleType
from typing import Any, cast

import pytest
from _support import PHASE_BITS, csr, sets_of

PRE, EXEC, POST = PHASE_BITS


def build(
    core: ModuleType, deps: Sequence[Sequence[int]]
) -> tuple[int, array[int], array[int], array[int], array[int], array[int]]:
    """``n``, both CSRs and the topological order of ``deps``."""
    n = len(deps)
    pp, pi = csr(deps)
    sp, si = core.successors(n, pp, pi)
    order = core.topological_order(n, pp, sp, si)
    return n, pp, pi, sp, si, order


# -- resolve_names ---------------------------------------------------------------


def test_resolve_names_gives_positions_group_by_group(core: ModuleType) -> None:
    ptr, idx = core.resolve_names(["a", "b", "c"], [("c", "a"), (), ("b",), ("a", "a")])
    assert isinstance(ptr, array) and ptr.typecode == "i"
    assert isinstance(idx, array) and idx.typecode == "i"
    assert list(ptr) == [0, 2, 2, 3, 5]
    assert list(idx) == [2, 0, 1, 0, 0]


def test_resolve_names_matches_equal_names_that_are_other_objects(core: ModuleType) -> None:
    class Key:
        def __init__(self, value: int) -> None:
            self.value = value

        def __hash__(self) -> int:
            return hash(self.value)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Key) and other.value == self.value

    names = [Key(1), Key(2), "x" * 3, (1, "t")]
    groups = [[Key(2)], (names[0], Key(1)), ("".join(["x", "xx"]), (1, "t")), iter([Key(2)])]
    ptr, idx = core.resolve_names(names, groups)
    assert list(ptr) == [0, 1, 3, 5, 6]
    assert list(idx) == [1, 0, 0, 2, 3, 1]


def test_resolve_names_leaves_its_arguments_alone(core: ModuleType) -> None:
    names = ["a", "b"]
    groups: list[object] = [["b"], ("a",)]
    core.resolve_names(names, groups)
    assert names == ["a", "b"]
    assert groups == [["b"], ("a",)]
    assert type(groups[0]) is list


def test_resolve_names_of_nothing(core: ModuleType) -> None:
    assert core.resolve_names([], []) == (array("i", [0]), array("i"))
    assert core.resolve_names(["a"], [()]) == (array("i", [0, 0]), array("i"))


def test_resolve_names_raises_key_error_for_an_unknown_name(core: ModuleType) -> None:
    with pytest.raises(KeyError) as info:
        core.resolve_names(["a", "b"], [("a",), ("b", "zzz")])
    assert info.value.args == ("zzz",)
    with pytest.raises(KeyError):
        core.resolve_names([], [("a",)])


def test_resolve_names_raises_type_error_for_an_unhashable_name(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="unhashable"):
        core.resolve_names(["a"], [("a", ["b"])])


def test_resolve_names_over_many_names(core: ModuleType) -> None:
    # Enough names for the table to have many probes and collisions.
    names = [f"n{i}" for i in range(5000)]
    groups = [tuple(names[(i * 7 + k) % 5000] for k in range(3)) for i in range(5000)]
    ptr, idx = core.resolve_names(names, groups)
    assert list(idx) == [(i * 7 + k) % 5000 for i in range(5000) for k in range(3)]
    assert list(ptr) == list(range(0, 15001, 3))


# -- memo_map, phase_flags, nodes_with ---------------------------------------------


def test_memo_map_calls_once_per_distinct_object_in_first_seen_order(core: ModuleType) -> None:
    a, b, c = object(), object(), object()
    calls: list[object] = []

    def fn(x: object) -> tuple[str, object]:
        calls.append(x)
        return ("made", x)

    items = [b, a, b, None, a, c, None, b]
    out = core.memo_map(fn, items)
    assert calls == [b, a, None, c]
    assert out == [("made", x) for x in items]
    assert out[0] is out[2] is out[7]
    assert out[3] is out[6]


def test_memo_map_tells_equal_objects_apart(core: ModuleType) -> None:
    x, y = [1], [1]  # equal, not the same, and unhashable
    out = core.memo_map(lambda obj: object(), (x, y, x))
    assert out[0] is out[2] and out[0] is not out[1]


def test_memo_map_over_many_distinct_objects(core: ModuleType) -> None:
    # Enough distinct objects for the table to grow several times.
    objs = [object() for _ in range(3000)]
    items = objs + objs[::-1]
    out = core.memo_map(id, items)
    assert out == [id(o) for o in items]
    assert core.memo_map(id, []) == []


def test_memo_map_passes_the_first_error_on(core: ModuleType) -> None:
    def fn(x: int) -> int:
        if x == 3:
            raise LookupError(x)
        return x

    with pytest.raises(LookupError) as info:
        core.memo_map(fn, [1, 2, 3, 4])
    assert info.value.args == (3,)


def test_memo_map_maps_the_items_as_they_were_when_called(core: ModuleType) -> None:
    # fn empties and refills the list it is mapping: the result still covers
    # the items the call was given, each object once.
    items: list[object] = ["a", "b", "a"]
    calls: list[object] = []

    def fn(x: object) -> str:
        calls.append(x)
        items.clear()
        items.extend(["z"] * 10)
        return f"<{x}>"

    assert core.memo_map(fn, items) == ["<a>", "<b>", "<a>"]
    assert calls == ["a", "b"]


def test_phase_flags_mark_the_entries_that_are_not_none(core: ModuleType) -> None:
    f = object()
    flags = core.phase_flags([f, None, f, None], [None, f, f, None], [f, f, 0, None])
    assert flags == bytes([PRE | POST, EXEC | POST, PRE | EXEC | POST, 0])
    assert type(flags) is bytes
    assert core.phase_flags([], (), []) == b""


def test_phase_flags_need_lists_of_one_length(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        core.phase_flags([None], [None, None], [None])


def test_nodes_with_a_bit(core: ModuleType) -> None:
    flags = bytes([PRE, EXEC, PRE | EXEC, 0, POST, EXEC | POST])
    assert core.nodes_with(flags, EXEC) == [1, 2, 5]
    assert core.nodes_with(bytearray(flags), PRE) == [0, 2]
    assert core.nodes_with(flags, 8) == []
    assert core.nodes_with(flags, 256 | POST) == [4, 5]
    assert core.nodes_with(b"", EXEC) == []
    with pytest.raises(TypeError):
        core.nodes_with(flags, cast(Any, 1.5))


# -- successors ------------------------------------------------------------------


def test_successors_of_a_diamond(core: ModuleType) -> None:
    pp, pi = csr([[], [0], [0], [1, 2]])
    sp, si = core.successors(4, pp, pi)
    assert isinstance(sp, array) and sp.typecode == "i"
    assert isinstance(si, array) and si.typecode == "i"
    assert list(sp) == [0, 2, 3, 4, 4]
    assert list(si) == [1, 2, 3, 3]


def test_successors_come_in_node_order(core: ModuleType) -> None:
    pp, pi = csr([[], [0], [1, 0], [2, 1, 0]])
    sp, si = core.successors(4, pp, pi)
    assert [list(si[sp[v] : sp[v + 1]]) for v in range(4)] == [[1, 2, 3], [2, 3], [3], []]


def test_successors_of_the_empty_graph(core: ModuleType) -> None:
    sp, si = core.successors(0, array("i", [0]), array("i"))
    assert list(sp) == [0]
    assert list(si) == []


def test_successors_accept_lists(core: ModuleType) -> None:
    sp, si = core.successors(3, [0, 0, 1, 3], [0, 0, 1])
    assert list(sp) == [0, 2, 3, 3]
    assert list(si) == [1, 2, 2]


@pytest.mark.parametrize(
    ("n", "ptr", "idx", "message"),
    [
        (-1, [0], [], "node count must be >= 0, got -1"),
        (2, [0, 0], [], "adjacency pointer array must have n + 1 = 3 entries, got 2"),
        (2, [1, 1, 1], [0], "adjacency pointer array must start at 0 and end at len(indices)"),
        (2, [0, 0, 2], [0], "adjacency pointer array must start at 0 and end at len(indices)"),
        (3, [0, 2, 1, 2], [0, 0], "adjacency pointer array decreases at node 1"),
        (3, [0, 0, 1, 2], [0, 3], "adjacency index 3 is out of range for 3 nodes"),
        (3, [0, 0, 1, 2], [-1, 0], "adjacency index -1 is out of range for 3 nodes"),
        # Values beyond a C int take another path in the compiled twin: same words.
        (2, [0, 0, 1], [2**40], "adjacency index 1099511627776 is out of range for 2 nodes"),
        (2, [0, 2**40, 1], [0], "adjacency pointer array decreases at node 1"),
    ],
)
def test_successors_reject_malformed_csr(
    core: ModuleType, n: int, ptr: list[int], idx: list[int], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        core.successors(n, ptr, idx)
    assert str(info.value) == message


# -- forward_order ---------------------------------------------------------------


def test_forward_order_is_the_identity_when_every_edge_points_back(core: ModuleType) -> None:
    n, pp, pi = 5, *csr([[], [0], [0], [2, 1], [0, 3]])
    order = core.forward_order(n, pp, pi)
    assert isinstance(order, array) and order.typecode == "i"
    assert list(order) == [0, 1, 2, 3, 4]
    assert list(core.forward_order(0, [0], [])) == []


@pytest.mark.parametrize(
    "deps",
    [
        [[1], []],  # node 0 depends on a later node
        [[], [1]],  # a node depends on itself
        [[], [0], [0, 3], []],  # one later dependency among earlier ones
        [[1], [0]],  # a cycle
    ],
)
def test_forward_order_is_none_when_a_dependency_comes_later(
    core: ModuleType, deps: list[list[int]]
) -> None:
    assert core.forward_order(len(deps), *csr(deps)) is None


def test_forward_order_rejects_malformed_csr(core: ModuleType) -> None:
    with pytest.raises(ValueError):
        core.forward_order(2, [0, 1], [0])  # pointer array too short
    with pytest.raises(ValueError):
        core.forward_order(2, [0, 0, 1], [5])  # no such node


# -- topological_order -----------------------------------------------------------


def test_topological_order_is_fifo_from_the_roots_in_index_order(core: ModuleType) -> None:
    _, _, _, _, _, order = build(core, [[], [], [0], [1], [2, 3]])
    assert isinstance(order, array) and order.typecode == "i"
    assert list(order) == [0, 1, 2, 3, 4]


def test_topological_order_follows_dependencies_not_indices(core: ModuleType) -> None:
    _, _, _, _, _, order = build(core, [[1], [2], []])
    assert list(order) == [2, 1, 0]


def test_topological_order_queues_a_node_when_its_last_dependency_is_taken(
    core: ModuleType,
) -> None:
    # 3 waits for 0 and 2; 1 is queued (by 0) before 3 is (by 2).
    _, _, _, _, _, order = build(core, [[], [0], [0], [0, 2]])
    assert list(order) == [0, 1, 2, 3]


def test_topological_order_is_short_when_there_is_a_cycle(core: ModuleType) -> None:
    n, _, _, _, _, order = build(core, [[1], [0], [], [2], [3, 0]])
    assert list(order) == [2, 3]
    assert len(order) < n


def test_topological_order_of_nothing(core: ModuleType) -> None:
    assert list(core.topological_order(0, [0], [0], [])) == []


# -- find_cycle ------------------------------------------------------------------


def test_find_cycle_on_an_acyclic_graph_is_empty(core: ModuleType) -> None:
    pp, pi = csr([[], [0], [0, 1]])
    assert core.find_cycle(3, pp, pi) == []


def test_find_cycle_of_two_nodes(core: ModuleType) -> None:
    pp, pi = csr([[1], [0]])
    assert core.find_cycle(2, pp, pi) == [0, 1, 0]


def test_find_cycle_of_a_self_dependency(core: ModuleType) -> None:
    pp, pi = csr([[], [1]])
    assert core.find_cycle(2, pp, pi) == [1, 1]


def test_find_cycle_reports_only_the_loop_not_the_way_in(core: ModuleType) -> None:
    pp, pi = csr([[1], [2], [3], [1]])
    path = core.find_cycle(4, pp, pi)
    assert type(path) is list
    assert path == [1, 2, 3, 1]


def test_find_cycle_follows_dependencies_in_their_given_order(core: ModuleType) -> None:
    # 0 depends on 1 then 2; both lead back to 0: the walk takes 1 first.
    pp, pi = csr([[1, 2], [0], [0]])
    assert core.find_cycle(3, pp, pi) == [0, 1, 0]
    pp, pi = csr([[2, 1], [0], [0]])
    assert core.find_cycle(3, pp, pi) == [0, 2, 0]


def test_find_cycle_rejects_a_negative_count_as_the_pure_twin_does(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="negative count"):
        core.find_cycle(-1, [0], [])


# -- effective_sets --------------------------------------------------------------


def test_effective_sets_when_every_node_has_the_phase(core: ModuleType) -> None:
    n, pp, pi, _, _, order = build(core, [[], [0], [0], [1, 2]])
    set_of, set_ptr, set_idx = core.effective_sets(n, order, pp, pi, bytes([PRE] * 4), PRE)
    assert all(isinstance(a, array) and a.typecode == "i" for a in (set_of, set_ptr, set_idx))
    # Equal sets are stored once: 1 and 2 share the set {0}.
    assert list(set_of) == [0, 1, 1, 2]
    assert list(set_ptr) == [0, 0, 1, 3]
    assert list(set_idx) == [0, 1, 2]


def test_effective_sets_look_through_a_join(core: ModuleType) -> None:
    # 2 is a join (no phase) over 0 and 1; 3 depends on it, 4 on it and on 0.
    flags = bytes([PRE, PRE, 0, PRE, PRE])
    n, pp, pi, _, _, order = build(core, [[], [], [0, 1], [2], [2, 0]])
    set_of, set_ptr, set_idx = core.effective_sets(n, order, pp, pi, flags, PRE)
    assert sets_of(set_of, set_ptr, set_idx) == [[], [], [0, 1], [0, 1], [0, 1]]
    assert list(set_of) == [0, 0, 1, 1, 1]
    assert list(set_ptr) == [0, 0, 2]


def test_effective_sets_pass_through_chains_of_phase_less_nodes(core: ModuleType) -> None:
    flags = bytes([PRE, 0, 0, 0, PRE])
    n, pp, pi, _, _, order = build(core, [[], [0], [1], [2], [3]])
    set_of, set_ptr, set_idx = core.effective_sets(n, order, pp, pi, flags, PRE)
    assert sets_of(set_of, set_ptr, set_idx) == [[], [0], [0], [0], [0]]


def test_effective_sets_that_see_nothing_are_the_empty_set_0(core: ModuleType) -> None:
    flags = bytes([0, 0, PRE])
    n, pp, pi, _, _, order = build(core, [[], [0], [0, 1]])
    set_of, set_ptr, set_idx = core.effective_sets(n, order, pp, pi, flags, PRE)
    assert list(set_of) == [0, 0, 0]
    assert list(set_ptr) == [0, 0]
    assert list(set_idx) == []


def test_effective_sets_are_sorted_and_without_repeats(core: ModuleType) -> None:
    flags = bytes([PRE, PRE, PRE, 0, PRE])
    n, pp, pi, _, _, order = build(core, [[], [], [], [2, 0], [3, 1, 2, 0, 1]])
    set_of, set_ptr, set_idx = core.effective_sets(n, order, pp, pi, flags, PRE)
    assert sets_of(set_of, set_ptr, set_idx)[4] == [0, 1, 2]
    assert sets_of(set_of, set_ptr, set_idx)[3] == [0, 2]


def test_effective_sets_of_long_runs_of_nodes_with_visible_dependencies(core: ModuleType) -> None:
    # Many nodes in a row whose dependencies all have the phase, some repeated,
    # some more than a handful, mixed with nodes behind a join.
    deps: list[list[int]] = [[], [], [], [0, 1, 2]]
    for v in range(4, 300):
        if v % 7 == 0:
            deps.append([v - 1, v - 3, v - 1, v - 2, v - 3])
        elif v > 11 and v % 11 == 0:
            deps.append(list(range(v - 12, v)))
        elif v % 13 == 0:
            deps.append([v - 2, 3])  # 3 is a join
        else:
            deps.append([v - 4, v - 2])
    flags = bytes([PRE, PRE, PRE, 0] + [PRE] * 296)
    n, pp, pi, _, _, order = build(core, deps)
    spelled = sets_of(*core.effective_sets(n, order, pp, pi, flags, PRE))
    for v in range(4, 300):
        expected = set(deps[v]) - {3} | ({0, 1, 2} if 3 in deps[v] else set())
        assert spelled[v] == sorted(expected), v


def test_effective_sets_only_see_the_given_bit(core: ModuleType) -> None:
    flags = bytes([PRE | POST, PRE, POST])
    n, pp, pi, _, _, order = build(core, [[], [0], [1]])
    by_pre = core.effective_sets(n, order, pp, pi, flags, PRE)
    by_post = core.effective_sets(n, order, pp, pi, flags, POST)
    assert sets_of(*by_pre) == [[], [0], [1]]
    assert sets_of(*by_post) == [[], [0], [0]]


def test_effective_dependents_over_the_successor_adjacency(core: ModuleType) -> None:
    flags = bytes([POST, 0, POST, POST])
    n, _, _, sp, si, order = build(core, [[], [0], [1], [1]])
    reverse = array("i", reversed(order))
    set_of, set_ptr, set_idx = core.effective_sets(n, reverse, sp, si, flags, POST)
    assert sets_of(set_of, set_ptr, set_idx) == [[2, 3], [2, 3], [], []]


def test_effective_sets_of_no_nodes(core: ModuleType) -> None:
    set_of, set_ptr, set_idx = core.effective_sets(0, [], [0], [], b"", PRE)
    assert (list(set_of), list(set_ptr), list(set_idx)) == ([], [0, 0], [])


def test_effective_sets_accept_lists_and_bytearrays(core: ModuleType) -> None:
    result = core.effective_sets(3, [0, 1, 2], [0, 0, 1, 2], [0, 1], bytearray([1, 1, 1]), PRE)
    assert [list(a) for a in result] == [[0, 1, 2], [0, 0, 1, 2], [0, 1]]


# -- pre_waves -------------------------------------------------------------------


def test_pre_waves_group_equal_prerequisite_sets(core: ModuleType) -> None:
    flags = bytes([PRE, PRE, PRE, EXEC, PRE])
    n, pp, pi, _, _, order = build(core, [[], [0], [0], [0], [1, 2]])
    set_of, _, _ = core.effective_sets(n, order, pp, pi, flags, PRE)
    wave_of, wave_set = core.pre_waves(order, flags, set_of)
    assert isinstance(wave_of, array) and wave_of.typecode == "i"
    assert list(wave_of) == [0, 1, 1, -1, 2]
    assert list(wave_set) == [set_of[0], set_of[1], set_of[4]]


def test_pre_waves_are_numbered_by_first_appearance_in_the_order(core: ModuleType) -> None:
    wave_of, wave_set = core.pre_waves([2, 0, 1], bytes([PRE, PRE, PRE]), [5, 5, 3])
    assert list(wave_of) == [1, 1, 0]
    assert list(wave_set) == [3, 5]


def test_pre_waves_accept_any_set_ids(core: ModuleType) -> None:
    wave_of, wave_set = core.pre_waves([0, 1, 2], bytes([PRE] * 3), [10**6, -3, 10**6])
    assert list(wave_of) == [0, 1, 0]
    assert list(wave_set) == [10**6, -3]


# -- post_levels -----------------------------------------------------------------


def test_post_levels_of_a_chain(core: ModuleType) -> None:
    _, _, _, sp, si, order = build(core, [[], [0], [1]])
    level_of, count = core.post_levels(order, sp, si, bytes([POST] * 3))
    assert isinstance(level_of, array) and level_of.typecode == "i"
    assert type(count) is int
    assert (list(level_of), count) == ([2, 1, 0], 3)


def test_post_levels_look_through_nodes_without_a_post(core: ModuleType) -> None:
    _, _, _, sp, si, order = build(core, [[], [0], [1], [0]])
    level_of, count = core.post_levels(order, sp, si, bytes([POST, PRE, POST, POST]))
    assert (list(level_of), count) == ([1, -1, 0, 0], 2)


def test_post_levels_take_the_longest_chain(core: ModuleType) -> None:
    _, _, _, sp, si, order = build(core, [[], [0], [1], [0]])
    level_of, count = core.post_levels(order, sp, si, bytes([POST] * 4))
    assert (list(level_of), count) == ([2, 1, 0, 0], 3)


def test_post_levels_without_posts(core: ModuleType) -> None:
    _, _, _, sp, si, order = build(core, [[], [0]])
    level_of, count = core.post_levels(order, sp, si, bytes([PRE, EXEC]))
    assert (list(level_of), count) == ([-1, -1], 0)


# -- group_unions ----------------------------------------------------------------


def test_group_unions_merge_the_sets_of_each_group(core: ModuleType) -> None:
    # Sets: 0 = {}, 1 = {3, 4}, 2 = {1, 4}.
    set_ptr, set_idx = [0, 0, 2, 4], [3, 4, 1, 4]
    uptr, uidx = core.group_unions([0, 1, 0, -1, 1], 3, [1, 0, 2, 1, 0], set_ptr, set_idx)
    assert all(isinstance(a, array) and a.typecode == "i" for a in (uptr, uidx))
    groups = [list(uidx[uptr[g] : uptr[g + 1]]) for g in range(3)]
    assert groups == [[1, 3, 4], [], []]


def test_group_unions_of_no_groups(core: ModuleType) -> None:
    uptr, uidx = core.group_unions([-1, -1], 0, [0, 0], [0, 0], [])
    assert (list(uptr), list(uidx)) == ([0], [])


def test_group_unions_reject_a_group_out_of_range(core: ModuleType) -> None:
    with pytest.raises(IndexError):
        core.group_unions([0, 2], 2, [0, 0], [0, 0], [])


# -- Graph -----------------------------------------------------------------------


def test_graph_size_and_run(core: ModuleType) -> None:
    _, pp, pi, sp, si, _ = build(core, [[], [0]])
    graph = core.Graph(pp, pi, sp, si, bytes([PRE, POST]))
    assert graph.size == 2
    assert type(graph.run()) is core.RunState
    assert type(core.RunState(graph)) is core.RunState


def test_graph_takes_keyword_arguments(core: ModuleType) -> None:
    graph = core.Graph(pred_ptr=[0], pred_idx=[], succ_ptr=[0], succ_idx=[], flags=b"")
    assert graph.size == 0


def test_graph_copies_its_inputs(core: ModuleType) -> None:
    _, pp, pi, sp, si, _ = build(core, [[], [0]])
    flags = bytearray([PRE, PRE])
    graph = core.Graph(pp, pi, sp, si, flags)
    pp[1], si[0], flags[0] = 1, 0, 0
    ready: list[int] = []
    graph.run().pre_begin(ready)
    assert ready == [0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (([0, 0], [], [0, 0, 0], [], b"\x01\x01"), "must have n + 1 = 3 entries, got 2"),
        (([0, 0, 1], [0], [0, 0, 0], [], b"\x01\x01"), "must have the same length"),
        (([0, 0, 1], [5], [0, 1, 1], [1], b"\x01\x01"), "adjacency index 5 is out of range"),
        (([0, 0, 1], [0], [0, 1, 1], [7], b"\x01\x01"), "adjacency index 7 is out of range"),
    ],
)
def test_graph_rejects_arrays_that_do_not_fit(
    core: ModuleType, arrays: tuple[list[int], list[int], list[int], list[int], bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        core.Graph(*arrays)
