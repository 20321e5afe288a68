"""The pieces of the report's tables: the targets, formats, rows, paired times, the view.

The performance targets the figures are checked against (✓ met, ✗ missed) are
defined here, beside the helpers every section of ``bench/render.py`` and
``bench/render_build.py`` uses.
"""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import timing

if TYPE_CHECKING:
    from bench.measure import Report


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


def fmt_ms(seconds: float | None) -> str:
    """Seconds as milliseconds, with fewer decimals as they grow (``n/a`` for none)."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_s(seconds: float | None) -> str:
    """Seconds as milliseconds below one second, else as seconds (``n/a`` for none)."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_ratio(value: float | None) -> str:
    """A ratio with two decimals and a multiplication sign (``n/a`` for none)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}×"


def mark(ok: bool | None) -> str:
    """`` ✓`` for a met target, `` ✗`` for a missed one, nothing when none applies."""
    return "" if ok is None else (" ✓" if ok else " ✗")


def table_row(cells: Sequence[str]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def table_head(head: Sequence[str]) -> list[str]:
    """A Markdown table's header row and its rule."""
    return [table_row(head), "|" + "---|" * len(head)]


class Times:
    """The per-round times of one group; statistics pair values of the same round.

    A ratio (or difference) is computed round by round, from runs that were timed
    next to each other, and then the median is taken: a burst of load on the
    machine moves both runs of a round, and so hardly moves the ratio.
    """

    def __init__(self, raw: dict[str, list[float]]) -> None:
        self.raw = raw

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def med(self, key: str) -> float:
        """Median of one case's times."""
        return timing.median(self.raw[key])

    def ratios(self, a: str, b: str) -> list[float]:
        """The per-round ``a / b``."""
        return [x / y for x, y in zip(self.raw[a], self.raw[b], strict=True)]

    def ratio(self, a: str, b: str) -> float:
        """Median over rounds of ``a / b``."""
        return timing.median(self.ratios(a, b))

    def spread(self, a: str, b: str) -> str:
        """Interquartile range of the per-round ``a / b``, as text."""
        values = self.ratios(a, b)
        if len(values) < 4:
            return ""
        q1, _, q3 = statistics.quantiles(values, n=4)
        return f" [{q1:.2f}–{q3:.2f}]"

    def diff(self, a: str, b: str) -> float:
        """Median over rounds of ``a - b``."""
        return timing.median([x - y for x, y in zip(self.raw[a], self.raw[b], strict=True)])


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
