"""What a benchmark report says about the machine and the measured sdax.

The CPU, its load, the C heap (glibc's ``mallinfo2``), and which sdax source
was measured: facts printed in the report's header, and the C-heap reading the
memory figures use.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sdax


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (or what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1-minute load average (other processes competing for the CPUs)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _mallinfo2()


def malloc_in_use() -> int | None:
    """Bytes in use in the C heap (glibc ``mallinfo2``: heap blocks + mmapped blocks).

    Sees what tracemalloc cannot: memory a compiled module takes with ``malloc``.
    ``None`` where glibc's ``mallinfo2`` is missing.
    """
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


def source_revision(package_dir: Path) -> str:
    """The git commit of the measured sdax source, noting uncommitted changes in it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(package_dir), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


def run_info(unavailable: dict[str, str | None], **settings: Any) -> dict[str, Any]:
    """The header facts of a report taken now, plus the run's ``settings``.

    Args:
        unavailable: Per core label, why it cannot be measured (``None``: it can).
        **settings: Rounds, warm-up, clock and the like, recorded as given.
    """
    package_dir = Path(sdax.__file__).parent
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_start": load_average(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "sdax_version": sdax.__version__,
        "sdax_path": str(package_dir),
        "revision": source_revision(package_dir),
        "active": sdax.IMPLEMENTATION,
        "unavailable": unavailable,
        **settings,
    }
