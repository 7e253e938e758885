"""``escalation-flow letters show|approve``: prepared letters, read and approved by a named person."""

from __future__ import annotations

from pathlib import Path

import click

from escalation_flow.cli import main, root
from escalation_flow.errors import ActionError
from escalation_flow.ports import LetterView
from escalation_flow.service import Service


@main.group("letters")
def letters_group() -> None:
    """Letters prepared for letter tasks. Nothing is ever sent by the service."""


@letters_group.command("show")
@click.argument("letter_id", type=int)
@click.option(
    "--pdf",
    "pdf_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the letter as PDF here.",
)
def letters_show(letter_id: int, pdf_out: Path | None) -> None:
    """Show letter LETTER_ID: who it is for, its state, and its text (HTML)."""

    with root().service() as service:
        view = service.letter(letter_id)
        data = service.letter_pdf(letter_id) if pdf_out else None
    approved = (
        f"approved by {view.approved_by} at {view.approved_at:%Y-%m-%d %H:%M} UTC"
        if view.approved_by
        else ("approval needed" if view.approval_needed else "no approval needed")
    )
    click.echo(
        f"letter {view.id}: {view.template} for {view.school} {view.pupil} (task {view.task_id}, case {view.case_id})"
    )
    click.echo(f"status: {view.status}; prepared {view.prepared_at:%Y-%m-%d %H:%M} UTC; {approved}")
    for line in copy_lines(view):
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
        click.echo(view.html)


def copy_lines(view: LetterView) -> list[str]:
    """Who each copy goes to, and what the office must do before posting it."""
    lines = ["DRAFT: the school's letters are drafts only; it cannot be approved or sent"]
    lines = lines if view.draft else []
    for i, h in enumerate(view.addressees, 1):
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
        f"letter {view.id} approved by {view.approved_by}; record it sent with: escalation-flow tasks done {view.task_id} --outcome sent --by STAFF"
    )


def _may_approve(service: Service, letter_id: int, by: str) -> None:
    """Refuse a member of staff who may not approve this letter at its school, as the pages do
    (``core.access.Principal.may_approve_letter``). A name that is no member of staff is left
    to the service, which says how to add one."""
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
        f"{staff.username} may not approve letter {letter_id}: letters at {letter.school} are "
        "approved by its attendance lead or headteacher (a safeguarding letter also by its "
        f"designated safeguarding lead), and {staff.username} is none of these there; nothing "
        "was changed"
    )
