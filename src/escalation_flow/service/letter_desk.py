"""Staff steps on prepared letters: read one, approve it, have its PDF."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from escalation_flow.adapters.store.case_models import LETTER_APPROVED, LETTER_PREPARED
from escalation_flow.adapters.store.cases import CASES, LETTERS, SCHOOLS, TASKS, letter_row
from escalation_flow.errors import ConflictError, NotFoundError
from escalation_flow.service.letters import pdf_of
from escalation_flow.service.staff import staff_id
from escalation_flow.service.views import LetterView

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


def letter(service: Service, letter_id: int) -> LetterView:
    with service.store.engine.connect() as conn:
        row = letter_row(conn, letter_id)
        task = conn.execute(
            select(TASKS.c.approval, TASKS.c.pupil, SCHOOLS.c.key)
            .join(SCHOOLS, SCHOOLS.c.id == TASKS.c.school_id)
            .where(TASKS.c.id == row.task_id)
        ).one()
    return _view(row, task.key, task.pupil, task.approval)


def _view(row: Any, school: str, pupil: str, approval: bool) -> LetterView:
    return LetterView(
        id=row.id,
        task_id=row.task_id,
        case_id=row.case_id,
        school=school,
        pupil=pupil,
        template=row.template,
        status=row.status,
        html=row.html,
        has_pdf=row.pdf is not None,
        prepared_at=row.prepared_at,
        approval_needed=approval,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
    )


def approve(service: Service, letter_id: int, by: str) -> LetterView:
    """A named person approves a prepared letter (approving it again is a no-op)."""
    by = staff_id(by)
    now = service.now()
    l = LETTERS.c  # noqa: E741
    with service.store.engine.begin() as conn:
        row = letter_row(conn, letter_id)
        if row.status == LETTER_APPROVED and row.approved_by == by:
            return letter(service, letter_id)
        if row.status != LETTER_PREPARED:
            who = f" by {row.approved_by}" if row.approved_by else ""
            raise ConflictError(
                f"letter {letter_id} is already {row.status}{who}; nothing was changed"
            )
        changed = conn.execute(
            update(LETTERS)
            .where(l.id == letter_id, l.status == LETTER_PREPARED)
            .values(status=LETTER_APPROVED, approved_by=by, approved_at=now)
        ).rowcount
        if changed != 1:
            raise ConflictError(
                f"letter {letter_id} was changed by someone else; nothing was changed"
            )
        school = conn.execute(
            select(SCHOOLS.c.key)
            .join(CASES, CASES.c.school_id == SCHOOLS.c.id)
            .where(CASES.c.id == row.case_id)
        ).scalar_one()
    service.log.info(
        "letter.approved",
        school=school,
        case_id=row.case_id,
        task_id=row.task_id,
        letter_id=letter_id,
        by=by,
    )
    return letter(service, letter_id)


def pdf(service: Service, letter_id: int) -> bytes:
    """The letter's PDF, rendered from its kept context the first time it is asked for."""
    with service.store.engine.connect() as conn:
        row = letter_row(conn, letter_id)
    if row.pdf is not None:
        return bytes(row.pdf)
    return _render(service, row)


def _render(service: Service, row: Any) -> bytes:
    with service.store.engine.connect() as conn:
        school = conn.execute(
            select(SCHOOLS.c.key)
            .join(CASES, CASES.c.school_id == SCHOOLS.c.id)
            .where(CASES.c.id == row.case_id)
        ).scalar_one()
    flow = service.setup(school).flow.id
    data = pdf_of(row.template, row.figures, flow)
    with service.store.engine.begin() as conn:
        conn.execute(
            update(LETTERS).where(LETTERS.c.id == row.id, LETTERS.c.pdf.is_(None)).values(pdf=data)
        )
    return data


def render_pending(service: Service, limit: int | None = None) -> int:
    """Render the PDFs not rendered yet (oldest first); how many were rendered."""
    query = select(LETTERS).where(LETTERS.c.pdf.is_(None)).order_by(LETTERS.c.id)
    if limit is not None:
        query = query.limit(limit)
    with service.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        _render(service, row)
    if not rows:
        return 0
    return len(rows)


def require(found: Any, what: str) -> Any:
    if found is None:
        raise NotFoundError(what)
    return found
