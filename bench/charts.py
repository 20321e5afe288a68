"""Charts of the latest benchmark run per Python version, from bench/RESULTS.md.

Reads the tables under "Latest run per Python version" (one per interpreter:
path, shape, raw asyncio, pure core, compiled core) and draws, for each
asyncio path, sdax's time as a ratio of raw asyncio's per shape and Python
version, compiled and pure core side by side; a dashed line marks 1.0
(as fast as raw asyncio)::

    python bench/charts.py                    # writes docs/img/perf-fast.svg, perf-public.svg
    python bench/charts.py --out /tmp/charts  # elsewhere

Needs matplotlib (``pip install -e '.[bench]'``). The SVGs hold their text as
paths and no date, so the same RESULTS.md gives the same files.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SHAPES = ("Three phases", "Single level", "Multi level", "Suspending")
PATHS = {"fast": "default (fast) asyncio path", "public": "public asyncio path"}
CORES = ("compiled", "pure")

_SECTION = re.compile(r"^### Python (\d+\.\d+)\S*\s*$")
_RATIO = re.compile("\\*\\*([\\d.]+)\u00d7\\*\\*")

# Ratios: {path: {core: {shape: {version: ratio}}}}
Ratios = dict[str, dict[str, dict[str, dict[str, float]]]]


def read_ratios(text: str) -> Ratios:
    """The ratio to raw asyncio of every (path, core, shape, version) in RESULTS.md's text."""
    ratios: Ratios = {p: {c: {s: {} for s in SHAPES} for c in CORES} for p in PATHS}
    latest = text.split("## Latest run per Python version", 1)
    if len(latest) != 2:
        raise ValueError("RESULTS.md has no 'Latest run per Python version' section")
    version = None
    for line in latest[1].splitlines():
        if match := _SECTION.match(line):
            version = match.group(1)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if version is None or len(cells) != 5 or cells[0] not in PATHS or cells[1] not in SHAPES:
            continue
        for core, cell in zip(("pure", "compiled"), cells[3:], strict=True):
            if found := _RATIO.search(cell):
                ratios[cells[0]][core][cells[1]][version] = float(found.group(1))
    if not any(ratios["fast"]["compiled"][s] for s in SHAPES):
        raise ValueError("no ratios found in RESULTS.md's tables")
    return ratios


def draw(ratios: Ratios, out: Path) -> list[Path]:
    """Write one SVG per asyncio path into ``out``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "sdax-bench-charts",  # stable ids: the same data, the same file
            "svg.fonttype": "path",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, title in PATHS.items():
        versions = sorted(
            {v for core in CORES for s in SHAPES for v in ratios[path][core][s]},
            key=lambda v: tuple(int(n) for n in v.split(".")),
        )
        figure, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), sharey=True)
        colours = plt.get_cmap("viridis")([i / max(1, len(versions)) for i in range(len(versions))])
        width = 0.8 / max(1, len(versions))
        for ax, core in zip(axes, CORES, strict=True):
            for i, version in enumerate(versions):
                xs = [s + (i - (len(versions) - 1) / 2) * width for s in range(len(SHAPES))]
                ys = [ratios[path][core][shape].get(version, 0.0) for shape in SHAPES]
                bars = ax.bar(xs, ys, width * 0.92, color=colours[i], label=f"Python {version}")
                ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=2, rotation=90)
            ax.axhline(1.0, color="#555555", linestyle="--", linewidth=1)
            ax.set_xticks(range(len(SHAPES)), [s.lower() for s in SHAPES])
            ax.set_title(f"{core} core")
            ax.set_ylabel("time ÷ raw asyncio's (lower is faster)" if core == CORES[0] else "")
            ax.margins(y=0.12)
        handles, labels = axes[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=len(versions), frameon=False)
        figure.suptitle(f"1,000 zero-work tasks, {title}: sdax's time as a ratio of raw asyncio's")
        figure.tight_layout(rect=(0, 0.07, 1, 1))
        target = out / f"perf-{path}.svg"
        figure.savefig(target, format="svg", metadata={"Date": None})
        plt.close(figure)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Read bench/RESULTS.md and write the charts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="output folder")
    args = parser.parse_args(argv)
    for target in draw(read_ratios(args.results.read_text(encoding="utf-8")), args.out):
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
