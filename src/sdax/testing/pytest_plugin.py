"""The sdax pytest plugin: the ``sdax_explore`` fixture.

Installed with sdax (entry point ``pytest11``), so every test suite that has
sdax can ask for the fixture::

    def test_cleanup_holds(sdax_explore):
        sdax_explore(processor, make_ctx, check=all_connections_closed)

The fixture runs :func:`sdax.testing.explore` and fails the test with the
report when a scenario broke a rule. Command-line options set defaults for
every call in the session: ``--sdax-seed``, ``--sdax-pairs`` and
``--sdax-only`` (one scenario id, to rerun a failure). Loading the plugin
imports ``sdax`` and ``sdax.testing``; looptime loads with the first
exploration.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sdax.testing._report import ExploreResult

__all__ = ["Explorer", "pytest_addoption", "sdax_explore"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--sdax-*`` options."""
    group = parser.getgroup("sdax", "sdax fault exploration (the sdax_explore fixture)")
    group.addoption(
        "--sdax-seed", type=int, default=None, help="seed of the random fault pairs (default 0)"
    )
    group.addoption(
        "--sdax-pairs",
        type=int,
        default=None,
        help="how many two-fault scenarios each exploration runs at most (default 50)",
    )
    group.addoption(
        "--sdax-only",
        default=None,
        metavar="ID",
        help="run only this scenario id (as a report prints it) in every exploration",
    )


class Explorer:
    """What the ``sdax_explore`` fixture gives: :func:`sdax.testing.explore` that fails the test.

    Args:
        defaults: Keyword arguments from the command line, used unless a
            call gives its own.
        nodeid: The test's node id: a report says to rerun a scenario with
            ``pytest NODEID --sdax-only ID``.
    """

    def __init__(self, defaults: dict[str, Any], nodeid: str = "") -> None:
        self.defaults = defaults
        self.nodeid = nodeid
        self.results: list[ExploreResult] = []
        """Every result of this test, in order."""

    def _rerun(self, scenario: str) -> str:
        test = f"{shlex.quote(self.nodeid)} " if self.nodeid else ""
        return f"pytest {test}--sdax-only {shlex.quote(scenario)}"

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **options}

    def _judge(self, result: ExploreResult) -> ExploreResult:
        self.results.append(result)
        if not result.ok:
            pytest.fail(result.report(self._rerun), pytrace=False)
        return result

    def __call__(
        self,
        processor: Any,
        make_ctx: Callable[[], Any],
        check: Callable[[Any], Any] | None = None,
        **options: Any,
    ) -> ExploreResult:
        """Explore ``processor``; fail the test with the report if a rule broke.

        Keyword arguments are those of :func:`sdax.testing.explore`.
        """
        from sdax.testing._explorer import explore

        return self._judge(explore(processor, make_ctx, check, **self._options(options)))

    async def explore_async(
        self,
        processor: Any,
        make_ctx: Callable[[], Any],
        check: Callable[[Any], Any] | None = None,
        **options: Any,
    ) -> ExploreResult:
        """The same, from an async test (see :func:`sdax.testing.explore_async`)."""
        from sdax.testing._explorer import explore_async

        result = await explore_async(processor, make_ctx, check, **self._options(options))
        return self._judge(result)


@pytest.fixture
def sdax_explore(request: pytest.FixtureRequest) -> Explorer:
    """Explore a processor under injected faults; the test fails on a broken rule."""
    config = request.config
    defaults: dict[str, Any] = {}
    for option, key in (("sdax_seed", "seed"), ("sdax_pairs", "pairs"), ("sdax_only", "only")):
        value = config.getoption(option)
        if value is not None:
            defaults[key] = value
    return Explorer(defaults, request.node.nodeid)
