"""MkDocs hook: tidy the reST markup that the docstrings of src/ carry.

The docstrings are Google style, read by mkdocstrings as Markdown, but they
also use a little reStructuredText: roles (``:class:`Name```) and ``::`` at
the end of a paragraph that introduces a code example. Markdown shows both
literally, so this hook drops them from the rendered pages: the role's name
goes (the code span stays), and ``::`` becomes ``:``.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|attr|exc|data|mod|obj):(?=<code>)")
LITERAL_MARKER = re.compile(r"::</p>")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop reST roles and literal-block markers from a rendered page."""
    return LITERAL_MARKER.sub(":</p>", ROLE.sub("", html))
