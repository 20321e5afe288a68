"""The event loops the async tests run on, chosen by ``SDAX_TEST_LOOPS``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

LOOPS_ENV = "SDAX_TEST_LOOPS"


def loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loops the async tests run on: ``SDAX_TEST_LOOPS`` (default ``asyncio``).

    A comma-separated list of ``asyncio`` and ``uvloop``; with both, every
    async test runs once on each. Asking for uvloop where it is not installed
    is an error, not a skip.
    """
    names = [n.strip() for n in os.environ.get(LOOPS_ENV, "asyncio").split(",") if n.strip()]
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
    for name in names or ["asyncio"]:
        if name == "asyncio":
            factories[name] = getattr(asyncio, "EventLoop", None) or asyncio.SelectorEventLoop
        elif name == "uvloop":
            try:
                import uvloop
            except ImportError as exc:
                raise pytest.UsageError(f"{LOOPS_ENV} asks for uvloop: {exc}") from None
            factories[name] = uvloop.new_event_loop
        else:
            raise pytest.UsageError(f"{LOOPS_ENV}: unknown event loop {name!r}")
    return factories
