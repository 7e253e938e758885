"""Letters rendered from the Jinja2 templates in ``letters/templates``, as HTML and as PDF.

A template is ``<name>.html.j2``; names starting with ``_`` are the shared layout and pieces,
not letters. A flow may have its own version of a letter in ``<flow id>/<name>.html.j2``: two
plans both call a letter "letter 2" and mean different letters. Rendering for a flow looks
there first, then in the shared folder. Autoescape is on (a surname is text, never markup) and undefined names are errors:
a letter with a blank where a date should be must never reach a parent.

The same template renders both media: ``medium`` is ``"html"`` for a browser (full page with
print CSS) or ``"pdf"`` for fpdf2's HTML subset (body only; the PDF draws the letterhead, the
window-envelope address and the footer itself, ``adapters.letter_pdf``).

A letter has a copy per household it goes to (``LetterContext.copies``); a template sees the
copy's household as ``addressee``. The PDF holds every copy, each from a new page, ready for
the post; ``copy=`` renders one household's copy alone (for that household's email). A letter's
PDF title is its heading (the ``subject`` block).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from escalation_flow.adapters.letter_pdf import Copy, Letterhead, html_to_pdf
from escalation_flow.errors import Problem
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import (
    LetterContext,
    LetterTemplateError,
    Pupil,
    clock_time,
    long_date,
    percent,
    possessive,
    sessions_as_days,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "letters" / "templates"
_SUFFIX = ".html.j2"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_FLOW = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

_NBSP = "\u00a0"

Medium = Literal["html", "pdf"]


class _MissingValueError(Exception):
    """Raised inside a template by ``require``; turned into a ``LetterTemplateError``."""


def available_templates(flow: str | None = None, *, directory: Path | None = None) -> list[str]:
    """The letters that can be rendered (for ``flow``: the shared ones and its own), sorted."""
    folder = directory or TEMPLATES_DIR
    names = set(_letters_in(folder))
    if flow is not None and _FLOW.match(flow):
        names.update(_letters_in(folder / flow))
    return sorted(names)


def template_variants(directory: Path | None = None) -> list[tuple[str | None, str]]:
    """Every letter file as (flow id, or None for shared; name): what a preview must cover."""
    folder = directory or TEMPLATES_DIR
    found: list[tuple[str | None, str]] = [(None, name) for name in _letters_in(folder)]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and _FLOW.match(p.name)):
        found.extend((sub.name, name) for name in _letters_in(sub))
    return found


def render_html(
    template: str,
    ctx: LetterContext,
    *,
    flow: str | None = None,
    directory: Path | None = None,
    copy: int = 0,
) -> str:
    """The letter as a whole HTML page, ready to print on A4 or keep with the case: the copy
    for the household ``copy`` (the first, by default)."""
    household = _copy_of(ctx, copy)
    return _render(template, ctx, "html", flow, directory or TEMPLATES_DIR, household)


def render_pdf(
    template: str,
    ctx: LetterContext,
    *,
    flow: str | None = None,
    directory: Path | None = None,
    copy: int | None = None,
) -> bytes:
    """The letter as an A4 PDF, every household's copy (or the one ``copy``); the same bytes
    for the same context (no clock is read)."""
    folder = directory or TEMPLATES_DIR
    households = ctx.copies if copy is None else (_copy_of(ctx, copy),)
    copies = [
        Copy(_letterhead(ctx, h), _render(template, ctx, "pdf", flow, folder, h))
        for h in households
    ]
    school = ctx.school
    footer = " · ".join((school.name, *school.address_lines, school.phone, school.email))
    return html_to_pdf(
        copies,
        title=letter_heading(template, ctx, flow=flow, directory=folder),
        author=school.name,
        footer=footer,
        created=ctx.letter_date,
    )


def letter_heading(
    template: str, ctx: LetterContext, *, flow: str | None = None, directory: Path | None = None
) -> str:
    """The letter's heading (its ``subject`` block) as plain text: the PDF's and page's title."""
    folder = directory or TEMPLATES_DIR
    path = _template_file(template, flow, folder)
    values = _values(ctx, "pdf", template, ctx.copies[0])
    try:
        page = _environment(folder).get_template(path)
        text = "".join(page.blocks["subject"](page.new_context(values)))
    except (TemplateError, _MissingValueError, KeyError) as exc:
        raise LetterTemplateError(
            f"letter {template!r} has no heading", [_problem_in_template(exc, path, folder)]
        ) from exc
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def compile_letters(
    letters: Iterable[tuple[str | None, str]],
    *,
    directory: Path | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Compile ``letters`` (flow id or None, letter name), as each flow's rendering finds them,
    and the shared layout and pieces they extend and import (the ``_`` files of the folder and
    of those flows' folders), into this process's environment: a daemon's start
    (``daemon/warmup.py``), so that its first evening does not compile them (Jinja compiles a
    template at its first rendering, and keeps it for the process). A letter that cannot be
    found or compiled is left out (the evening names it when it prepares one); ``stop()`` is
    asked before each template. How many were compiled."""
    folder = directory or TEMPLATES_DIR
    wanted = {(flow, name) for flow, name in letters}
    paths: list[str] = []
    for flow, name in sorted(wanted, key=lambda pair: (pair[0] or "", pair[1])):
        try:
            paths.append(_template_file(name, flow, folder))
        except LetterTemplateError:
            continue
    flows = sorted({flow for flow, _ in wanted if flow is not None and _FLOW.match(flow)})
    for sub in ("", *(f"{flow}/" for flow in flows)):
        paths += sorted(f"{sub}{p.name}" for p in (folder / sub).glob(f"_*{_SUFFIX}"))
    environment = _environment(folder)
    compiled = 0
    for path in dict.fromkeys(paths):
        if stop():
            break
        try:
            environment.get_template(path)
        except TemplateError:
            continue
        compiled += 1
    return compiled


def _copy_of(ctx: LetterContext, copy: int) -> Household:
    copies = ctx.copies
    if not 0 <= copy < len(copies):
        raise LetterTemplateError(f"the letter has {len(copies)} copies; there is no copy {copy}")
    return copies[copy]


def _letterhead(ctx: LetterContext, household: Household) -> Letterhead:
    school = ctx.school
    return Letterhead(
        school=(
            school.name,
            *school.address_lines,
            f"Telephone: {school.phone}",
            f"Email: {school.email}",
        ),
        return_line=", ".join((school.name, *school.address_lines)),
        window=window_lines(ctx, household),
        date=long_date(ctx.letter_date),
        draft=ctx.draft,
    )


def window_lines(ctx: LetterContext, household: Household) -> tuple[str, ...]:
    """The addressee as the envelope's window shows it: the household's names and postal
    address, or "To the parent or carer of <pupil>" (the office writes the address)."""
    if not household.names:
        return (f"To the parent or carer of {ctx.pupil.full_name}",)
    return (household.salutation_names, *household.address_lines)


def _letters_in(folder: Path) -> list[str]:
    try:
        stamp = folder.stat().st_mtime_ns
    except OSError:
        return []
    if time.time_ns() - stamp < _SETTLED_NS:
        # a folder's time moves in the filesystem's ticks (milliseconds on ext4, seconds
        # elsewhere): a file added in the tick of a listing kept under it would stay unseen
        return list(_letters_listed.__wrapped__(folder, stamp))
    return list(_letters_listed(folder, stamp))


#: how long after its last change a folder's listing may be kept under its modification time
_SETTLED_NS = 3_000_000_000


@lru_cache(maxsize=64)
def _letters_listed(folder: Path, stamp: int) -> tuple[str, ...]:
    """The letters of ``folder`` as it was at ``stamp`` (its modification time, which a file
    added, removed or renamed moves on): every letter prepared looked its template up by
    listing the folder again, a quarter of the HTML's cost."""
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            p.name.removesuffix(_SUFFIX)
            for p in folder.glob(f"*{_SUFFIX}")
            if not p.name.startswith("_")
        )
    )


