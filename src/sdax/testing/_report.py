"""The results of an exploration: what broke, in which scenario, and how to see it again."""

from __future__ import annotations

from dataclasses import dataclass, field

from sdax.testing._faults import Event

__all__ = ["ExploreResult", "Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One scenario that broke at least one rule.

    Attributes:
        scenario: The scenario's one-line id (pass it as ``only=``).
        broken: The rules it broke, one sentence each: sdax's promises, the
            user's ``check(ctx)``, or what was left on the event loop.
        outcome: What the caller of ``process_tasks`` got.
        trace: Every phase call, fault and sdax report of the run, in order
            (the report leaves out sdax's ``started`` events, which repeat
            the calls' own ``start``).
    """

    scenario: str
    broken: tuple[str, ...]
    outcome: str
    trace: tuple[Event, ...]

    def render(self) -> str:
        """The finding as a readable block of text."""
        lines = [f"BROKEN  {self.scenario}"]
        lines.append(f'  reproduce: explore(..., only="{self.scenario}")')
        lines.append("  what broke:")
        lines.extend(f"    - {text}" for text in self.broken)
        lines.append(f"  the caller got: {self.outcome}")
        lines.append("  trace (loop time, call, event):")
        # sdax's "started" repeats the call's own "start": left out.
        shown = (ev for ev in self.trace if not (ev.source == "sdax" and ev.what == "started"))
        lines.extend(f"    {ev.line()}" for ev in shown)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ExploreResult:
    """What :func:`sdax.testing.explore` found.

    Attributes:
        scenarios_run: How many scenarios ran (the baseline included).
        findings: The scenarios that broke a rule, in the order they ran.
        not_reached: Ids of scenarios whose faults never struck (the call
            did not start in that run); they ran, and their checks held.
        virtual_time: Whether loop time was virtual (``looptime``).
        seconds: Wall-clock seconds the exploration took.
        notes: Things worth knowing about the run (fallbacks, calls that
            could not be wrapped).
    """

    scenarios_run: int
    findings: tuple[Finding, ...]
    not_reached: tuple[str, ...] = ()
    virtual_time: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no scenario broke a rule."""
        return not self.findings

    def summary(self) -> str:
        """One line: scenarios run, scenarios broken, time taken."""
        clock = "virtual time" if self.virtual_time else "real time"
        return (
            f"sdax explore: {self.scenarios_run} scenarios, {len(self.findings)} broken, "
            f"{len(self.not_reached)} with a fault not reached; "
            f"{self.seconds:.2f} s ({clock})"
        )

    def report(self) -> str:
        """The summary, the notes and every finding, as text."""
        parts = [self.summary()]
        parts.extend(f"note: {note}" for note in self.notes)
        parts.extend(f.render() for f in self.findings)
        return "\n\n".join(parts) if self.findings else "\n".join(parts)

    def assert_ok(self) -> None:
        """Raise AssertionError with the report when a scenario broke a rule."""
        if self.findings:
            raise AssertionError(self.report())
