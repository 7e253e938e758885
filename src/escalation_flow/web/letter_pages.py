"""The whole letter on the letter page: its PDF's pages as pictures, as it will be printed.

An ``<iframe>`` of the letter's HTML cuts the letter at the frame's height, and the pages run no
script to grow it; a picture of each printed page shows all of it at any width (a phone's too).
The pages are drawn with poppler's ``pdftoppm`` once per letter text and kept in the pages'
cache; without ``pdftoppm`` the page keeps the frame and says why.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from escalation_flow.errors import EscalationFlowError
from escalation_flow.web.webapp import WebApp

#: dots per inch: an A4 page 660 pixels wide, sharp on a phone and light enough for a desktop
DPI = 80
TIMEOUT_SECONDS = 30


def can_draw() -> bool:
    return shutil.which("pdftoppm") is not None


def letter_images(web: WebApp, letter_id: int, html: str) -> list[bytes] | None:
    """Each page of the letter's PDF as a PNG (None: ``pdftoppm`` is not installed, or the PDF
    cannot be made). Kept per letter and text: a letter prepared again is drawn again."""
    if not can_draw():
        return None
    key = ("letter-pages", letter_id, hashlib.sha256(html.encode()).hexdigest())
    try:
        return web.cached(key, lambda: pdf_pages(web.service.letter_pdf(letter_id))) or None
    except (EscalationFlowError, subprocess.SubprocessError, OSError):
        # a letter that cannot be drawn still shows in the frame (the PDF link says why)
        return None


def pdf_pages(pdf: bytes, dpi: int = DPI) -> list[bytes]:
    """A PDF's pages as PNGs, in order."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return []
    with tempfile.TemporaryDirectory(prefix="ef-letter-") as folder:
        source = Path(folder) / "letter.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            [exe, "-png", "-r", str(dpi), str(source), str(Path(folder) / "page")],
            check=True, capture_output=True, timeout=TIMEOUT_SECONDS,
        )  # fmt: skip
        pages = sorted(Path(folder).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
        return [p.read_bytes() for p in pages]
