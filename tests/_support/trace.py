"""The Chrome trace-event format, as the tests of the run trace check it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["METADATA", "validate_trace"]

METADATA = {"process_name": "name", "thread_name": "name", "thread_sort_index": "sort_index"}


def validate_trace(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Check ``trace`` against the format; return its events."""
    assert json.loads(json.dumps(trace)) == trace  # plain JSON, nothing lost
    assert set(trace) >= {"traceEvents"}
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    events = trace["traceEvents"]
    assert isinstance(events, list) and events
    for event in events:
        assert {"ph", "name", "pid", "tid", "ts"} <= set(event), event
        assert isinstance(event["name"], str)
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert isinstance(event["ts"], int | float) and event["ts"] >= 0
        assert event["ph"] in ("X", "i", "M"), event
        if event["ph"] == "X":
            assert isinstance(event["dur"], int | float) and event["dur"] >= 0
        elif event["ph"] == "i":
            assert event["s"] in ("t", "p", "g")
        else:
            assert event["name"] in METADATA
            assert METADATA[event["name"]] in event["args"]
    return events
