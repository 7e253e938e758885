"""``escalation-flow letters list|show|approve``: prepared letters, read and approved by a named person."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.pupils import Names, pupil_option
from escalation_flow.core.pupil_search import Named, search
from escalation_flow.letters.plain_text import letter_text

if TYPE_CHECKING:
    from escalation_flow.adapters.store.letter_lists import LetterLine
from escalation_flow.errors import ActionError
from escalation_flow.service import Service
from escalation_flow.service.letter_desk import LetterCopies


@main.group("letters")
def letters_group() -> None:
    """Letters prepared for letter tasks; once approved by a named person, sent from the outbox."""


@letters_group.command("show")
@click.argument("letter_id", type=int, required=False)
@click.option(
    "--task",
    "task_id",
    type=int,
    default=None,
    help="The letter of this task (the id `tasks` lists), instead of a letter id.",
)
@click.option(
    "--pdf",
    "pdf_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the letter as PDF here.",
)
@click.option("--html", "as_html", is_flag=True, help="Print the letter's HTML, not its text.")
def letters_show(
    letter_id: int | None, task_id: int | None, pdf_out: Path | None, as_html: bool
) -> None:
    """Show letter LETTER_ID (or --task ID's letter): who it is for, its state, and its text
    (its HTML with --html). Given a task's id that is no letter's, it says which letter that
    task's is and shows that one."""

    if (letter_id is None) == (task_id is None):
        raise click.UsageError("give a LETTER_ID or --task TASK_ID")
    with root().service() as service:
        found, note = _which_letter(service, letter_id, task_id)
        view = service.letter(found)
        copies = service.letter_copies(found)
        data = service.letter_pdf(found) if pdf_out else None
        name = Names(service).of(view.school, view.pupil)
    if note:
        click.echo(note)
    approved = (
        f"approved by {view.approved_by} at {view.approved_at:%Y-%m-%d %H:%M} UTC"
        if view.approved_by
        else ("approval needed" if view.approval_needed else "no approval needed")
    )
    pupil = f"{view.pupil} ({name})" if name else view.pupil
    click.echo(
        f"letter {view.id}: {view.template} for {view.school} {pupil} (task {view.task_id}, case {view.case_id})"
    )
    click.echo(f"status: {view.status}; prepared {view.prepared_at:%Y-%m-%d %H:%M} UTC; {approved}")
    for line in copy_lines(copies):
        click.echo(line)
    if not view.has_pdf and pdf_out is None:
        click.echo("PDF: being prepared (rendered after the evening's run; --pdf makes it now)")
    if view.sent_by:
        click.echo(f"sent by {view.sent_by} at {view.sent_at:%Y-%m-%d %H:%M} UTC")
    if pdf_out is not None and data is not None:
        pdf_out.write_bytes(data)
        click.echo(f"PDF written to {pdf_out}")
    else:
        click.echo("")
        click.echo(view.html if as_html else letter_text(view.html), nl=as_html)


def _which_letter(
    service: Service, letter_id: int | None, task_id: int | None
) -> tuple[int, str]:
    """The letter to show, and a line saying how a task's id led to it (or that an id is both a
    letter's and another letter's task's, so a reader who meant the task knows where to look)."""
    from escalation_flow.errors import NotFoundError

    if task_id is not None:
        return _letter_of_task(service, task_id), ""
    assert letter_id is not None
    try:
        view = service.letter(letter_id)
    except NotFoundError:
        found = _letter_of_task(service, letter_id, asked_as_letter=True)
        return found, (
            f"no letter has id {letter_id}; task {letter_id} is letter {found}'s task: "
            f"showing letter {found} (`letters show {found}`)"
        )
    other = _task_letter(service, letter_id)
    if other is not None and other != view.id:
        return view.id, (
            f"(letter {letter_id} shown; task {letter_id} is another letter's task: "
            f"`letters show --task {letter_id}` or `letters show {other}`)"
        )
    return view.id, ""


def _task_letter(service: Service, task_id: int) -> int | None:
    with service.store.read() as tx:
        row = tx.letter_of_task(task_id)
    return None if row is None else int(row.id)


def _letter_of_task(service: Service, task_id: int, *, asked_as_letter: bool = False) -> int:
    from escalation_flow.errors import NotFoundError

    found = _task_letter(service, task_id)
    if found is not None:
        return found
    if asked_as_letter:
        raise NotFoundError(f"no letter {task_id}, and no task {task_id} with a letter")
    task = service.task(task_id)  # a task that does not exist says so
    raise NotFoundError(
        f"task {task_id} ({task.task}, {task.school} {task.pupil}) has no letter: only a letter "
        "task's has one"
    )


@letters_group.command("list")
@click.option("--school", default=None, help="Only this school (id or URN).")
@click.option(
    "--status",
    type=click.Choice(["prepared", "approved", "sent", "superseded"]),
    default=None,
    help="Only letters in this state (prepared: waiting for approval or to be sent).",
)
@click.option(
    "--date",
    "dates",
    default=None,
    metavar="DAY|FROM..TO",
    help="Only letters prepared on this day, or from..to inclusive (YYYY-MM-DD, school time).",
)
@pupil_option
def letters_list(
    school: str | None, status: str | None, dates: str | None, pupil_query: str | None
) -> None:
    """List prepared letters, newest first: id, school, pupil and name, letter, state, when
    prepared, who approved it, its task."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.letter_lists import LetterFilter, letter_lines

    with root().service() as service:
        key = service.setup(school).school if school else None
        start, end = _prepared_between(dates, service.trust.timezone)
        if not isinstance(service.store, Store):
            raise ActionError("letters list reads the database (ESCALATION_FLOW_DATABASE_URL)")
        lines = letter_lines(service.store.engine, LetterFilter(key, status, start, end))
        names = Names(service)
        named = [(line, names.of(line.school, line.pupil)) for line in lines]
        zone = ZoneInfo(service.trust.timezone)
    if pupil_query is not None:
        keep = {n.pupil for n in search(pupil_query, {Named(x.pupil, n): None for x, n in named})}
        named = [(line, n) for line, n in named if line.pupil in keep]
    click.echo(letters_table(named, zone))


def _prepared_between(dates: str | None, timezone: str) -> tuple[datetime | None, datetime | None]:
    """``--date``'s days as UTC instants: from the first day's local midnight to the midnight
    after the last."""
    if dates is None:
        return None, None
    first, _, last = dates.partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if last else start
    except ValueError as exc:
        raise click.BadParameter(f"{dates!r}: give YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from exc
    if end < start:
        raise click.BadParameter(f"{dates!r}: the last day is before the first")
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(start, time(0), zone).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC),
    )


def _letter_row(line: LetterLine, name: str, zone: ZoneInfo) -> tuple[str, ...]:
    return (
        str(line.id), line.school, line.pupil, name, line.template, line.status,
        f"{line.prepared_at.astimezone(zone):%Y-%m-%d %H:%M}", line.approved_by or "",
        str(line.task_id),
    )  # fmt: skip


_LIST_HEAD = ("id", "school", "pupil", "name", "letter", "status", "prepared", "approved by", "task")


def letters_table(named: list[tuple[LetterLine, str]], zone: ZoneInfo) -> str:
    """One line per letter (prepared: the school's local time); the count at the foot."""
    if not named:
        return "no letters"
    rows = [_LIST_HEAD] + [_letter_row(line, name, zone) for line, name in named]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_LIST_HEAD))]
    text = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*text, f"{len(named)} letter{'s' if len(named) != 1 else ''}"])


