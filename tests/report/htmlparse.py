"""A small HTML reader for the report tests (stdlib html.parser): the elements and the text a
browser would build, so tests check structure rather than substrings of markup."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"br", "img", "meta", "link", "hr", "input", "col", "source", "wbr", "area", "base"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def style(self) -> str:
        return self.attrs.get("style") or ""

    @property
    def css(self) -> dict[str, str]:
        """The inline style as property -> value (the last declaration of a property wins)."""
        declarations: dict[str, str] = {}
        for part in self.style.split(";"):
            name, colon, value = part.partition(":")
            if colon:
                declarations[name.strip().lower()] = value.strip()
        return declarations

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return "".join(parts)

    def iter(self) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                found.append(child)
                found.extend(child.iter())
        return found

    def rows(self) -> list[Element]:
        """The direct <tr> children of a table's <tbody> (not those of nested tables)."""
        body = self if self.tag == "tbody" else self.find("tbody")
        return [c for c in body.children if isinstance(c, Element) and c.tag == "tr"]

    def cells(self) -> list[Element]:
        """The direct <td>/<th> children of a row."""
        return [c for c in self.children if isinstance(c, Element) and c.tag in ("td", "th")]

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Element:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag or '*'} class={cls}> found"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), parent=self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def squash(text: str) -> str:
    """Whitespace runs to one space, as a browser shows text."""
    return " ".join(text.split())


def card(doc: Element, heading_starts: str) -> Element:
    """The card whose <h2> starts with ``heading_starts``."""
    for element in doc.find_all("div", "card"):
        h2 = element.find_all("h2")
        if h2 and squash(h2[0].text()).startswith(heading_starts):
            return element
    raise AssertionError(f"no card headed {heading_starts!r}")


def tiles(element: Element) -> dict[str, str]:
    """Label -> value of the stat tiles in ``element``."""
    return {
        squash(t.find("div", "tile-label").text()): squash(t.find("div", "tile-value").text())
        for t in element.find_all("div", "tile")
    }
