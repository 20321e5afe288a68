"""The README is a landing page that keeps its promises.

Its Python examples run as written: ``tests/test_docs_examples.py`` runs each
as a program from a file, like those of docs/ (and checks the output they
document).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme() -> str:
    if not README.exists():  # a copy of the tests without the repository around them
        pytest.skip("README.md is not here")
    return README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## ``."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_quick_start_names_the_commands_a_newcomer_needs() -> None:
    quick = section(readme(), "Quick start")
    assert "pip install .\nsdax demo" in quick
    assert "python -m pytest -q" in quick


def test_the_first_processor_documents_what_it_prints() -> None:
    first = section(readme(), "A first processor")
    assert "asyncio.run(main())" in first
    assert re.search(r"print\(ctx\.log\)  # \[.*\]", first)


def test_development_names_the_tools_and_the_test_dimensions() -> None:
    development = section(readme(), "Development")
    for name in (
        "tools/sid-python",
        "tools/test-installed",
        "SDAX_NO_EXTENSIONS",
        "SDAX_PUBLIC_ASYNCIO",
        "SDAX_TEST_LOOPS",
        "python -m pytest -q",
    ):
        assert name in development, name


def test_every_relative_link_points_at_a_file_of_the_repository() -> None:
    text = readme()
    if not (ROOT / "docs").is_dir():
        pytest.skip("docs/ is not here")
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert targets, "the README links to nothing"
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing


def test_it_stays_a_landing_page() -> None:
    # The guide, the rules in full and the design live in docs/.
    assert len(readme().splitlines()) <= 300
