"""``escalation-flow subject-access pupil|contact``: a subject access request's draft, for the
data protection officer to review (docs/subject-access.md).

Only a member of staff holding the data protection officer's role may run it (for a pupil: at
the pupil's school or across the trust; for a contact: at every school the contact is recorded
at). The draft is written into ``--out`` (draft.html, draft.pdf, draft.json, REVIEW.md) and the
run is recorded in the staff audit log, whose hash chain ``audit verify`` checks. A run whose
record cannot be written leaves no draft behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from escalation_flow.cli import main, root
from escalation_flow.errors import AccessRefusedError, EscalationFlowError

if TYPE_CHECKING:
    from escalation_flow.adapters.store import Store
    from escalation_flow.core.definition import Flow
    from escalation_flow.core.subject_access import AuditLine, Draft, SessionMarks
    from escalation_flow.service import Service
    from escalation_flow.service.subject_access import SubjectAccess
    from escalation_flow.service.views import LetterView

_OUT = click.Path(file_okay=False, path_type=Path)
_OUT_HELP = (
    "The folder the draft is written into (made if missing; one that already holds a draft is "
    "refused). Keep it out of shared drives: it names a family."
)
_BY_HELP = "Who runs it: a staff id holding the data protection officer's role."


@main.group("subject-access")
def subject_access_group() -> None:
    """Subject access requests: everything held about a pupil or a parent, as a draft for the
    data protection officer to review. Nothing is released by these commands."""


@subject_access_group.command("pupil")
@click.argument("school")
@click.argument("pupil")
@click.option("--out", "out", type=_OUT, required=True, help=_OUT_HELP)
@click.option("--by", "by", required=True, help=_BY_HELP)
def subject_access_pupil(school: str, pupil: str, out: Path, by: str) -> None:
    """What is held about PUPIL at SCHOOL (the pupil's MIS id): roster, every mark and its
    amendments, the case's history, tasks, letters, notes, penalty notices, contacts, and who
    looked at the records. Third parties are redacted, safeguarding records withheld and
    flagged; REVIEW.md lists each."""
    with root().service() as service:
        key = service.setup(school).school
        _require_officer(service, by, [key], f"answer a subject access request about {pupil}")
        desk = _desk(service)
        draft = desk.pupil(key, pupil, by)
        _write_and_record(desk, draft, by, out)


@subject_access_group.command("contact")
@click.argument("contact")
@click.option("--out", "out", type=_OUT, required=True, help=_OUT_HELP)
@click.option("--by", "by", required=True, help=_BY_HELP)
def subject_access_contact(contact: str, out: Path, by: str) -> None:
    """What is held about the parent or carer CONTACT (their id in the contacts CSV): their
    contact records, the letters addressed to them and the penalty notices issued to them.
    Their children's own records are flagged for your decision, not included."""
    with root().service() as service:
        # an officer somewhere first: nobody else learns even whether the contact is known
        _require_officer(service, by, [], f"answer a subject access request of {contact}")
        desk = _desk(service)
        schools = sorted({v.school for v in desk.contact_versions(contact)})
        _require_officer(service, by, schools, f"answer a subject access request of {contact}")
        draft = desk.contact(contact, by)
        _write_and_record(desk, draft, by, out)


def _write_and_record(desk: SubjectAccess, draft: Draft, by: str, out: Path) -> None:
    from escalation_flow.adapters.subject_access_files import remove_draft, write_draft
    from escalation_flow.logs import get_logger

    written = write_draft(draft, out)
    try:
        desk.record(draft, by, str(out.resolve()))
    except EscalationFlowError:
        remove_draft(out)  # an unrecorded run leaves nothing behind
        raise
    counts = draft.counts()
    get_logger(__name__).info(
        "subject_access.drafted", kind=str(draft.kind), subject=draft.subject, by=by,
        out=str(out.resolve()), **counts,
    )  # fmt: skip
    click.echo(
        f"DRAFT (not for release) of {draft.kind} {draft.subject_name} ({draft.subject}) "
        f"written to {out.resolve()}: {', '.join(p.name for p in written)}; "
        f"{counts['redactions']} redaction(s), {counts['flags']} flag(s) and "
        f"{counts['free_text']} free-text field(s) to review in REVIEW.md "
        f"({counts['safeguarding_withheld']} safeguarding record(s) withheld); recorded in the "
        "staff audit log"
    )


def _require_officer(service: Service, by: str, schools: Sequence[str], action: str) -> None:
    """Refuse anyone but a data protection officer covering every one of ``schools``."""
    from escalation_flow.cli.acting import principal_of
    from escalation_flow.core.access import ServiceRole

    person = principal_of(service, by)
    if person is None:
        raise AccessRefusedError(
            f"--by {by!r} is not a member of staff: add the data protection officer with "
            "`escalation-flow users add USERNAME --name NAME --role data_protection_officer`"
        )
    if not _active(service, by):  # as retention's Actors.check: a disabled account acts for nobody
        raise AccessRefusedError(
            f"{person.username}'s account is disabled: a disabled account may not {action}; "
            "nothing was written"
        )
    missing = [s for s in schools if not person.is_data_protection_officer(s)]
    anywhere = any(g.role is ServiceRole.DATA_PROTECTION_OFFICER for g in person.grants)
    if missing or not anywhere:
        held = "; ".join(g.describe() for g in person.grants) or "no role"
        raise AccessRefusedError(
            f"{person.username} may not {action}: only the data protection officer may "
            f"(they are {held}"
            + (f"; not the officer at {', '.join(missing)}" if missing else "")
            + "); nothing was written"
        )


def _active(service: Service, by: str) -> bool:
    """Whether the member of staff ``by`` is active (not disabled)."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore

    if not isinstance(service.store, Store):
        return False
    record = StaffStore(service.store.engine).by_username(by.strip())
    return record is not None and record.active


def _desk(service: Service) -> SubjectAccess:
    from escalation_flow.adapters.store import Store
    from escalation_flow.service.subject_access import SubjectAccess

    if not isinstance(service.store, Store):
        raise AccessRefusedError("subject access needs the configured database")
    return SubjectAccess(service, _Reads(service.store))


class _Reads:
    """``SubjectReads`` over the database, with the pages' rule for safeguarding records."""

    def __init__(self, store: Store) -> None:
        from escalation_flow.adapters.store.page_reads import SqlPageReads

        self.store = store
        self.pages = SqlPageReads(store)

    def letters_of(self, school: str, pupil: str) -> list[LetterView]:
        return self.pages.letters_of(school, pupil)

    def marks_of(self, school: str, pupil: str) -> list[SessionMarks]:
        from escalation_flow.audit.subject_access_reads import pupil_marks

        return pupil_marks(self.store, school, pupil)

    def audit_about(self, school: str, pupil: str) -> list[AuditLine]:
        from escalation_flow.audit.subject_access_reads import audit_about

        return audit_about(self.store, school, pupil)

    def tasks_without_case(self, school: str, pupil: str) -> list[Any]:
        from escalation_flow.audit.subject_access_reads import tasks_without_case

        return tasks_without_case(self.store, school, pupil)

    def restricted_events(self, flow: Flow, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        from escalation_flow.web.safeguarding import restricted_events

        return restricted_events(flow, events)

    def is_safeguarding_task(self, role: str, task: str) -> bool:
        from escalation_flow.web.safeguarding import is_safeguarding_task

        return is_safeguarding_task(role, task)

    def is_safeguarding_action(self, action: str, detail: str | None) -> bool:
        from escalation_flow.web.safeguarding import is_safeguarding_name

        # a view of a safeguarding record, or an entry whose words name one
        return "safeguarding" in action or is_safeguarding_name(detail)
