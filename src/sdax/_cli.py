"""The ``sdax`` command (also ``python -m sdax``).

Subcommands:

- ``sdax demo [--html FILE] [--trace FILE]``: run a built-in example request
  and print its timeline (and write it as a page or a trace);
- ``sdax graph MODULE:ATTR [--format text|mermaid|dot]``: print the plan of a
  processor defined in your code;
- ``sdax info``: version, Python, platform and the active integer core;
- ``sdax check MODULE:ATTR --ctx MODULE:FACTORY [--check MODULE:FUNC]
  [--html PATH] [--trace PATH]``: run the processor under every fault
  scenario (:func:`sdax.testing.explore`) and print the report (and write
  each cause's shown run as a page or a trace); exit code 1 when a scenario
  broke a rule.

Errors about the command line or the ``MODULE:ATTR`` target are printed as
one line on stderr, with exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sdax._kernels import IMPLEMENTATION
from sdax._version import __version__
from sdax.export import FORMATS, PlanSource, render_plan
from sdax.sdax_core import (
    AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
)
from sdax.sdax_task_analyser import TaskAnalysis

__all__ = ["TargetError", "build_parser", "load_target", "main"]

_SOURCE_TYPES = (
    AsyncDagTaskProcessor,
    TaskAnalysis,
    AsyncDagTaskProcessorBuilder,
    AsyncDagLevelAdapterBuilder,
)
_WHAT = "an sdax processor, builder or TaskAnalysis"


class TargetError(Exception):
    """A ``MODULE:ATTR`` target that cannot be used; the message is one line."""


def _import(module_name: str) -> Any:
    # Like ``python -m``: the current directory is importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        parts = module_name.split(".")
        if exc.name in {".".join(parts[: i + 1]) for i in range(len(parts))}:
            raise TargetError(f"no module named {exc.name!r}") from None
        raise TargetError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    except Exception as exc:
        raise TargetError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None


def _as_source(value: Any, target: str) -> PlanSource:
    if isinstance(value, _SOURCE_TYPES):
        return value
    if inspect.isclass(value) or not callable(value):
        raise TargetError(f"{target} is a {type(value).__name__}, not {_WHAT} (or a function)")
    try:
        signature = inspect.signature(value)
        signature.bind()
    except TypeError:
        raise TargetError(f"{target} takes arguments; give a function that takes none") from None
    except ValueError:
        pass  # no signature to check (a builtin): just call it
    try:
        result = value()
    except Exception as exc:
        raise TargetError(f"calling {target}() failed: {type(exc).__name__}: {exc}") from None
    if inspect.iscoroutine(result):
        result.close()
        raise TargetError(f"{target} is an async function; give a plain function")
    if not isinstance(result, _SOURCE_TYPES):
        raise TargetError(f"{target}() returned a {type(result).__name__}, not {_WHAT}")
    return result


def load_target(target: str) -> PlanSource:
    """Import ``MODULE:ATTR`` and return the plan source it names.

    ``ATTR`` may be dotted (``module:holder.processor``). It must name a
    processor, a builder, a TaskAnalysis, or a function taking no arguments
    that returns one of these.

    Raises:
        TargetError: The target is malformed, cannot be imported or found, or
            is of the wrong type; the message says which.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(
            f"expected MODULE:ATTR (for example myapp.workflows:processor), got {target!r}"
        )
    value = _import(module_name)
    path = module_name
    for part in attr.split("."):
        if not hasattr(value, part):
            raise TargetError(f"{path!r} has no attribute {part!r}")
        value = getattr(value, part)
        path = f"{path}:{part}" if path == module_name else f"{path}.{part}"
    return _as_source(value, target)


def _fail(command: str, message: str) -> int:
    print(f"sdax {command}: error: {message}", file=sys.stderr)
    return 2


def _cmd_graph(args: argparse.Namespace) -> int:
    try:
        source = load_target(args.target)
        text = render_plan(source, args.format)
    except TargetError as exc:
        return _fail("graph", str(exc))
    except (TypeError, ValueError) as exc:
        return _fail("graph", f"building the plan failed: {exc}")
    print(text)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from sdax._demo import run_demo
    from sdax.report import RunReport

    report = RunReport()
    code = asyncio.run(run_demo(sys.stdout, args.width, report))
    return _write_pictures("demo", report, args.html, args.trace) or code


