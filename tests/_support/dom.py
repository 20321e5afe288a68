"""A small DOM from the standard library's HTML parser, for the tests of the run page.

:func:`parse` builds a tree of :class:`Element` (tag, attributes, children,
text) and fails the test on markup the parser had to guess about: an end tag
that closes nothing open, or elements left open at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Element", "parse"]

# HTML elements that never have an end tag.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    """One element: its tag, attributes, children and the text directly inside it."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def iter(self) -> Iterator[Element]:
        """This element and every element under it, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Element]:
        """Elements under this one (itself included) with ``tag`` and, if given, class ``cls``."""
        return [
            e
            for e in self.iter()
            if e.tag == tag and (cls is None or cls in e.attrs.get("class", "").split())
        ]

    def child(self, tag: str) -> Element | None:
        """The first direct child with ``tag``."""
        return next((c for c in self.children if c.tag == tag), None)

    def all_text(self) -> str:
        """The text of this element and all under it."""
        return self.text + "".join(c.all_text() for c in self.children)

    def ancestors(self) -> Iterator[Element]:
        """The parent, its parent, ... up to the document."""
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.errors: list[str] = []
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse(markup: str) -> tuple[Element, str | None]:
    """The document's tree and its doctype; AssertionError on unbalanced markup."""
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    assert not builder.errors, builder.errors[:5]
    assert builder.stack == [builder.root], [e.tag for e in builder.stack]
    return builder.root, builder.doctype
