"""Build script: declares the optional compiled core ``sdax._core``.

Everything else about the package lives in ``pyproject.toml``. The extension
is optional: when it cannot be built (no Cython, no C compiler, a compile
error) the install goes on with the pure-Python core and says so on stderr.

Environment switches, read at build time:

``SDAX_NO_EXTENSIONS=1``
    Do not try to compile; build a pure-Python package (``py3-none-any``).
``SDAX_REQUIRE_EXTENSIONS=1``
    A failed compile is an error instead of a fallback (used for wheels).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PYX = "src/sdax/_core.pyx"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0")


def _say(message: str) -> None:
    bar = "=" * 72
    print(f"\n{bar}\nsdax: {message}\n{bar}\n", file=sys.stderr, flush=True)


class OptionalBuildExt(build_ext):  # type: ignore[misc]  # setuptools is untyped
    """``build_ext`` that translates the ``.pyx`` and falls back to pure Python on failure."""

    def run(self) -> None:
        try:
            cythonize: Any = importlib.import_module("Cython.Build").cythonize
        except ImportError:
            self._fallback(RuntimeError("Cython is not installed"))
            return
        try:
            # Generated C goes to the build directory, not next to the sources.
            translated = cythonize(self.extensions, build_dir=self.build_temp, quiet=True)
            for ext, done in zip(self.extensions, translated, strict=True):
                ext.sources = done.sources
            super().run()
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc: Exception) -> None:
        if _flag("SDAX_REQUIRE_EXTENSIONS"):
            _say(f"building the compiled core failed and SDAX_REQUIRE_EXTENSIONS is set: {exc}")
            raise exc
        self.extensions: list[Extension] = []
        _say(
            "could not build the compiled core (sdax._core): "
            f"{type(exc).__name__}: {exc}\n"
            "sdax: installing the pure-Python core instead; it works the same, only slower."
        )


def main() -> None:
    """Run setuptools, with the compiled core unless SDAX_NO_EXTENSIONS is set."""
    if _flag("SDAX_NO_EXTENSIONS"):
        _say("SDAX_NO_EXTENSIONS is set: building the pure-Python core only.")
        setup()
        return
    setup(
        ext_modules=[Extension("sdax._core", [PYX])],
        cmdclass={"build_ext": OptionalBuildExt},
    )


main()
