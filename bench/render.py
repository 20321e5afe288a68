"""The rendering half of the benchmark report: a :class:`~bench.measure.Report` as Markdown.

One function per section of the report; each returns its lines. The header and
the runtime sections are here, the build and memory ones in ``bench/render_build.py``;
the targets and the shared pieces are in ``bench/tables.py``.
"""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

from collections.abc import Sequence

from bench import shapes, timing
from bench.cores import CORES
from bench.measure import Report
from bench.render_build import render_build, render_growth, render_memory
from bench.tables import (
    CONCURRENCY_TARGET,
    RATIO_TARGETS,
    TIMEOUT_TARGET_US,
    Times,
    View,
    fmt_ms,
    fmt_ratio,
    mark,
    table_head,
    table_row,
)

# -- header --------------------------------------------------------------------------------


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
        f"{timing.median(ratios):.2f} (1.00 on an idle machine; more means other processes "
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


# -- runtime -------------------------------------------------------------------------------


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


# -- primitive costs -----------------------------------------------------------------------


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


# -- the whole report ----------------------------------------------------------------------


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
