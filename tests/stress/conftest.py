"""Prints the stress suite's figures after a session that ran it."""

from __future__ import annotations

import os

import pytest
from _stress_stats import STATS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show the figures; write them as JSON to ``$SDAX_STRESS_REPORT`` when set."""
    if STATS.cases == 0:
        return
    terminalreporter.write_sep("-", "sdax stress figures")
    terminalreporter.write_line(STATS.summary())
    path = os.environ.get("SDAX_STRESS_REPORT")
    if path:
        STATS.dump(path)
        terminalreporter.write_line(f"  written to {path}")
