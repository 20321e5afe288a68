"""Figures of the stress suite: cases, runs, what happened in them, what broke.

The figures are printed at the end of a pytest session that ran stress tests
(see ``conftest.py``) and, when ``SDAX_STRESS_REPORT`` names a file, written
there as JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from _stress_loop import ScenarioResult
from _stress_rules import RULES, Verdict

import sdax
from sdax._build import _plan


@dataclass
class Stats:
    """Totals over every checked scenario of the session."""

    cases: int = 0
    runs: int = 0
    events: int = 0
    violations: int = 0
    features: Counter[str] = field(default_factory=Counter)
    cores: Counter[str] = field(default_factory=Counter)  # cases per twin that built them
    longest: float = 0.0
    longest_cpu: float = 0.0
    longest_gc: float = 0.0
    longest_without_gc: float = 0.0
    slowest: str = ""
    total_seconds: float = 0.0

    def add(self, result: ScenarioResult, verdict: Verdict, scenario: object = None) -> None:
        """Count one checked scenario."""
        self.cases += 1
        # The twin the processor was built with: the active one, unless a test
        # asked for each in turn (the engine_core fixture).
        self.cores["cython" if _plan.core.__name__ == "sdax._core" else "python"] += 1
        self.runs += len(result.records)
        self.events += sum(len(r.events) for r in result.records)
        self.violations += len(verdict.violations)
        self.features.update(verdict.features)
        if len(result.records) > 1:
            self.features["concurrent-runs"] += 1
        self.longest_cpu = max(self.longest_cpu, result.cpu_seconds)
        self.longest_gc = max(self.longest_gc, result.gc_seconds)
        self.longest_without_gc = max(self.longest_without_gc, result.seconds - result.gc_seconds)
        if result.seconds > self.longest:
            self.longest = result.seconds
            self.slowest = repr(scenario)
        self.total_seconds += result.seconds

    def as_dict(self) -> dict[str, object]:
        """The figures, JSON-ready."""
        return {
            "implementation": sdax.IMPLEMENTATION,
            "cases": self.cases,
            "cases_by_core": dict(sorted(self.cores.items())),
            "runs": self.runs,
            "events": self.events,
            "rules_checked": len(RULES),
            "rules": sorted(RULES),
            "violations": self.violations,
            "cases_by_feature": dict(sorted(self.features.items())),
            "longest_case_seconds": round(self.longest, 4),
            "longest_case_cpu_seconds": round(self.longest_cpu, 4),
            "longest_case_seconds_without_gc": round(self.longest_without_gc, 4),
            "longest_gc_pause_in_a_case_seconds": round(self.longest_gc, 4),
            "slowest_case": self.slowest,
            "total_case_seconds": round(self.total_seconds, 2),
        }

    def summary(self) -> str:
        """A few lines for the terminal."""
        feats = ", ".join(f"{k} {v}" for k, v in sorted(self.features.items()))
        by_core = ", ".join(f"{k} {v}" for k, v in sorted(self.cores.items()))
        return (
            f"sdax stress ({sdax.IMPLEMENTATION} core; cases by core: {by_core}): "
            f"{self.cases} cases, {self.runs} runs, "
            f"{self.events} events; {len(RULES)} rules checked; {self.violations} violations; "
            f"longest case {self.longest * 1000:.1f} ms "
            f"(CPU {self.longest_cpu * 1000:.1f} ms; without the cyclic GC's pauses "
            f"{self.longest_without_gc * 1000:.1f} ms; longest GC time in a case "
            f"{self.longest_gc * 1000:.1f} ms)\n"
            f"  cases by feature: {feats}"
        )

    def dump(self, path: str) -> None:
        """Write the figures as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self.as_dict(), out, indent=2)


STATS = Stats()
"""The session's figures (one process runs one pytest session)."""
