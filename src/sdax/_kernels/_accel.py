"""Pick the integer core: the compiled extension when present, else the pure twin.

Set ``SDAX_NO_EXTENSIONS=1`` in the environment to force the pure-Python core.
``IMPLEMENTATION`` tells which one is active: ``"cython"`` or ``"python"``.

Type checkers see ``core`` as the pure twin, whatever runs: both twins have
the same API (the parity tests hold it), so every call into the core is
checked against the pure twin's signatures. The compiled module has no stub:
nothing is typed against it.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Literal

__all__ = ["IMPLEMENTATION", "core"]


def _load() -> tuple[ModuleType, Literal["cython", "python"]]:
    if os.environ.get("SDAX_NO_EXTENSIONS", "").strip() not in ("", "0"):
        from sdax._kernels import _core_py

        return _core_py, "python"
    try:
        # The extension has no stub: type checkers see the pure twin instead (below).
        from sdax import _core  # type: ignore[attr-defined]
    except ImportError:
        from sdax._kernels import _core_py

        return _core_py, "python"
    return _core, "cython"


if TYPE_CHECKING:
    from sdax._kernels import _core_py as core

    IMPLEMENTATION: Literal["cython", "python"]
else:
    core, IMPLEMENTATION = _load()
