"""Unit tests of the per-run bookkeeping (``Graph`` and ``RunState``), on both twins."""

from __future__ import annotations

import copy
import pickle
from collections import deque
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from _support import PHASE_BITS, csr

PRE, EXEC, POST = PHASE_BITS
# 0 and 1 are roots; 1 has no phase at all; 4 has only a post.
#
#   0 (pre, post) ── 2 (pre, post) ──┐
#                                     4 (post) ── 5 (pre, post)
#   1 (none) ─────── 3 (pre) ────────┘
SAMPLE_DEPS = [[], [], [0], [1], [2, 3], [4]]
SAMPLE_FLAGS = [PRE | POST, 0, PRE | POST, PRE, POST, PRE | POST]


def make_graph(core: ModuleType, deps: Sequence[Sequence[int]], flags: Sequence[int]) -> Any:
    """A core ``Graph`` from predecessor lists and phase bits."""
    ptr, idx = csr(deps)
    sp, si = core.successors(len(deps), ptr, idx)
    return core.Graph(ptr, idx, sp, si, bytes(flags))


def sample_run(core: ModuleType) -> Any:
    """A fresh run of the sample graph."""
    return make_graph(core, SAMPLE_DEPS, SAMPLE_FLAGS).run()


def call(method: Any, *args: Any) -> list[int]:
    """Call a ``RunState`` method that fills a ready list; return that list."""
    ready: list[int] = []
    method(*args, ready)
    return ready


def test_pre_begin_hands_out_roots_and_passes_through_phase_less_ones(core: ModuleType) -> None:
    run = sample_run(core)
    assert call(run.pre_begin) == [0, 3]
    assert run.started(0) and not run.completed(0)
    assert run.completed(1)  # no pre: done as soon as reached
    assert run.started(3)
    assert not run.started(2) and not run.started(4)


def test_a_whole_successful_run(core: ModuleType) -> None:
    run = sample_run(core)
    assert call(run.pre_begin) == [0, 3]
    assert call(run.pre_done, 0) == [2]
    assert call(run.pre_done, 3) == []  # 4 still waits for 2
    assert call(run.pre_done, 2) == [5]  # 4 has no pre: passed through to 5
    assert run.completed(4)
    assert run.started(5) and not run.completed(5)
    assert call(run.pre_done, 5) == []
    assert all(run.completed(v) for v in range(6))
    # Cleanup runs in reverse: a post waits for every reached dependent's post.
    assert call(run.post_begin) == [5]
    assert call(run.post_done, 5) == [4]
    assert call(run.post_done, 4) == [2]  # 3 and 1 owe no post: passed through
    assert call(run.post_done, 2) == [0]
    assert call(run.post_done, 0) == []


def test_a_run_stopped_by_a_failure(core: ModuleType) -> None:
    run = sample_run(core)
    assert call(run.pre_begin) == [0, 3]
    assert call(run.pre_done, 0) == [2]
    # 3 was called and failed; 2 was handed out but never called.
    run.unstart(2)
    assert not run.started(2) and not run.completed(2)
    assert run.started(3) and not run.completed(3)
    # Only reached nodes owe a post; 2 and everything behind it never ran.
    assert call(run.post_begin) == [0]
    assert call(run.post_done, 0) == []


def test_a_post_waits_for_started_dependents_only(core: ModuleType) -> None:
    run = make_graph(core, [[], [0], [0]], [PRE | POST] * 3).run()
    assert call(run.pre_begin) == [0]
    assert call(run.pre_done, 0) == [1, 2]
    run.unstart(2)
    assert call(run.post_begin) == [1]
    assert call(run.post_done, 1) == [0]


def test_a_chain_of_phase_less_nodes_is_passed_through_at_once(core: ModuleType) -> None:
    flags = [PRE | POST, 0, 0, 0, PRE | POST]
    run = make_graph(core, [[], [0], [1], [2], [3]], flags).run()
    assert call(run.pre_begin) == [0]
    assert call(run.pre_done, 0) == [4]
    assert call(run.pre_done, 4) == []
    assert call(run.post_begin) == [4]
    assert call(run.post_done, 4) == [0]


