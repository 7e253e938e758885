"""A subject access draft on disk: a readable draft (HTML, and PDF as the case file is made), the
same as JSON for machines, and REVIEW.md: the cover sheet listing every redaction and every flag
with its reason, for the data protection officer to work through before anything is released.

All four files are written or none: each is made beside its final name and moved into place
only when every one has been made. A folder already holding a draft is refused (a draft under
review is never overwritten: run again into a new folder).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from escalation_flow.core.subject_access import FREE_TEXT_REVIEW, Draft, SubjectKind
from escalation_flow.errors import InputError

HTML, PDF, JSON, REVIEW = "draft.html", "draft.pdf", "draft.json", "REVIEW.md"
FILES = (HTML, PDF, JSON, REVIEW)


def write_draft(draft: Draft, folder: Path) -> list[Path]:
    """The draft's files in ``folder`` (made if missing), or InputError and nothing written."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder}: is a file; give a folder")
    taken = [name for name in FILES if (folder / name).exists()]
    if taken:
        raise InputError(
            f"--out {folder}: already holds a draft ({', '.join(taken)}); a draft under review "
            "is never overwritten: give a new folder"
        )
    bodies = {
        HTML: to_html(draft).encode("utf-8"),
        PDF: to_pdf(draft),
        JSON: to_json(draft).encode("utf-8"),
        REVIEW: review_sheet(draft).encode("utf-8"),
    }
    # A draft holds a child's records and a family's: only its owner may read it (the DPO
    # releases what they decide, not the file system).
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    parts = {name: folder / f".{name}.part" for name in FILES}
    try:
        for name, body in bodies.items():
            descriptor = os.open(parts[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(body)
        for name in FILES:
            parts[name].replace(folder / name)
    except OSError as exc:
        for name in FILES:
            parts[name].unlink(missing_ok=True)
            (folder / name).unlink(missing_ok=True)
        raise InputError(
            f"--out {folder}: cannot write the draft ({exc}); nothing was kept"
        ) from None
    return [folder / name for name in FILES]


def remove_draft(folder: Path) -> None:
    """Take a written draft away again (its run could not be recorded)."""
    for name in FILES:
        (folder / name).unlink(missing_ok=True)


# -- the forms -------------------------------------------------------------------------------------


def _title(draft: Draft) -> str:
    about = "pupil" if draft.kind is SubjectKind.PUPIL else "contact"
    return f"Subject access request: {about} {draft.subject_name} ({draft.subject})"


def _made(draft: Draft) -> str:
    return (
        f"Gathered {draft.generated_at:%Y-%m-%d %H:%M} UTC by {draft.requested_by}; "
        f"{len(draft.redactions)} redaction(s), {len(draft.flags)} flag(s) and "
        f"{len(draft.free_text)} free-text field(s) to review (REVIEW.md)."
    )


def to_json(draft: Draft) -> str:
    document = asdict(draft)
    document["counts"] = draft.counts()
    return json.dumps(document, default=_plain, ensure_ascii=False, indent=1) + "\n"


def to_html(draft: Draft) -> str:
    def e(text: str) -> str:  # element text: <, > and & only, so the markers read as written
        return html.escape(text, quote=False)

    out = [
        "<!doctype html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        f"<title>{e(draft.heading)} — {e(_title(draft))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        ".draft{border:3px solid #b00;color:#b00;padding:.5em;font-weight:bold;text-align:center}"
        "li{margin:.15em 0;white-space:pre-wrap}</style></head><body>",
        f'<p class="draft">{e(draft.heading)}</p>',
        f"<h1>{e(_title(draft))}</h1>",
        f"<p>{e(_made(draft))}</p>",
    ]
    for section in draft.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        if section.note:
            out.append(f"<p><em>{e(section.note)}</em></p>")
        out.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + "</ul>")
    out.append(f'<p class="draft">{e(draft.heading)}</p></body></html>')
    return "\n".join(out) + "\n"


def review_sheet(draft: Draft) -> str:
    """REVIEW.md: what to check, one line per flag and per redaction with its reason, and one
    per free-text field (always: the checklist never suggests free text is clean)."""
    lines = [
        f"# {draft.heading}",
        "",
        f"## {_title(draft)}",
        "",
        _made(draft),
        "",
        "Nothing in this folder may be released until every item below has been reviewed.",
        "Redactions are shown in the draft as `[REDACTED: ...]`; safeguarding records as",
        "`[WITHHELD: ...]`, their content never written here.",
        "",
        f"## Flags ({len(draft.flags)})",
        "",
    ]
    if not draft.flags:
        lines.append("None.")
    for n, f in enumerate(draft.flags, 1):
        lines.append(f"{n}. [ ] **{f.kind.value}** — {f.section}, {f.where}: {f.reason}")
    lines += ["", f"## Redactions ({len(draft.redactions)})", ""]
    if not draft.redactions:
        lines.append("None.")
    for n, r in enumerate(draft.redactions, 1):
        lines.append(f"{n}. [ ] **{r.kind.value}** — {r.section}, {r.where}: {r.reason}")
    lines += ["", f"## Free text ({len(draft.free_text)})", ""]
    lines += [
        "Notes, reasons and outcomes typed by staff. Telephone numbers, emails, postcodes and",
        "house numbers with their street were redacted by their form; names, new addresses in",
        "other words and anything else about another person were not: read each one.",
        "",
    ]
    if not draft.free_text:
        lines.append("None.")
    for n, t in enumerate(draft.free_text, 1):
        fields = ", ".join(t.fields)
        lines.append(f"{n}. [ ] **{FREE_TEXT_REVIEW}** — {t.section}, {t.where} ({fields})")
    lines += ["", "Reviewed by: ____________________   on: ____________", ""]
    return "\n".join(lines)


def to_pdf(draft: Draft) -> bytes:
    """The draft as A4 pages (fpdf2 and the case file's fonts), DRAFT on every page."""
    from escalation_flow.adapters.pdf_pages import FONT, finish, start

    pdf = start("portrait", draft.heading, _title(draft), draft.generated_at)
    width = pdf.epw

    def para(height: float, text: str, **options: Any) -> None:  # each from the left margin
        pdf.multi_cell(width, height, text, new_x="LMARGIN", new_y="NEXT", **options)

    pdf.set_font(FONT, "B", size=13)
    para(6, draft.heading, border=1, align="C")
    pdf.ln(2)
    para(6, _title(draft))
    pdf.set_font(FONT, size=9)
    para(5, _made(draft))
    for section in draft.sections:
        pdf.ln(2)
        pdf.set_font(FONT, "B", size=11)
        para(6, section.title)
        pdf.set_font(FONT, size=8)
        if section.note:
            para(4, section.note)
        para(4, "\n".join(section.lines))
    return finish(pdf)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
