"""A prepared letter's HTML as the text a person reads at a terminal: paragraphs, headings,
bullet points and the figures table, without the markup, the style sheet or the page footer.

The letters keep to a small set of elements (``_base.html.j2``: p, b, i, h1-h3, ul/li, table,
br, hr), so the standard library's parser is enough; anything else passes through as its text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({"p", "h1", "h2", "h3", "ul", "ol", "table", "tr", "div", "footer", "hr"})
#: Whose text is not part of what the family reads.
_HIDDEN = frozenset({"head", "style", "script", "title", "footer"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.cells: list[str] | None = None  # the table row being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "tr":
            self.cells = []
        elif tag in ("td", "th") and self.cells is not None:
            self.cells.append("")
        elif tag == "br":
            self._write("\n")
        elif tag == "li":
            self._write("\n  - ")
        elif tag == "hr":
            self._write("\n" + "-" * 40 + "\n")
        elif tag in _BLOCKS:
            self._write("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "tr" and self.cells is not None:
            cells = [" ".join(c.split()) for c in self.cells]
            self.cells = None
            self._write("\n  " + ": ".join(c for c in cells if c))
        elif tag in _BLOCKS:
            self._write("\n\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.cells is not None and self.cells:
            self.cells[-1] += data
            return
        self._write(re.sub(r"\s+", " ", data))

    def _write(self, text: str) -> None:
        if not self.hidden:
            self.out.append(text)


def letter_text(html: str) -> str:
    """The letter's words, one paragraph after another, a blank line between."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() if not line.startswith("  ") else line.rstrip()
             for line in "".join(parser.out).split("\n")]  # fmt: skip
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