def copy_lines(copies: LetterCopies) -> list[str]:
    """Who each copy goes to, and what the office must do before posting it."""
    lines = ["DRAFT: the school's letters are drafts only; it cannot be approved or sent"]
    lines = lines if copies.draft else []
    for i, h in enumerate(copies.households, 1):
        if not h.names:
            lines.append(f"copy {i}: To the parent or carer (no contact with parental "
                         "responsibility known): the office must address it by hand")
            continue
        post = h.postal_address or "no postal address: the office must address it by hand"
        email = ", ".join(h.emails) or "no email"
        lines.append(f"copy {i}: {h.salutation_names}; {post}; {email}")
    return lines


@letters_group.command("render")
def letters_render() -> None:
    """Render every letter left to render (the PDFs a day prepared; rendered after its commit,
    in a pool of processes, by run-day and the daemon: this catches up after a crash)."""

    with root().service() as service:
        rendered = service.render_letters(workers=root().settings().letter_workers)
    click.echo(f"{rendered} letter PDFs rendered")


@letters_group.command("approve")
@click.argument("letter_id", type=int)
@click.option("--by", "by", required=True, help="Who approves it: a staff id (made with `users add`).")
def letters_approve(letter_id: int, by: str) -> None:
    """Approve letter LETTER_ID; its task can then be completed with outcome `sent`."""

    with root().service() as service:
        _may_approve(service, letter_id, by)
        view = service.approve_letter(letter_id, by)
    click.echo(
        f"letter {view.id} approved by {view.approved_by}; the daemon's next round queues it in "
        "the outbox (or `escalation-flow letters send` now) and emails it where SMTP is "
        "configured, else `escalation-flow letters print` prints it: see `escalation-flow "
        f"letters outbox --letter {view.id}`; once it has gone, record it: escalation-flow "
        f"tasks done {view.task_id} --outcome OUTCOME --by STAFF"
    )


