"""The rendering half of the benchmark report: a :class:`~bench.measure.Report` as Markdown.

One function per section of the report; each returns its lines. The performance
targets the figures are checked against (✓ met, ✗ missed) are defined here.
"""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import shapes
from bench.cores import CORES
from bench.measure import Report
from bench.tables import Times, fmt_ms, fmt_ratio, fmt_s, mark, table_head, table_row

# The runtime targets: ratio of the sdax median to the group's raw baseline.
RATIO_TARGETS: dict[str, tuple[str, str, float]] = {
    # group: (sdax case, baseline, at most)
    "three-phases": ("three_phases", "gather", 0.5),
    "single-level": ("single_level", "gather", 0.25),
    "multi-level": ("multi_level", "gather", 0.6),
    "suspending": ("suspending", "taskgroup_3_rounds", 1.2),
}
TIMEOUT_TARGET_US = 3.0
CONCURRENCY_TARGET = 0.9  # sdax (concurrent/sequential) at least 0.9x raw asyncio's
GROWTH_TARGET = 12  # a 10x larger random DAG takes at most 12x the time to build
BUILD_SPEEDUP_TARGET = 5  # the compiled build at least 5x faster than the pure one


@dataclass
class View:
    """What every section reads: the report, its cores, the reference's figures."""

    report: Report
    cores_all: Sequence[str]  # every core, measured or not (one column each)
    cores: list[str]  # the measured ones
    ref: dict[str, Any] | None
    rt: dict[str, Times]
    ref_rt: dict[str, Times]

    @classmethod
    def of(cls, report: Report, cores_all: Sequence[str]) -> View:
        """The view of ``report``, with a column for each of ``cores_all``."""
        ref = report.reference
        unavailable = report.info["unavailable"]
        return cls(
            report=report,
            cores_all=cores_all,
            cores=[c for c in cores_all if unavailable.get(c) is None],
            ref=ref,
            rt={g: Times(t) for g, t in report.runtime.items()},
            ref_rt={g: Times(t) for g, t in ref["runtime"].items()} if ref else {},
        )

    def head(self, first: str, baseline: str) -> list[str]:
        """The header of a runtime table: a column per core, the reference, the target."""
        head = [first, baseline, *self.cores_all]
        if self.ref:
            head.append(f"reference {self.ref['sdax_version']}")
        head.append("target")
        return table_head(head)


# -- header ---------------------------------------------------------------------------------


def _clock_line(report: Report) -> str:
    """The clock, and how much of the runtime rounds' wall time other processes took."""
    ratios = [
        w / c
        for group, keys in report.wall.items()
        for key, walls in keys.items()
        for w, c in zip(walls, report.runtime[group][key], strict=True)
        if c > 0
    ]
    clock_text = (
        "CPU time of this process (`time.process_time`)"
        if report.info["clock"] == "cpu"
        else "wall time (`time.perf_counter`)"
    )
    if not ratios:
        return f"- clock: {clock_text}"
    return (
        f"- clock: {clock_text}; wall ÷ CPU time of the runtime rounds: median "
        f"{shapes.median(ratios):.2f} (1.00 on an idle machine; more means other processes "
        "took the CPUs)"
    )


def render_header(view: View) -> list[str]:
    """The title and the facts of the run: interpreter, machine, sdax, cores, clock."""
    info, ref = view.report.info, view.ref
    lines = [
        f"## sdax benchmark report (started {info['date']})",
        "",
        f"- Python {info['python']} ({info['implementation']}), {info['platform']}",
        f"- CPU: {info['cpu']}, {info['cpus']} logical CPUs; 1-minute load average "
        f"{info['load_start']} at the start, {info['load_end']} at the end "
        f"(run took {info['duration_s']} s)",
        f"- sdax {info['sdax_version']} ({info['sdax_path']}, {info['revision']}); "
        f"active core at import: {info['active']}",
    ]
    for label in view.cores_all:
        reason = info["unavailable"].get(label)
        lines.append(
            f"- {label} core ({CORES[label]}): " + ("measured" if reason is None else reason)
        )
    if ref is not None:
        lines.append(
            f"- reference: sdax {ref['sdax_version']} on Python {ref['python']} "
            f"({ref['sdax_file']}), measured in its own process against its own baselines"
        )
    lines.append(_clock_line(view.report))
    lines.append(
        f"- runtime: {info['rounds']} timed rounds (+{info['warmup']} warm-up) per case, "
        "cases interleaved round by round (rotating order); GC enabled, collected before each "
        "round."
    )
    return [*lines, ""]


# -- runtime --------------------------------------------------------------------------------


def _ratio_row(view: View, group: shapes.Group) -> str:
    """One runtime shape: the baseline, each core's median and ratio, the reference."""
    case, base, target = RATIO_TARGETS[group.key]
    data = view.rt[group.key]
    row = [f"{group.title}: {shapes.SDAX_CASES[case][0]}"]
    row.append(f"{fmt_ms(data.med(base))} ({shapes.BASELINES[base][0].split(': ')[1]})")
    for label in view.cores_all:
        key = f"{case}@{label}"
        if key not in data:
            row.append("not built")
            continue
        r = data.ratio(key, base)
        row.append(
            f"{fmt_ms(data.med(key))} = **{fmt_ratio(r)}**{data.spread(key, base)}"
            f"{mark(r <= target)}"
        )
    if view.ref:
        rd = view.ref_rt[group.key]
        row.append(
            f"{fmt_ms(rd.med(case))} = {fmt_ratio(rd.ratio(case, base))} "
            f"(its baseline {fmt_ms(rd.med(base))})"
        )
    row.append(f"≤ {target}×")
    return table_row(row)