def _template_file(template: str, flow: str | None, directory: Path) -> str:
    """The loader path of the letter: the flow's own version first, then the shared one."""
    if flow is not None and not _FLOW.match(flow):
        raise LetterTemplateError(f"{flow!r} is not a flow id")
    if _NAME.match(template):
        if flow is not None and template in _letters_in(directory / flow):
            return f"{flow}/{template}{_SUFFIX}"
        if template in _letters_in(directory):
            return f"{template}{_SUFFIX}"
    owners = [f for f, name in template_variants(directory) if f is not None and name == template]
    if owners:
        raise LetterTemplateError(
            f"letter {template!r} is written for each flow ({', '.join(owners)}); "
            f"there is none for flow {flow!r}"
        )
    raise LetterTemplateError(
        f"no letter template named {template!r}; there are: "
        + ", ".join(available_templates(flow, directory=directory))
    )


def _render(
    template: str,
    ctx: LetterContext,
    medium: Medium,
    flow: str | None,
    directory: Path,
    household: Household,
) -> str:
    path = _template_file(template, flow, directory)
    try:
        page = _environment(directory).get_template(path)
        return page.render(**_values(ctx, medium, template, household))
    except (TemplateError, _MissingValueError) as exc:
        raise LetterTemplateError(
            f"letter {template!r} cannot be prepared", [_problem_in_template(exc, path, directory)]
        ) from exc


