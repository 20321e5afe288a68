"""The integer kernels: the picker and the pure-Python twin of the compiled core.

The one way in for the layers above: ``core`` is the active twin (the compiled
``sdax._core`` when it was built, else the pure ``_core_py``), ``IMPLEMENTATION``
names it (``"cython"`` or ``"python"``), ``RunState`` is the type of a run's
counters. Nothing here knows tasks or asyncio.
"""

from sdax._kernels._accel import IMPLEMENTATION, core

# The active twin's run bookkeeping; type checkers see the pure twin's class
# (both twins have the same API), for annotations of the layers above.
RunState = core.RunState

__all__ = ["IMPLEMENTATION", "RunState", "core"]