def render_ratios(view: View) -> list[str]:
    """The runtime table: each shape's median and its ratio to the raw baseline."""
    lines = [
        "### Runtime: median per run, and ratio to the raw-asyncio baseline of the same group "
        "(median of per-round ratios, [interquartile range])",
        "",
        *view.head("shape", "raw asyncio baseline"),
    ]
    lines += [_ratio_row(view, g) for g in shapes.GROUPS if g.key in RATIO_TARGETS]
    return [*lines, ""]


# Per timeout group: row title, (raw baseline, with wait_for), (sdax case, with timeout=).
TIMEOUT_ROWS = (
    ("timeout", "zero work (never suspends)", ("gather", "gather_wait_for"),
     ("single_level", "single_level_timeout")),
    ("timeout-suspending", "sleeps(0) once", ("gather_suspend", "gather_suspend_wait_for"),
     ("suspend_exec", "suspend_exec_timeout")),
)  # fmt: skip


def render_timeouts(view: View) -> list[str]:
    """The cost of a ``timeout=`` that does not fire, per phase call, against ``wait_for``."""
    lines = [
        "### Timeout overhead per phase call: median over rounds of (run with `timeout=10` − "
        "run without) / 1,000",
        "",
        *view.head("phase", "asyncio.wait_for (raw)"),
    ]
    per = shapes.N_TASKS / 1e6
    for group_key, title, (base, base_wf), (plain, timed) in TIMEOUT_ROWS:
        data = view.rt[group_key]
        row = [title, f"{data.diff(base_wf, base) / per:.2f} µs"]
        for label in view.cores_all:
            if f"{timed}@{label}" not in data:
                row.append("not built")
                continue
            us = data.diff(f"{timed}@{label}", f"{plain}@{label}") / per
            row.append(f"**{us:.2f} µs**{mark(us <= TIMEOUT_TARGET_US)}")
        if view.ref:
            row.append(f"{view.ref_rt[group_key].diff(timed, plain) / per:.2f} µs")
        row.append(f"≤ {TIMEOUT_TARGET_US:g} µs")
        lines.append(table_row(row))
    return [*lines, ""]


def _throughput(data: Times, conc: str, seq: str) -> tuple[str, float]:
    """Concurrent vs sequential runs/s and their ratio, as text and as the ratio."""
    runs = shapes.CONCURRENT_RUNS
    r = data.ratio(seq, conc)
    text = (
        f"{runs / data.med(conc):,.0f} vs {runs / data.med(seq):,.0f} runs/s = "
        f"**{fmt_ratio(r)}**{data.spread(seq, conc)}"
    )
    return text, r


def _concurrency_row(view: View, group_key: str, title: str, suffix: str) -> str:
    """One concurrency group: raw asyncio's ratio, each core's against it, the reference."""
    data = view.rt[group_key]
    raw_text, raw_ratio = _throughput(
        data, f"gather_runs_concurrent{suffix}", f"gather_runs_sequential{suffix}"
    )
    row = [title, raw_text]
    for label in view.cores_all:
        if f"concurrent{suffix}@{label}" not in data:
            row.append("not built")
            continue
        text, r = _throughput(data, f"concurrent{suffix}@{label}", f"sequential{suffix}@{label}")
        row.append(text + mark(r >= CONCURRENCY_TARGET * raw_ratio))
    if view.ref:
        ref_data = view.ref_rt[group_key]
        row.append(_throughput(ref_data, f"concurrent{suffix}", f"sequential{suffix}")[0])
    row.append(f"ratio ≥ {CONCURRENCY_TARGET}× raw asyncio's")
    return table_row(row)


def render_concurrency(view: View) -> list[str]:
    """Many runs of one processor at once against one after the other."""
    lines = [
        "### Concurrency: 100 runs of one 100-task processor, at once vs one after the other "
        "(throughput in runs/s; ratio = concurrent ÷ sequential throughput, median of "
        "per-round ratios)",
        "",
        *view.head("work", "raw asyncio (100 gathers of 100)"),
        _concurrency_row(view, "concurrency", "zero work, three phases", ""),
        _concurrency_row(view, "concurrency-suspending", "executes sleep(0) once", "_suspend"),
    ]
    return [*lines, ""]


# -- build ----------------------------------------------------------------------------------


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


# -- primitive costs and memory -------------------------------------------------------------


def render_primitives(view: View) -> list[str]:
    """What each building block costs, then sdax's cost per phase call within a shape."""
    lines = [
        "### What costs what on this machine (median per operation)",
        "",
        *table_head(["operation", "cost"]),
    ]
    lines += [f"| {name} | {s * 1e6:.2f} µs |" for name, s in view.report.primitives.items()]
    rt = view.rt
    for label in view.cores:
        for gkey, case, calls in (
            ("three-phases", "three_phases", 3 * shapes.N_TASKS),
            ("single-level", "single_level", shapes.N_TASKS),
        ):
            key = f"{case}@{label}"
            if gkey in rt and key in rt[gkey]:
                us = rt[gkey].med(key) / calls * 1e6
                lines.append(
                    f"| sdax ({label}): one zero-work phase call, within {case} | {us:.2f} µs |"
                )
    return [*lines, ""]


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


# -- the whole report -----------------------------------------------------------------------


def render(report: Report, cores_all: Sequence[str]) -> str:
    """The report as Markdown: each section whose figures were measured."""
    view = View.of(report, cores_all)
    lines = render_header(view)
    if report.runtime:
        lines += render_ratios(view) + render_timeouts(view) + render_concurrency(view)
    if report.build:
        lines += render_build(view) + render_growth(view)
    lines += render_primitives(view)
    if report.memory:
        lines += render_memory(view)
    return "\n".join(lines)