def _values(
    ctx: LetterContext, medium: Medium, template: str, household: Household
) -> dict[str, Any]:
    values: dict[str, Any] = {f.name: getattr(ctx, f.name) for f in fields(ctx)}
    values.update(
        medium=medium,
        template=template,
        addressee=household,
        window=window_lines(ctx, household),
        signer=ctx.signatory or ctx.contact,  # letters kept from before signatories
    )
    return values


def _problem_in_template(exc: Exception, fallback: str, directory: Path) -> Problem:
    """Where in which template the error arose: Jinja puts template lines in the traceback."""
    where: tuple[str, int | None] = (fallback, None)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        filename = Path(tb.tb_frame.f_code.co_filename)
        if filename.suffix == ".j2":
            shown = (
                filename.relative_to(directory) if filename.is_relative_to(directory) else filename
            )
            where = (str(shown), tb.tb_lineno)
        tb = tb.tb_next
    return Problem(where[0], where[1], None, str(exc) or type(exc).__name__)


@lru_cache(maxsize=8)
def _environment(directory: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        long_date=_unbroken_date,
        percent=percent,
        days=sessions_as_days,
        clock=clock_time,
        possessive=possessive,
        nobreak=_unbroken,
    )
    env.globals.update(require=_require, require_compulsory_school_age=_require_school_age)
    return env


def _unbroken_date(day: date) -> str:
    """``Friday 24 October 2025`` that a line may break after the weekday but nowhere else."""
    weekday, rest = long_date(day).split(" ", 1)
    return f"{weekday} {rest.replace(' ', _NBSP)}"


def _unbroken(text: str) -> str:
    """A phone number (or any short phrase) a line must not break inside."""
    return text.replace(" ", _NBSP)


def _require(value: object, what: str) -> str:
    """``{{ require(meeting, "a meeting (date, time and place)") }}``: fail loudly if absent."""
    if value is None:
        raise _MissingValueError(f"this letter needs {what}, and none was given")
    return ""


def _require_school_age(pupil: Pupil) -> str:
    """Legal letters are only for pupils of compulsory school age (domain rule)."""
    if not pupil.compulsory_school_age:
        raise _MissingValueError(
            f"this letter is about a legal step, and {pupil.full_name} is not of compulsory "
            "school age"
        )
    return ""
