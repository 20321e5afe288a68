"""What the faces share: one call that makes a face the home of what it shows.

The public names are declared in the private layers (``sdax._build``,
``sdax._engine``) and re-exported by the faces. Each face ends with
``fixup_module_metadata(__name__, globals())``, so that tracebacks, reprs,
pickles and ``typing.get_type_hints`` name the module users import from, as
trio's function of that name does.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["fixup_module_metadata"]


def _private(module: str) -> bool:
    # sdax._engine._run is private; sdax.tasks, sdax.testing are not.
    return any(part.startswith("_") for part in module.split(".")[1:])


def _resolve_annotations(cls: type) -> None:
    # String annotations (``from __future__ import annotations``) are looked up
    # in the class's ``__module__``; a face holds only what it shows, so they
    # are resolved once, where the class was written, before it moves.
    own = inspect.get_annotations(cls)
    if not any(isinstance(value, str) for value in own.values()):
        return
    hints = typing.get_type_hints(cls)
    cls.__annotations__ = {name: hints.get(name, value) for name, value in own.items()}


def fixup_module_metadata(module_name: str, namespace: Mapping[str, Any]) -> None:
    """Make ``module_name`` the ``__module__`` of the names its ``__all__`` shows.

    Only what still names a private module moves, so a name re-exported from
    another face keeps that face as its home, and a name that the package
    ``sdax`` itself shows stays at home there (the package's own call, at
    the end of its ``__init__``, runs after the faces it imports).

    Args:
        module_name: The face's ``__name__``.
        namespace: The face's ``globals()``, with its ``__all__``.
    """
    package = sys.modules["sdax"] if module_name != "sdax" else None
    for name in namespace["__all__"]:
        obj = namespace[name]
        home = getattr(obj, "__module__", None)
        if not isinstance(home, str) or not home.startswith("sdax.") or not _private(home):
            continue
        if package is not None and getattr(package, name, None) is obj:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if inspect.isclass(obj):
            _resolve_annotations(obj)
            # A private stand-in shown under the class's name moves with it
            # (SdaxExecutionError's ExceptionGroup flavour).
            for sub in obj.__subclasses__():
                if sub.__qualname__ == obj.__qualname__ and sub.__module__ == home:
                    sub.__module__ = module_name
        obj.__module__ = module_name
