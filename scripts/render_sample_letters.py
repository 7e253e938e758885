"""Render every letter template with a made-up pupil, to look at them.

    python scripts/render_sample_letters.py [--out docs/letters] [--dpi 80] [--html] [NAME ...]

Writes ``OUT/<name>.pdf`` and ``OUT/<name>.png``, the first page as a picture (``pdftoppm``
from poppler-utils: ``apt-get install -y poppler-utils``), kept small: 16 shades of grey, as a
letter prints. A flow's own version of a letter is ``OUT/<flow>--<name>.*``. With ``--html``,
``OUT/<name>.html`` too.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from escalation_flow.adapters.letter_rendering import render_html, render_pdf, template_variants
from escalation_flow.letters.sample import preview_context

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="templates to render (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "letters")
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("--html", action="store_true", help="write the HTML pages to OUT too")
    args = parser.parse_args(argv)
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        print("pdftoppm not found: apt-get install -y poppler-utils", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for flow, name in template_variants():
        label = name if flow is None else f"{flow}--{name}"
        if args.names and name not in args.names and label not in args.names:
            continue
        ctx = preview_context(name, flow)
        pdf = render_pdf(name, ctx, flow=flow)
        with tempfile.TemporaryDirectory() as tmp:
            pdf_path = Path(tmp) / "letter.pdf"
            pdf_path.write_bytes(pdf)
            stem = Path(tmp) / "letter"
            subprocess.run(
                [pdftoppm, "-png", "-r", str(args.dpi), "-f", "1", "-l", "1", "-singlefile",
                 str(pdf_path), str(stem)],
                check=True,
            )  # fmt: skip
            _save_small(stem.with_suffix(".png"), args.out / f"{label}.png")
        (args.out / f"{label}.pdf").write_bytes(pdf)
        if args.html:
            page = render_html(name, ctx, flow=flow)
            (args.out / f"{label}.html").write_text(page, encoding="utf-8")
        print(f"{label}: {len(pdf):,} bytes, {_pages(pdf)} page(s)")
    return 0


def _save_small(source: Path, target: Path) -> None:
    """A quarter of the bytes of pdftoppm's colour PNG, and just as readable."""
    with Image.open(source) as picture:
        picture.convert("L").quantize(16).save(target, optimize=True)


def _pages(pdf: bytes) -> int:
    # fpdf2 writes each page object as "/Type /Page" followed by a newline or space; "/Pages" is
    # the tree, which the pattern leaves out.
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


if __name__ == "__main__":
    sys.exit(main())
