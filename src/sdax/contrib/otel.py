"""OpenTelemetry tracing for sdax runs (needs ``pip install "sdax[otel]"``).

Attach an :class:`OpenTelemetryObserver` to a processor or to one run::

    from sdax.contrib.otel import OpenTelemetryObserver

    processor = builder.add_observer(OpenTelemetryObserver()).build()

Each run becomes a span (``"sdax run"``), a child of the span that is current
where the run is started (an HTTP request's span, for instance). Each attempt
of each phase call becomes a child span of the run's span, named
``"<task> <phase>"`` (``"Database pre_execute"``), with these attributes:

- ``sdax.run_id``: the run's number (on every span);
- ``sdax.task``: the task's name (strings as they are, other keys by ``repr``);
- ``sdax.phase``: ``"pre_execute"``, ``"execute"`` or ``"post_execute"``;
- ``sdax.attempt``: 0 for the first attempt, 1 for the first retry, ...;
- ``sdax.outcome``: ``"ok"``, ``"retried"``, ``"failed"`` or ``"cancelled"``
  (on the run's span: ``"ok"``, ``"failed"``, ``"timed out"``, ``"cancelled"``
  or ``"interrupted"``).

A failed attempt, and a run that raises, get the exception recorded
(``record_exception``) and the status ``ERROR``; cancelled attempts do not.
A scheduled retry is an event ``sdax.retry`` on the run's span.

While a phase function runs, its attempt's span is the current span, so spans
that the function (or a library it calls) creates become its children.

This module needs only ``opentelemetry-api``; to export spans, configure an
SDK (``opentelemetry-sdk``) as usual.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from contextvars import Token

from opentelemetry import context as otel_context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

from sdax._build import PHASE_FIELDS, PhaseId, describe_name
from sdax._version import __version__
from sdax.observe import PhaseEvent, RunInfo, RunObserver
from sdax.report import describe_error, run_outcome

__all__ = ["OpenTelemetryObserver"]


class _RunSpans:
    """The spans of one run in progress."""

    __slots__ = ("context", "offset_ns", "phases", "span")

    def __init__(self, span: Span, offset_ns: int) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.offset_ns = offset_ns
        self.phases: dict[tuple[Hashable, PhaseId, int], tuple[Span, Token[Context] | None]] = {}

    def ns(self, monotonic: float) -> int:
        """Convert a ``time.monotonic()`` time to the epoch nanoseconds spans use."""
        return int(monotonic * 1e9) + self.offset_ns


class OpenTelemetryObserver(RunObserver):
    """An observer that traces runs with OpenTelemetry (see the module docs).

    Args:
        tracer_provider: Where to get the tracer; the global provider when
            ``None``.
        run_span_name: Name of the span of each run.
        activate_phase_spans: Make each attempt's span the current span while
            the phase function runs (so its own spans nest under it).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        run_span_name: str = "sdax run",
        activate_phase_spans: bool = True,
    ) -> None:
        self._tracer = trace.get_tracer("sdax", __version__, tracer_provider=tracer_provider)
        self._run_span_name = run_span_name
        self._activate = activate_phase_spans
        self._runs: dict[int, _RunSpans] = {}

    # -- runs -------------------------------------------------------------------------

    def run_started(self, run: RunInfo) -> None:
        """Open the run's span, as a child of the current span."""
        offset = time.time_ns() - time.monotonic_ns()
        span = self._tracer.start_span(
            self._run_span_name,
            start_time=int(run.started * 1e9) + offset,
            attributes={"sdax.run_id": run.run_id, "sdax.tasks": run.tasks},
        )
        self._runs[run.run_id] = _RunSpans(span, offset)

    def run_finished(self, run: RunInfo, error: BaseException | None, time: float) -> None:
        """Close the run's span, recording what it raised."""
        spans = self._runs.pop(run.run_id, None)
        if spans is None:
            return
        end = spans.ns(time)
        for (_task, _phase, _attempt), (span, _token) in spans.phases.items():
            span.set_attribute("sdax.outcome", "unfinished")
            span.end(end_time=end)
        spans.phases.clear()
        outcome = run_outcome(error)
        spans.span.set_attribute("sdax.outcome", outcome)
        if error is not None and outcome != "cancelled":
            spans.span.record_exception(error, timestamp=end)
            spans.span.set_status(Status(StatusCode.ERROR, describe_error(error)))
        spans.span.end(end_time=end)

    # -- phase attempts -----------------------------------------------------------------

    def phase_started(self, event: PhaseEvent) -> None:
        """Open the attempt's span under the run's span (and make it current)."""
        spans = self._runs.get(event.run.run_id)
        if spans is None:
            return
        field = PHASE_FIELDS[event.phase]
        name = describe_name(event.task)
        span = self._tracer.start_span(
            f"{name} {field}",
            context=spans.context,
            start_time=spans.ns(event.started),
            attributes={
                "sdax.run_id": event.run.run_id,
                "sdax.task": name,
                "sdax.phase": field,
                "sdax.attempt": event.attempt,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span)) if self._activate else None
        spans.phases[(event.task, event.phase, event.attempt)] = (span, token)

    def _end(self, event: PhaseEvent, outcome: str) -> Span | None:
        spans = self._runs.get(event.run.run_id)
        if spans is None:
            return None
        found = spans.phases.pop((event.task, event.phase, event.attempt), None)
        if found is None:
            return None
        span, token = found
        if token is not None:
            otel_context.detach(token)
        span.set_attribute("sdax.outcome", outcome)
        return span

    def phase_finished(self, event: PhaseEvent) -> None:
        """Close the attempt's span with outcome ``"ok"``."""
        span = self._end(event, "ok")
        if span is not None:
            span.end(end_time=self._runs[event.run.run_id].ns(event.time))

    def phase_failed(self, event: PhaseEvent) -> None:
        """Close the attempt's span with the exception and status ``ERROR``."""
        span = self._end(event, "retried" if event.will_retry else "failed")
        if span is None:
            return
        end = self._runs[event.run.run_id].ns(event.time)
        span.set_attribute("sdax.will_retry", event.will_retry)
        if event.error is not None:
            span.record_exception(event.error, timestamp=end)
            span.set_status(Status(StatusCode.ERROR, describe_error(event.error)))
        else:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def phase_cancelled(self, event: PhaseEvent) -> None:
        """Close the attempt's span with outcome ``"cancelled"``."""
        span = self._end(event, "cancelled")
        if span is not None:
            span.end(end_time=self._runs[event.run.run_id].ns(event.time))

    def phase_retrying(self, event: PhaseEvent) -> None:
        """Add an ``sdax.retry`` event to the run's span."""
        spans = self._runs.get(event.run.run_id)
        if spans is None:
            return
        attributes: dict[str, str | int | float] = {
            "sdax.task": describe_name(event.task),
            "sdax.phase": PHASE_FIELDS[event.phase],
            "sdax.attempt": event.attempt,
        }
        if event.delay is not None:
            attributes["sdax.retry_delay"] = event.delay
        if event.error is not None:
            attributes["sdax.error"] = describe_error(event.error)
        spans.span.add_event("sdax.retry", attributes, timestamp=spans.ns(event.time))
