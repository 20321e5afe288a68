"""Every Python example of the README and of docs/ runs as written.

How a page's ```` ```python ```` blocks are run:

- a block is a complete **program** unless marked otherwise: it is written to
  a file of its own and run with the interpreter (``python -W error FILE``,
  warnings are errors as in the suite) in an empty folder, alone, as a reader
  who copies it into a file would run it; a program therefore has no
  top-level ``await`` (it calls ``asyncio.run(main())``);
- a program documents what it prints in comments, ``print(...)  # <the line
  printed>``; when it has such comments (and it must when it ends with
  ``asyncio.run(main())``), what it prints must be those lines, in order. A
  line that depends on the machine is documented as ``# one of: A, B``;
- a **fragment** is a block whose first line is a comment that says it is for
  ``python -m asyncio`` (asyncio's REPL, where top-level ``await`` works).
  The page's fragments run in page order in one namespace, with the page's
  setup blocks, in one interpreter per page; their output is not checked;
- a block inside an HTML comment that starts with ``<!-- example: setup``
  does not show on the page: it stands for the reader's own code (the
  functions a visible block names). It runs before every later program of
  the page (in the same file) and in the fragments' namespace;
- a block right after the line ``<!-- example: skip REASON -->`` is not run
  (for one that needs a cluster, say); the reason is required.

Other languages (``bash``, ``text``, ``mermaid``) are not run. Tracebacks
name the page's lines: a program's file is ``<page>-line<N>.py`` and each
block sits at its line of the page.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Either may be missing where only some folders were copied (cibuildwheel's
# test sources carry docs/ but not the README).
PAGES = sorted(
    [page for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")] if page.is_file()],
    key=lambda path: path.relative_to(ROOT).as_posix(),
)

SKIP = re.compile(r"<!-- example: skip (?P<reason>\S.*?) -->\s*$")
SETUP = re.compile(r"^<!-- example: setup\b")
FENCE = re.compile(r"^```python\n(?P<source>.*?)^```$", re.S | re.M)
FRAGMENT = re.compile(r"\A#[^\n]*python -m asyncio")
DOCUMENTED_PRINT = re.compile(r"^\s*print\(.*?\)\s+# (?P<output>.*)$", re.M)
ONE_OF = "one of: "

# Runs the fragments in the child interpreter: reads the blocks as JSON on
# stdin, runs them in one namespace (top-level await allowed, as in
# ``python -m asyncio``), and writes each block's output as JSON on stdout.
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

Kind = Literal["program", "fragment", "setup"]


@dataclass(frozen=True)
class Block:
    """One ```python block of a page."""

    page: str
    line: int  # of the block's first line of code
    source: str
    skip_reason: str | None
    kind: Kind = "program"


def blocks_of(page: Path, root: Path = ROOT) -> list[Block]:
    """The page's python blocks, in order, with their kinds and skip markers."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        source = match.group("source")
        kind: Kind = (
            "setup" if SETUP.match(before) else "fragment" if FRAGMENT.match(source) else "program"
        )
        found.append(
            Block(
                page=page.relative_to(root).as_posix(),
                line=text.count("\n", 0, match.start("source")) + 1,
                source=source,
                skip_reason=skip.group("reason") if skip else None,
                kind=kind,
            )
        )
    return found


def program_file(blocks: list[Block], program: Block, folder: Path) -> Path:
    """Write ``program``, after the page's setup blocks above it, each at its page line."""
    lines: list[str] = []
    for block in blocks:
        if block is program or (
            block.kind == "setup" and not block.skip_reason and block.line < program.line
        ):
            lines.extend([""] * (block.line - 1 - len(lines)))
            lines.extend(block.source.splitlines())
        if block is program:
            break
    name = program.page.replace("/", "-")
    path = folder / f"{name}-line{program.line}.py"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def uses_top_level_await(block: Block) -> bool:
    """Whether the block only compiles in asyncio's REPL (top-level ``await``)."""
    try:
        compile(block.source, block.page, "exec")
    except SyntaxError as exc:
        return "outside" in str(exc) and ("await" in str(exc) or "async" in str(exc))
    return False


def start_program(blocks: list[Block], program: Block, folder: Path) -> subprocess.Popen[str]:
    """Start one program as a file in a fresh interpreter."""
    assert not uses_top_level_await(program), (
        f"{program.page}:{program.line} uses top-level await, so it fails when run from a "
        "file: make it a complete program (async def main() + asyncio.run(main())), or a "
        "fragment whose first line is a comment saying it is for `python -m asyncio`"
    )
    workdir = folder / f"run-line{program.line}"
    workdir.mkdir()
    path = program_file(blocks, program, folder)
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workdir,
    )


def program_output(program: Block, process: subprocess.Popen[str]) -> str:
    """Wait for a started program; return what it printed (it must succeed)."""
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, f"{program.page}:{program.line} failed:\n{stdout}{stderr}"
    return stdout


def run_program(blocks: list[Block], program: Block, folder: Path) -> str:
    """Run one program as a file in a fresh interpreter; return what it printed."""
    return program_output(program, start_program(blocks, program, folder))


def run_fragments(blocks: list[Block], folder: Path) -> list[str]:
    """Run the setups and the fragments in one namespace; return what each printed."""
    payload = [
        {"page": b.page, "line": b.line, "source": b.source}
        for b in blocks
        if not b.skip_reason and b.kind != "program"
    ]
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    outputs: list[str] = json.loads(result.stdout)
    return outputs


def documented_output(program: Block) -> list[str]:
    """The lines the program's comments say it prints."""
    return DOCUMENTED_PRINT.findall(program.source)


def matches(printed: list[str], documented: list[str]) -> bool:
    """Whether each printed line is its documented line (or one of its alternatives)."""
    if len(printed) != len(documented):
        return False
    for line, doc in zip(printed, documented, strict=True):
        allowed = doc.removeprefix(ONE_OF).split(", ") if doc.startswith(ONE_OF) else [doc]
        if line not in allowed:
            return False
    return True


def check_output(program: Block, stdout: str) -> None:
    """Compare what a program printed with what its comments document."""
    printed = stdout.splitlines()
    documented = documented_output(program)
    where = f"{program.page}:{program.line}"
    if program.source.rstrip().endswith("asyncio.run(main())"):
        assert documented, f"{where} documents no output"
    if documented:
        assert matches(printed, documented), f"{where} printed {printed}, documents {documented}"


def check_program(blocks: list[Block], program: Block, folder: Path) -> None:
    """Run the program and compare its output with what its comments document."""
    check_output(program, run_program(blocks, program, folder))


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
    programs = [b for b in blocks if b.kind == "program" and not b.skip_reason]
    # The page's programs run side by side: interpreter start-up dominates.
    started = []
    try:
        for program in programs:
            started.append((program, start_program(blocks, program, tmp_path)))
        for program, process in started:
            check_output(program, program_output(program, process))
    finally:
        for _, process in started:
            process.kill()
    if any(b.kind == "fragment" and not b.skip_reason for b in blocks):
        run_fragments(blocks, tmp_path)


def test_skip_markers_give_a_reason_and_are_rare() -> None:
    skipped = [b for page in PAGES for b in blocks_of(page) if b.skip_reason]
    total = sum(len(blocks_of(page)) for page in PAGES)
    assert all(b.skip_reason and b.skip_reason.strip() for b in skipped)
    assert len(skipped) * 5 <= total, "most examples must run"


def test_most_examples_are_complete_programs() -> None:
    # Fragments are for the few lines that only show the shape of a call.
    blocks = [b for page in PAGES for b in blocks_of(page) if b.kind != "setup"]
    fragments = [b for b in blocks if b.kind == "fragment"]
    assert len(fragments) * 4 <= len(blocks), [f"{b.page}:{b.line}" for b in fragments]


def _page(tmp_path: Path, text: str) -> list[Block]:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return blocks_of(page, root=tmp_path)


def test_the_block_finder_sees_kinds_markers_and_lines(tmp_path: Path) -> None:
    blocks = _page(
        tmp_path,
        "# t\n\n<!-- example: setup\n```python\nx = 1\n```\n-->\n\n"
        "```python\nprint(x + 1)  # 2\n```\n\n<!-- example: skip needs a cluster -->\n"
        "```python\nraise SystemExit(3)\n```\n\n"
        "```python\n# for python -m asyncio\nawait f()\n```\n\n```bash\nexit 1\n```\n",
    )
    assert [(b.line, b.source, b.skip_reason, b.kind) for b in blocks] == [
        (5, "x = 1\n", None, "setup"),
        (10, "print(x + 1)  # 2\n", None, "program"),
        (15, "raise SystemExit(3)\n", "needs a cluster", "program"),
        (19, "# for python -m asyncio\nawait f()\n", None, "fragment"),
    ]