def test_a_graph_without_pre_phases_completes_in_pre_begin(core: ModuleType) -> None:
    run = make_graph(core, [[], [0], [0, 1]], [EXEC, EXEC | POST, POST]).run()
    assert call(run.pre_begin) == []
    assert all(run.completed(v) for v in range(3))
    assert call(run.post_begin) == [2]
    assert call(run.post_done, 2) == [1]
    assert call(run.post_done, 1) == []


def test_an_empty_graph(core: ModuleType) -> None:
    run = make_graph(core, [], []).run()
    assert call(run.pre_begin) == []
    assert call(run.post_begin) == []


def test_pre_begin_twice_is_an_error(core: ModuleType) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    with pytest.raises(ValueError, match="the pre phase has already begun"):
        call(run.pre_begin)


@pytest.mark.parametrize("node", [1, 4])
def test_pre_done_needs_a_pre_in_progress(core: ModuleType, node: int) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    with pytest.raises(ValueError, match=rf"^node {node} has no pre in progress$"):
        call(run.pre_done, node)


def test_pre_done_twice_is_an_error(core: ModuleType) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    call(run.pre_done, 0)
    with pytest.raises(ValueError, match=r"^node 0 has no pre in progress$"):
        call(run.pre_done, 0)


def test_unstart_needs_a_pre_in_progress(core: ModuleType) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    call(run.pre_done, 0)
    with pytest.raises(ValueError, match=r"^node 0 has no pre in progress$"):
        run.unstart(0)
    run.unstart(3)
    with pytest.raises(ValueError, match=r"^node 3 has no pre in progress$"):
        call(run.pre_done, 3)


def test_runs_of_one_graph_are_independent(core: ModuleType) -> None:
    graph = make_graph(core, SAMPLE_DEPS, SAMPLE_FLAGS)
    first, second = graph.run(), graph.run()
    assert call(first.pre_begin) == [0, 3]
    assert call(first.pre_done, 0) == [2]
    assert call(second.pre_begin) == [0, 3]
    assert not second.started(2)
    assert call(second.pre_done, 3) == []
    assert call(first.pre_done, 2) == []  # first's 3 is still running


def test_ready_may_be_any_object_with_append(core: ModuleType) -> None:
    run = sample_run(core)
    ready: deque[int] = deque([99])
    run.pre_begin(ready)
    assert list(ready) == [99, 0, 3]


def test_ready_lists_are_appended_to(core: ModuleType) -> None:
    run = sample_run(core)
    ready = [7]
    run.pre_begin(ready)
    run.pre_done(0, ready)
    assert ready == [7, 0, 3, 2]


@pytest.mark.parametrize("node", [6, 100, 2**70])
def test_out_of_range_nodes_are_index_errors(core: ModuleType, node: int) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    for method in (run.unstart, run.completed, run.started):
        with pytest.raises(IndexError):
            method(node)
    with pytest.raises(IndexError):
        call(run.pre_done, node)
    with pytest.raises(IndexError):
        call(run.post_done, node + 1)


def test_nodes_must_be_integers(core: ModuleType) -> None:
    run = sample_run(core)
    call(run.pre_begin)
    with pytest.raises(TypeError):
        run.started("0")
    with pytest.raises(TypeError):
        call(run.pre_done, 0.0)
    with pytest.raises(TypeError):
        call(run.post_done, None)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_graphs_and_runs_can_be_pickled_and_deep_copied(core: ModuleType, clone: Any) -> None:
    graph = clone(make_graph(core, SAMPLE_DEPS, SAMPLE_FLAGS))
    assert type(graph) is core.Graph and graph.size == 6
    run = graph.run()
    assert call(run.pre_begin) == [0, 3]
    assert call(run.pre_done, 0) == [2]
    later = clone(run)
    assert type(later) is core.RunState
    # The copy goes on from where the run was; the original is not affected.
    assert call(later.pre_done, 3) == []
    assert call(later.pre_done, 2) == [5]
    assert not run.started(5)
    assert call(run.pre_done, 2) == []
    assert call(later.pre_done, 5) == []
    assert call(later.post_begin) == [5]
