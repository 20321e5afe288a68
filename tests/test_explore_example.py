"""examples/ledger_pool.py: explore() catches the wrong post over SQLite, and passes the fix."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("aiosqlite")

from sdax.testing import explore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ledger_pool", EXAMPLES / "ledger_pool.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_example_script_finds_the_wrong_post_and_passes_the_fixed_one() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "ledger_pool.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = re.search(r"the wrong post: sdax explore: (\d+) scenarios, (\d+) broken", done.stdout)
    fixed = re.search(r"the fixed post: sdax explore: (\d+) scenarios, (\d+) broken", done.stdout)
    assert wrong is not None and fixed is not None, done.stdout
    assert int(wrong[2]) > 0
    assert int(fixed[2]) == 0
    assert int(fixed[1]) == int(wrong[1]) > 20
    assert "the ledger holds part of a transfer" in done.stdout


def test_a_failed_credit_is_committed_by_the_wrong_post_only() -> None:
    example = load_example()
    scenario = "raise-start@execute:credit"
    wrong = explore(
        example.wrong_processor, example.make_ctx, example.check, only=scenario, **example.OPTIONS
    )
    assert [f.scenario for f in wrong.findings] == [scenario]
    assert wrong.findings[0].broken == (
        "check(ctx) failed: the ledger holds part of a transfer: {1: 70, 2: 100}",
    )
    fixed = explore(
        example.fixed_processor, example.make_ctx, example.check, only=scenario, **example.OPTIONS
    )
    assert fixed.ok, fixed.report()
