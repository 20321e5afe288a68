"""Every Python example of the README and of docs/ runs as written.

How a page's ```` ```python ```` blocks are run:

- in page order, in one namespace per page (a later block may use what an
  earlier one defined), in a fresh interpreter started in an empty folder,
  with warnings turned into errors (as the suite does);
- a block may ``await`` at top level: it then runs in its own
  ``asyncio.run()``; a block without a top-level ``await`` runs as a script
  does (so it may call ``asyncio.run(main())`` itself);
- a block right after the line ``<!-- example: skip REASON -->`` is not run
  (for one that needs a cluster, say); the reason is required;
- a block inside an HTML comment that starts with ``<!-- example: setup``
  runs like any other but does not show on the page: it defines what a
  visible fragment needs;
- a block that ends with ``asyncio.run(main())`` documents its output in
  comments, ``print(...)  # <the line printed>``; what it prints must be that.

Other languages (``bash``, ``text``, ``mermaid``) are not run.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Either may be missing where only some folders were copied (cibuildwheel's
# test sources carry docs/ but not the README).
PAGES = sorted(
    [page for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")] if page.is_file()],
    key=lambda path: path.relative_to(ROOT).as_posix(),
)

SKIP = re.compile(r"<!-- example: skip (?P<reason>\S.*?) -->\s*$")
FENCE = re.compile(r"^```python\n(?P<source>.*?)^```$", re.S | re.M)
DOCUMENTED_PRINT = re.compile(r"^\s*print\(.*?\)\s+# (?P<output>.*)$", re.M)

# Runs in the child interpreter: reads the blocks as JSON on stdin, runs them
# in one namespace, and writes each block's output as JSON on stdout.
RUNNER = r"""
import ast, asyncio, contextlib, inspect, io, json, sys, traceback

blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
outputs = []
for block in blocks:
    # Leading newlines make tracebacks point at the block's line in the page.
    source = "\n" * (block["line"] - 1) + block["source"]
    buffer = io.StringIO()
    try:
        code = compile(source, block["page"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        with contextlib.redirect_stdout(buffer):
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                asyncio.run(result)
    except BaseException:
        sys.stderr.write(buffer.getvalue())
        traceback.print_exc()
        sys.exit(1)
    outputs.append(buffer.getvalue())
print(json.dumps(outputs))
"""


@dataclass(frozen=True)
class Block:
    """One ```python block of a page."""

    page: str
    line: int  # of the block's first line of code
    source: str
    skip_reason: str | None


def blocks_of(page: Path, root: Path = ROOT) -> list[Block]:
    """The page's python blocks, in order, with their skip markers."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append(
            Block(
                page=page.relative_to(root).as_posix(),
                line=text.count("\n", 0, match.start("source")) + 1,
                source=match.group("source"),
                skip_reason=skip.group("reason") if skip else None,
            )
        )
    return found


def run_page(blocks: list[Block], tmp_path: Path) -> list[str]:
    """Run the blocks that are not skipped; return what each printed."""
    payload = [
        {"page": b.page, "line": b.line, "source": b.source} for b in blocks if not b.skip_reason
    ]
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    outputs: list[str] = json.loads(result.stdout)
    return outputs


def pages_with_examples() -> list[Path]:
    return [page for page in PAGES if blocks_of(page)]


def test_the_docs_are_here() -> None:
    if not (ROOT / "docs").is_dir():  # a copy of the tests without the docs
        pytest.skip("docs/ is not here")
    assert len(pages_with_examples()) >= 5, "the docs lost their examples"


@pytest.mark.parametrize(
    "page", pages_with_examples(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_every_example_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    blocks = blocks_of(page)
    outputs = run_page(blocks, tmp_path)
    runnable = [b for b in blocks if not b.skip_reason]
    for block, printed in zip(runnable, outputs, strict=True):
        if block.source.rstrip().endswith("asyncio.run(main())"):
            documented = DOCUMENTED_PRINT.findall(block.source)
            assert documented, f"{block.page}:{block.line} documents no output"
            assert printed.splitlines() == documented, f"{block.page}:{block.line}"


def test_skip_markers_give_a_reason_and_are_rare() -> None:
    skipped = [b for page in PAGES for b in blocks_of(page) if b.skip_reason]
    total = sum(len(blocks_of(page)) for page in PAGES)
    assert all(b.skip_reason and b.skip_reason.strip() for b in skipped)
    assert len(skipped) * 5 <= total, "most examples must run"


def test_the_block_finder_sees_markers_setups_and_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n<!-- example: setup\n```python\nx = 1\n```\n-->\n\n"
        "```python\nprint(x + 1)\n```\n\n<!-- example: skip needs a cluster -->\n"
        "```python\nraise SystemExit(3)\n```\n\n```bash\nexit 1\n```\n",
        encoding="utf-8",
    )
    blocks = blocks_of(page, root=tmp_path)
    assert [(b.line, b.source, b.skip_reason) for b in blocks] == [
        (5, "x = 1\n", None),
        (10, "print(x + 1)\n", None),
        (15, "raise SystemExit(3)\n", "needs a cluster"),
    ]
    assert run_page(blocks, tmp_path) == ["", "2\n"]


def test_a_failing_example_fails_the_test_and_names_its_line(tmp_path: Path) -> None:
    blocks = [Block("page.md", 7, "import asyncio\nawait asyncio.sleep(0)\n1 / 0\n", None)]
    with pytest.raises(AssertionError, match=r'File "page.md", line 9'):
        run_page(blocks, tmp_path)


PUBLIC_MODULES = (
    "sdax",
    "sdax.sdax_core",
    "sdax.tasks",
    "sdax.sdax_task_analyser",
    "sdax.limits",
    "sdax.observe",
    "sdax.report",
    "sdax.export",
    "sdax.testing",
    "sdax.contrib.otel",
    "sdax.contrib.dask",
)


def api_pages() -> dict[str, str]:
    """The API reference's pages, by the module each one renders."""
    pages = {}
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        rendered = re.findall(r"^::: (\S+)$", text, re.M)
        if rendered:  # the first one is the page's module; later ones may be its members
            pages[rendered[0]] = text
    return pages


def test_every_public_module_has_an_api_page() -> None:
    if not (ROOT / "docs" / "api").is_dir():
        pytest.skip("docs/api is not here")
    assert sorted(api_pages()) == sorted(PUBLIC_MODULES)


@pytest.mark.parametrize("module", ["sdax", "sdax.sdax_core"])
def test_the_pages_that_pick_members_name_every_public_name(module: str) -> None:
    # These two pages list members by hand (the rest of each module's names
    # are documented where they are defined); a new public name must appear.
    if not (ROOT / "docs" / "api").is_dir():
        pytest.skip("docs/api is not here")
    text = api_pages()[module]
    names = importlib.import_module(module).__all__
    assert [name for name in names if f"`{name}`" not in text and f"- {name}\n" not in text] == []