def _may_approve(service: Service, letter_id: int, by: str, doing: str = "approve") -> None:
    """Refuse a member of staff who may not approve this letter at its school, as the pages do
    (``core.access.Principal.may_approve_letter``); ``doing`` names the refused action in the
    message. A name that is no member of staff is left to the service, which says how to add
    one."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore

    if not isinstance(service.store, Store):
        return
    staff = StaffStore(service.store.engine).by_username(by.strip())
    if staff is None:
        return
    letter = service.letter(letter_id)
    role = service.task(letter.task_id).role
    person = staff.principal()
    if person.can_write(letter.school) and person.may_approve_letter(letter.school, role):
        return
    raise ActionError(
        f"{staff.username} may not {doing} letter {letter_id}: letters at {letter.school} are "
        "approved by its attendance lead or headteacher (a safeguarding letter also by its "
        f"designated safeguarding lead), and {staff.username} is none of these there; nothing "
        "was changed"
    )


@letters_group.command("readdress")
@click.argument("letter_id", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every letter of --school with a held copy.")
@click.option("--school", default=None, help="With --all: the school.")
@click.option("--by", "by", required=True, help="Who does it: a staff id (a leader who may approve it).")
def letters_readdress(letter_id: int | None, every: bool, school: str | None, by: str) -> None:
    """Prepare LETTER_ID again from the contacts as known now, once a copy of it is held
    (needs_readdressing: its household's names, address or emails changed after it was
    prepared) and the contacts are corrected (`import contacts`). Its held copies take their
    household as known now and wait in the outbox again; what changed is said. Nothing is sent
    by this command."""
    from escalation_flow.service.letter_readdress import readdress_desk

    if every == (letter_id is not None) or (every and not school):
        raise click.UsageError("give LETTER_ID, or --all --school SCHOOL")
    composition = root()
    with composition.service() as service:
        # a readdressed copy takes the channel a freshly queued one would: without an email
        # sender it goes for the post (else it would wait in the outbox for ever)
        service.outbox.emails = composition.letter_sender(composition.settings()) is not None
        desk = readdress_desk(service)
        found = desk.held(str(school)) if every else [int(str(letter_id))]
        if not found:
            click.echo(f"no letter of {school} has a copy held for readdressing")
            return
        for one in found:  # every permission first: nothing half-done
            _may_approve(service, one, by, "readdress")
        for one in found:
            click.echo("\n".join(desk.readdress(one, by).lines()))
    click.echo(
        "the copies wait in the outbox: nothing was sent (`escalation-flow letters outbox`)"
    )
