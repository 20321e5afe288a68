"""The event loops the tests run on, chosen by ``SDAX_TEST_LOOPS``.

Each value is one way an application runs on an event loop:

- ``asyncio`` (the default): asyncio's own loop.
- ``uvloop``: every async test runs on a loop from ``uvloop.new_event_loop``.
- ``uvloop-factory``: the same, and every sync test of the fault explorer
  runs in a worker thread of ``asyncio.run(main(),
  loop_factory=uvloop.new_event_loop)`` (on 3.11, which lacks the argument:
  ``asyncio.Runner(loop_factory=...)``), as ``explore_async`` runs from such
  a program.
- ``uvloop-run``: the same through ``uvloop.run(main())``.
- ``uvloop-install``: ``uvloop.install()`` for the whole session (deprecated
  on 3.12+, removed in 3.16); every loop ``asyncio.new_event_loop()`` makes,
  the async tests' among them, is a uvloop loop.
- ``uvloop-policy``: the same through
  ``asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())``.

``asyncio`` and ``uvloop`` combine (``asyncio,uvloop``: every async test runs
on each); the other values change the whole session and stand alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

LOOPS_ENV = "SDAX_TEST_LOOPS"

ALONE = ("uvloop-factory", "uvloop-run", "uvloop-install", "uvloop-policy")
"""The values that change the whole session: each is the only value given."""


def loop_names() -> list[str]:
    """The values of ``SDAX_TEST_LOOPS`` (default ``asyncio``), checked."""
    names = [n.strip() for n in os.environ.get(LOOPS_ENV, "asyncio").split(",") if n.strip()]
    names = names or ["asyncio"]
    for name in names:
        if name not in ("asyncio", "uvloop", *ALONE):
            raise pytest.UsageError(f"{LOOPS_ENV}: unknown event loop {name!r}")
    if len(names) > 1 and any(name in ALONE for name in names):
        raise pytest.UsageError(f"{LOOPS_ENV}: {', '.join(ALONE)} stand alone, got {names}")
    if any(name.startswith("uvloop") for name in names):
        try:
            import uvloop  # noqa: F401
        except ImportError as exc:
            raise pytest.UsageError(f"{LOOPS_ENV} asks for uvloop: {exc}") from None
    return names


def loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loops the async tests run on, one factory per value.

    Asking for uvloop where it is not installed is an error, not a skip.
    """
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
    for name in loop_names():
        if name == "asyncio":
            factories[name] = getattr(asyncio, "EventLoop", None) or asyncio.SelectorEventLoop
        elif name in ("uvloop-install", "uvloop-policy"):
            factories[name] = asyncio.new_event_loop  # the installed policy's loops
        else:
            import uvloop

            factories[name] = uvloop.new_event_loop
    return factories


def install_policy() -> Callable[[], None] | None:
    """Install uvloop's policy if the value asks for it; returns what undoes it."""
    names = loop_names()
    if names[0] not in ("uvloop-install", "uvloop-policy"):
        return None
    import uvloop

    # Deprecated on 3.12+ (uvloop.install) and 3.14+ (asyncio's policies), and
    # the suite turns warnings into errors: the deprecation is what users see.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if names[0] == "uvloop-install":
            uvloop.install()
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    def undo() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(None)

    return undo


def program_runner() -> Callable[[Callable[[], Any]], Any] | None:
    """For ``uvloop-factory`` and ``uvloop-run``: calls a function in a worker thread
    of a program running on uvloop that way (as ``explore_async`` calls ``explore``).
    """
    name = loop_names()[0]
    if name not in ("uvloop-factory", "uvloop-run"):
        return None
    import uvloop

    def run(fn: Callable[[], Any]) -> Any:
        def call() -> tuple[Any, BaseException | None]:
            try:
                return fn(), None
            except BaseException as exc:  # a failed or skipped test, re-raised outside
                return None, exc

        async def main() -> tuple[Any, BaseException | None]:
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
            return await asyncio.to_thread(call)

        if name == "uvloop-run":
            value, error = uvloop.run(main())
        elif sys.version_info >= (3, 12):
            value, error = asyncio.run(main(), loop_factory=uvloop.new_event_loop)
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                value, error = runner.run(main())
        if error is not None:
            raise error
        return value

    return run
