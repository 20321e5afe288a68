"""The pieces of the report's tables: number formats, Markdown rows, paired per-round times."""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bench import shapes


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
        return shapes.median(self.raw[key])

    def ratios(self, a: str, b: str) -> list[float]:
        """The per-round ``a / b``."""
        return [x / y for x, y in zip(self.raw[a], self.raw[b], strict=True)]

    def ratio(self, a: str, b: str) -> float:
        """Median over rounds of ``a / b``."""
        return shapes.median(self.ratios(a, b))

    def spread(self, a: str, b: str) -> str:
        """Interquartile range of the per-round ``a / b``, as text."""
        values = self.ratios(a, b)
        if len(values) < 4:
            return ""
        q1, _, q3 = statistics.quantiles(values, n=4)
        return f" [{q1:.2f}–{q3:.2f}]"

    def diff(self, a: str, b: str) -> float:
        """Median over rounds of ``a - b``."""
        return shapes.median([x - y for x, y in zip(self.raw[a], self.raw[b], strict=True)])
