"""The build-side sections of the benchmark report: build times, their growth, memory.

Each function takes the report's :class:`~bench.tables.View` and returns its lines.
"""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

import itertools
from typing import Any

from bench.tables import (
    BUILD_SPEEDUP_TARGET,
    GROWTH_TARGET,
    View,
    fmt_ratio,
    fmt_s,
    mark,
    table_head,
    table_row,
)

# -- build ---------------------------------------------------------------------------------


def _reference_build_cell(ref_build: dict[str, float | None], key: str, tasks: int) -> str:
    """The reference's time for the same graph (its keys count the fan's middle only)."""
    family = key.split("-")[0]
    rkey = f"{family}:{tasks - 2 if family == 'fan' else tasks}"
    if rkey not in ref_build:
        return "not run"
    v = ref_build[rkey]
    return "skipped (budget)" if v is None else fmt_s(v)


def _build_row(view: View, key: str) -> str:
    """One graph: each core's time (and build()'s share), the speed-up, the reference."""
    row_data = view.report.build[key]
    meta = view.report.build_meta[key]
    target = meta["target_s"]
    row = [meta["title"], f"{meta['tasks']:,}"]
    for label in view.cores_all:
        t = row_data.get(label)
        if t is None:
            row.append("not built")
            continue
        ok = None if target is None else t <= target
        part = row_data.get(f"{label}:build")
        share = "" if part is None else f" (build() {part / t:.0%})"
        row.append(fmt_s(t) + mark(ok) + share)
    if len(view.cores) == 2:
        pure, comp = row_data["pure"], row_data["compiled"]
        speed = None if pure is None or comp is None else pure / comp
        row.append(
            fmt_ratio(speed) + mark(None if speed is None else speed >= BUILD_SPEEDUP_TARGET)
        )
    if view.ref:
        row.append(_reference_build_cell(view.ref["build"], key, meta["tasks"]))
    row.append("" if target is None else f"< {fmt_s(target)}")
    return table_row(row)


def render_build(view: View) -> list[str]:
    """The build table: every graph shape, smallest first within a family."""
    report = view.report
    head = ["graph", "tasks", *view.cores_all]
    if len(view.cores) == 2:
        head.append("pure ÷ compiled")
    if view.ref:
        head.append(f"reference {view.ref['sdax_version']}")
    head.append("target")
    lines = [
        "### Build: `builder()`, every `add_task`, `build()`; every task with three phases "
        "(random DAG: 4 random earlier dependencies per task, seeded). Medians; "
        "(build() n%) is the share of the time spent in `build()`, the rest is `add_task`.",
        "",
        *table_head(head),
    ]
    by_size = sorted(
        report.build,
        key=lambda k: (report.build_meta[k]["title"], report.build_meta[k]["tasks"]),
    )
    lines += [_build_row(view, key) for key in by_size]
    return [*lines, ""]


def _growth(a: float | None, b: float | None) -> str:
    """How many times ``a`` the time ``b`` is, against the growth target."""
    if a is None or b is None:
        return "n/a"
    return f"{b / a:.1f}×{mark(b / a <= GROWTH_TARGET)}"


def render_growth(view: View) -> list[str]:
    """How the random-DAG build grows per tenfold step, beside a bare dict's growth."""
    build = view.report.build
    series = sorted(
        (meta["tasks"], key)
        for key, meta in view.report.build_meta.items()
        if meta["title"] == "random DAG"
    )
    steps = [(a, b) for a, b in itertools.pairwise(series) if b[0] == 10 * a[0]]
    if not steps:
        return []
    head = ["step", *view.cores_all, "`dict(zip(names, tasks))` (machine baseline)"]
    lines = [
        f"Growth of the random-DAG build, 10× tasks → N× time (target: N ≤ {GROWTH_TARGET}):",
        "",
        *table_head(head),
    ]
    for (na, ka), (nb, kb) in steps:
        row = [f"{na:,} → {nb:,}"]
        row += [_growth(build[ka].get(label), build[kb].get(label)) for label in view.cores_all]
        da, db = build[ka].get("dict"), build[kb].get("dict")
        row.append("n/a" if not da or db is None else f"{db / da:.1f}×")
        lines.append(table_row(row))
    lines += [
        "",
        "The baseline column is a C-level dict of the same names: the growth this "
        "machine's caches impose on n scattered memory accesses, with no library "
        "code at all.",
        "",
    ]
    return lines


# -- memory --------------------------------------------------------------------------------


def _mib_or_na(value: int | None) -> str:
    return f"{value / 2**20:.1f} MiB" if value is not None else "n/a"


def _memory_row(label: str, m: dict[str, Any], n: int) -> str:
    """One core's memory figures."""
    top = "; ".join(f"{where} {size:,} B / {count:+d}" for where, size, count in m["mid_run_top"])
    malloc = m.get("mid_run_malloc")
    return table_row(
        [
            label,
            f"{m['build_peak'] / 2**20:.1f} MiB",
            f"{m['retained'] / 2**20:.1f} MiB",
            _mib_or_na(m.get("retained_malloc")),
            f"{m['state_setup'] * 1e6:.0f} µs" if "state_setup" in m else "n/a",
            f"{m['run_peak'] / 1024:.0f} KiB",
            f"{m['run_peak'] / n:.1f} B",
            f"{m['mid_run_bytes'] / 1024:.0f} KiB in {m['mid_run_blocks']:,} blocks",
            f"{malloc / 1024:.0f} KiB = {malloc / n:.1f} B/task" if malloc is not None else "n/a",
            top,
        ]
    )


MEMORY_NOTE = (
    "Task objects and dependency tuples are made before measuring (they are the "
    "user's). *Run peak*: tracemalloc peak during one `process_tasks` above the "
    "memory in use before it. *Alive mid-run*: blocks allocated since the run began "
    "and still alive when the last execute runs (every pre done). *Per-run state "
    "setup*: `graph.run()`, the copy of the counters a run starts from. tracemalloc "
    "only sees memory taken through Python's allocators (a C `malloc` in the compiled "
    "core is invisible to it); *C heap growth mid-run* is glibc's `mallinfo2()` "
    "(blocks in use, heap and mmapped) at the same point of a run without tracemalloc, "
    "minus before the run, and *same, C heap* the growth of it over a second build: "
    "they see `malloc` and Python's large blocks, not pymalloc's small objects."
)


def render_memory(view: View) -> list[str]:
    """What a processor keeps and what a run takes, per core."""
    memory = view.report.memory
    n = next(iter(memory.values()))["tasks"]
    lines = [
        f"### Memory of a {n:,}-task processor (random DAG, three phases; tracemalloc)",
        "",
        "| core | build peak | processor retained | same, C heap | per-run state setup | "
        "run peak | run peak per task | alive mid-run | C heap growth mid-run | "
        "largest mid-run allocations (bytes, blocks) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_memory_row(label, m, n) for label, m in memory.items()]
    return [*lines, "", MEMORY_NOTE, ""]
