"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_first_processor_example_runs_and_prints_what_it_says() -> None:
    (example,) = [block for block in python_blocks() if "asyncio.run(main())" in block]
    printed = re.search(r"print\(ctx\.log\)  # (\[.*\])", example)
    assert printed is not None, "the example documents its output in a comment"
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed.group(1)


def test_the_quick_start_names_the_commands_a_newcomer_needs() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start") : text.index("## Installing")]
    assert "pip install .\nsdax demo" in quick
    assert "python -m pytest -q" in quick