def _write_pictures(command: str, report: Any, html: str | None, trace: str | None) -> int:
    """Write the last run of ``report`` as a page and/or a trace; 2 if a file cannot be written."""
    for path, write in ((html, report.write_html), (trace, report.write_trace)):
        if path is not None:
            try:
                write(path)
            except OSError as exc:
                return _fail(command, f"cannot write {path}: {exc.strerror or exc}")
            print(f"wrote {path}")
    return 0


def _load_callable(target: str, option: str) -> Any:
    """Import ``MODULE:ATTR`` (for ``--ctx`` and ``--check``); it must be callable."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{option} expects MODULE:ATTR, got {target!r}")
    value = _import(module_name)
    for part in attr.split("."):
        if not hasattr(value, part):
            raise TargetError(f"{option}: {module_name!r} has no attribute {attr!r}")
        value = getattr(value, part)
    if not callable(value):
        raise TargetError(f"{option}: {target} is a {type(value).__name__}, not callable")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    from sdax.testing import KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        given = ", ".join(unknown) or "(none given)"
        raise argparse.ArgumentTypeError(
            f"unknown fault kind(s) {given}; known: {', '.join(KINDS)}"
        )
    return kinds


def _phases(text: str) -> tuple[str, ...]:
    from sdax.testing import PHASES

    phases = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        given = ", ".join(unknown) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown phase(s) {given}; known: {', '.join(PHASES)}")
    return phases


def _rerun_hint(args: argparse.Namespace) -> Callable[[str], str]:
    """How the report says to run one scenario again: this command with ``--only ID``."""
    command = ["sdax", "check", args.target, "--ctx", args.ctx]
    if args.check:
        command += ["--check", args.check]
    if args.real_time:
        command.append("--real-time")
    prefix = shlex.join(command)
    return lambda scenario: f"{prefix} --only {shlex.quote(scenario)}"


def _cmd_check(args: argparse.Namespace) -> int:
    from sdax.testing import KINDS, PHASES, explore

    try:
        source = load_target(args.target)
        make_ctx = _load_callable(args.ctx, "--ctx")
        check = _load_callable(args.check, "--check") if args.check else None
    except TargetError as exc:
        return _fail("check", str(exc))
    if isinstance(source, AsyncDagTaskProcessorBuilder | AsyncDagLevelAdapterBuilder):
        source = source.build()
    elif isinstance(source, TaskAnalysis):
        source = AsyncDagTaskProcessor(source)
    try:
        result = explore(
            source,
            make_ctx,
            check,
            only=args.only or None,
            kinds=args.kinds or KINDS,
            phases=args.phases or PHASES,
            pairs=args.pairs,
            seed=args.seed,
            virtual_time=False if args.real_time else None,
            progress=args.progress,
            timelines=bool(args.html or args.trace),
        )
    except ValueError as exc:
        return _fail("check", str(exc))
    rerun = _rerun_hint(args)
    print(result.report(rerun))
    code = 0 if result.ok else 1
    for path, write in ((args.html, result.write_html), (args.trace, result.write_trace)):
        if path is None:
            continue
        try:
            written = write(path, reproduce=rerun)
        except OSError as exc:
            return _fail("check", f"cannot write {path}: {exc.strerror or exc}")
        if not written:
            print(f"nothing broke: {path} not written")
        for file in written:
            print(f"wrote {file}")
    return code


def _core_description() -> str:
    if IMPLEMENTATION == "cython":
        return "cython (compiled core)"
    if os.environ.get("SDAX_NO_EXTENSIONS", "").strip() not in ("", "0"):
        return "python (pure-Python core, forced by SDAX_NO_EXTENSIONS)"
    if importlib.util.find_spec("sdax._core") is None:
        return "python (pure-Python core; the compiled core is not built)"
    return "python (pure-Python core)"


def _asyncio_description() -> str:
    from sdax._engine import ASYNCIO_PATH, PATH_REASON

    return f"{ASYNCIO_PATH} path ({PATH_REASON})"


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _loop_description() -> str:
    version = _installed("uvloop")
    if version is None:
        return "asyncio (uvloop not installed)"
    return f"asyncio; uvloop {version} installed (sdax runs on either)"


def _otel_description() -> str:
    version = _installed("opentelemetry-api")
    if version is None:
        return 'not installed (pip install "sdax[otel]")'
    return f"opentelemetry-api {version} (sdax.contrib.otel available)"


def _cmd_info(args: argparse.Namespace) -> int:
    rows = [
        ("sdax", __version__),
        ("core", _core_description()),
        ("asyncio", _asyncio_description()),
        ("loop", _loop_description()),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        ("tracing", _otel_description()),
    ]
    for key, value in rows:
        print(f"{key + ':':<10}{value}")
    return 0


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 10:
        raise argparse.ArgumentTypeError(f"must be at least 10, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sdax`` command."""
    parser = argparse.ArgumentParser(
        prog="sdax",
        description="sdax: a fast asyncio orchestrator. Try `sdax demo`.",
    )
    parser.add_argument("--version", action="version", version=f"sdax {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a built-in example request and print its timeline",
        description=(
            "Run a simulated API request (auth, rate limit, feature flags, database, two "
            "fetches) with a retried call and a failing step, and print its timeline. "
            "The failure is part of the story: the command exits 0."
        ),
    )
    demo.add_argument(
        "--width", type=_width, default=40, help="width of the timeline's time axis (default 40)"
    )
    demo.add_argument("--html", metavar="FILE", help="also write the run as an HTML page")
    demo.add_argument(
        "--trace", metavar="FILE", help="also write the run as a trace (Perfetto, chrome://tracing)"
    )
    demo.set_defaults(handler=_cmd_demo)

    graph = commands.add_parser(
        "graph",
        help="print the plan of a processor from your code",
        description=(
            "Import MODULE:ATTR (the current directory is importable) and print its plan. "
            "ATTR names a processor, a builder, a TaskAnalysis, or a function taking no "
            "arguments that returns one."
        ),
    )
    graph.add_argument("target", metavar="MODULE:ATTR", help="e.g. myapp.workflows:processor")
    graph.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (waves, dependencies, phases), mermaid or dot (default: text)",
    )
    graph.set_defaults(handler=_cmd_graph)

    info = commands.add_parser(
        "info",
        help="print versions, platform and the active core",
        description="Print the sdax version, the active core (compiled or pure), "
        "the Python version and the platform.",
    )
    info.set_defaults(handler=_cmd_info)

    check = commands.add_parser(
        "check",
        help="run a processor under injected faults and report broken rules",
        description=(
            "Run the processor MODULE:ATTR once per fault scenario (sdax.testing.explore), "
            "each on a new context from --ctx, and print the report. Exit code 0: every "
            "scenario kept sdax's promises and --check; 1: some did not; 2: bad arguments."
        ),
    )
    check.add_argument("target", metavar="MODULE:ATTR", help="e.g. myapp.workflows:processor")
    check.add_argument(
        "--ctx",
        required=True,
        metavar="MODULE:FACTORY",
        help="makes one context per scenario (a function, async function or generator)",
    )
    check.add_argument(
        "--check",
        metavar="MODULE:FUNC",
        help="check(ctx) or check(ctx, scenario) after each run: raise AssertionError or "
        "return False when broken",
    )
    check.add_argument(
        "--only",
        action="append",
        metavar="ID",
        help="run only this scenario id (as the report prints it); repeatable",
    )
    check.add_argument(
        "--kinds",
        type=_kinds,
        default=None,
        metavar="KIND,...",
        help="fault kinds to use, comma-separated (default: all; see sdax.testing.KINDS)",
    )
    check.add_argument(
        "--phases",
        type=_phases,
        default=None,
        metavar="PHASE,...",
        help="phases whose calls get faults, comma-separated: pre, execute, post (default: all)",
    )
    check.add_argument("--pairs", type=int, default=50, help="two-fault scenarios at most (50)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random pairs (0)")
    check.add_argument(
        "--real-time", action="store_true", help="use real time even if looptime is installed"
    )
    check.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    check.add_argument(
        "--html",
        metavar="PATH",
        help="also write each cause's shown run as an HTML page: PATH.html is one file "
        "(an index, with several causes), any other PATH a folder",
    )
    check.add_argument(
        "--trace",
        metavar="PATH",
        help="also write each cause's shown run as a trace (Perfetto): PATH.json is one "
        "file, any other PATH a folder of one file per cause",
    )
    check.set_defaults(handler=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sdax`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 for a usage or target error (the demo
        returns 1 if its run does not go as its story says; check returns 1
        when a scenario broke a rule).
    """
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code
