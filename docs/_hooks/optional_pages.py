"""MkDocs hook: nav entries for pages that may not exist yet.

``docs/testing.md`` is written separately from the rest of the site. Its nav
entry stays in mkdocs.yml; while the page is missing, this hook takes the
entry out, so that the strict build neither fails nor shows a dead link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OPTIONAL_PAGES = frozenset({"testing.md"})


def _without_missing(nav: list[Any], docs_dir: Path) -> list[Any]:
    kept: list[Any] = []
    for entry in nav:
        if isinstance(entry, dict):
            ((title, target),) = entry.items()
            if isinstance(target, list):
                kept.append({title: _without_missing(target, docs_dir)})
            elif target not in OPTIONAL_PAGES or (docs_dir / target).is_file():
                kept.append(entry)
        elif entry not in OPTIONAL_PAGES or (docs_dir / entry).is_file():
            kept.append(entry)
    return kept


def on_config(config: Any, **kwargs: Any) -> Any:
    """Drop the nav entries of optional pages that are not there."""
    if config["nav"]:
        config["nav"] = _without_missing(config["nav"], Path(config["docs_dir"]))
    return config
