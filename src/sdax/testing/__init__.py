"""Prove your own cleanup: run a processor under injected faults and check what happened.

``explore(processor, make_ctx, check)`` runs the processor once per fault
scenario derived from its plan (every phase call raising at its start,
raising where it first waits, hanging, being cancelled from outside,
interrupted with ``KeyboardInterrupt``, failing once before a retry; the
kinds that strike where a call waits also at its 2nd and 3rd wait; plus
seeded random pairs of faults; ``phases=`` limits them to some phases).
After each run it checks sdax's own promises and your ``check(ctx)`` (or
``check(ctx, scenario)``, which also gets the scenario's faults and whether
each struck), and reports the scenarios that broke one, grouped by cause,
with a trace and a one-line id that runs a scenario again (``only="<id>"``).

Faults wrap your real phase functions: your code runs up to the fault.
With ``looptime`` installed (``pip install "sdax[testing]"``) the runs use
virtual time: retry delays, timeouts and deadlines pass without waiting.

A pytest fixture, ``sdax_explore``, comes with the ``sdax`` pytest plugin,
and ``sdax check MODULE:ATTR --ctx MODULE:FACTORY`` runs an exploration from
the command line. See docs/testing.md.
"""

from sdax.testing._explorer import explore, explore_async, have_virtual_time
from sdax.testing._faults import KINDS, Event, Fault, InjectedFault
from sdax.testing._report import Cause, ExploreResult, Finding
from sdax.testing._scenarios import BASELINE, PHASES, Scenario

__all__ = [
    "BASELINE",
    "KINDS",
    "PHASES",
    "Cause",
    "Event",
    "ExploreResult",
    "Fault",
    "Finding",
    "InjectedFault",
    "Scenario",
    "explore",
    "explore_async",
    "have_virtual_time",
]