def test_a_program_runs_alone_from_a_file_after_the_setups_above_it(tmp_path: Path) -> None:
    blocks = _page(
        tmp_path,
        "<!-- example: setup\n```python\nx = 1\n```\n-->\n\n"
        "```python\ny = 2\n```\n\n"
        "```python\nimport sys\nprint(x + 1, 'y' in globals(), sys.argv[0].endswith('.py'))"
        "  # 2 False True\n```\n",
    )
    check_program(blocks, blocks[2], tmp_path)
    assert (tmp_path / "page.md-line12.py").read_text().splitlines()[:3] == ["", "", "x = 1"]


def test_a_program_with_top_level_await_is_refused_with_the_fix(tmp_path: Path) -> None:
    blocks = _page(tmp_path, "```python\nimport asyncio\nawait asyncio.sleep(0)\n```\n")
    with pytest.raises(AssertionError, match=r"page.md:2 uses top-level await.*python -m asyncio"):
        run_program(blocks, blocks[0], tmp_path)


def test_a_failing_program_fails_the_test_and_names_its_line(tmp_path: Path) -> None:
    blocks = _page(tmp_path, "# t\n\n```python\nimport asyncio\n\n1 / 0\n```\n")
    with pytest.raises(AssertionError, match=r'page.md-line4.py", line 6'):
        run_program(blocks, blocks[0], tmp_path)


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("print(1)  # 1\nprint('a, b')  # a, b\n", True),
        ("print(1)  # 2\n", False),
        ("print(1)  # 1\nprint(2)\n", False),
        ("print('python')  # one of: cython, python\n", True),
        ("print('pypy')  # one of: cython, python\n", False),
        (
            "import asyncio\nasync def main() -> None:\n    print(1)\n\n\nasyncio.run(main())\n",
            False,
        ),
    ],
    ids=["same", "differs", "undocumented-line", "one-of", "none-of", "main-documents-nothing"],
)
def test_a_program_prints_what_it_documents(tmp_path: Path, source: str, ok: bool) -> None:
    blocks = _page(tmp_path, f"```python\n{source}```\n")
    if ok:
        check_program(blocks, blocks[0], tmp_path)
    else:
        with pytest.raises(AssertionError, match=re.escape("page.md:2 ")):
            check_program(blocks, blocks[0], tmp_path)


def test_fragments_run_in_one_namespace_with_top_level_await(tmp_path: Path) -> None:
    blocks = _page(
        tmp_path,
        "<!-- example: setup\n```python\nimport asyncio\n```\n-->\n\n"
        "```python\n# python -m asyncio\nx = await asyncio.sleep(0, 1)\n```\n\n"
        "```python\n# python -m asyncio, after the above\nprint(x + 1)\n```\n",
    )
    assert run_fragments(blocks, tmp_path) == ["", "", "2\n"]


def test_a_failing_fragment_names_its_line(tmp_path: Path) -> None:
    blocks = _page(tmp_path, "```python\n# python -m asyncio\nawait asyncio.sleep(0)\n```\n")
    with pytest.raises(AssertionError, match=r'File "page.md", line 3'):
        run_fragments(blocks, tmp_path)


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
