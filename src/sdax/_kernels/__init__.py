"""The integer kernels: the picker and the pure-Python twin of the compiled core.

The one way in for the layers above: ``core`` is the active twin (the compiled
``sdax._core`` when it was built, else the pure ``_core_py``), ``IMPLEMENTATION``
names it (``"cython"`` or ``"python"``). Nothing here knows tasks or asyncio.
"""

from sdax._kernels._accel import IMPLEMENTATION, core

__all__ = ["IMPLEMENTATION", "core"]
