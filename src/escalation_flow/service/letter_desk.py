"""Staff steps on prepared letters: read one, approve it, have its PDF."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from escalation_flow.actors import Actors, is_system_actor
from escalation_flow.errors import ActionError, ConflictError, NotFoundError
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.kept import addressees_of, context_from_json
from escalation_flow.ports import LETTER_APPROVED, LETTER_PREPARED, AuditNote, Record
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.letter_preparation import pdf_of
from escalation_flow.service.views import LetterView


@dataclass(frozen=True)
class LetterCopies:
    #: one household a copy (an empty one: "To the parent or carer of ...", for the office)
    households: tuple[Household, ...]
    #: the school's letters are drafts only: never approved or sent
    draft: bool


class LetterDesk:
    """Prepared letters: read, approved by a named person, rendered to PDF once."""

    def __init__(self, ctx: ServiceContext, actors: Actors | None = None) -> None:
        self.ctx = ctx
        #: who may be named as approving (staff of the staff table, or a system actor)
        self.actors = actors or Actors()

    def letter(self, letter_id: int) -> LetterView:
        with self.ctx.store.read() as tx:
            row = tx.letter_row(letter_id)
            task = tx.letter_task(row.task_id)
        return _view(row, task.key, task.pupil, task.approval)

    def approve(self, letter_id: int, by: str, *, audit: AuditNote | None = None) -> LetterView:
        """A named person approves a prepared letter (approving it again is a no-op, and writes
        no ``audit`` entry)."""
        by = self.actors.check(by)
        if is_system_actor(by):
            raise ActionError(
                f"{by!r} is a system actor: a letter to a family is approved by a named member of "
                "staff (--by STAFF)"
            )
        now = self.ctx.now()
        with self.ctx.store.begin() as tx:
            row = tx.letter_row(letter_id)
            if row.status == LETTER_APPROVED and row.approved_by == by:
                return self.letter(letter_id)
            if context_from_json(row.figures).draft:
                raise ActionError(
                    f"letter {letter_id} is a draft: its school's trust file says 'letters: "
                    "draft-only', so its letters cannot be approved or sent; give the school's "
                    "details in the trust file and drop that line for letters prepared after"
                )
            if row.status != LETTER_PREPARED:
                who = f" by {row.approved_by}" if row.approved_by else ""
                raise ConflictError(
                    f"letter {letter_id} is already {row.status}{who}; nothing was changed"
                )
            if not tx.approve_letter(letter_id, by, now):
                raise ConflictError(
                    f"letter {letter_id} was changed by someone else; nothing was changed"
                )
            school = tx.school_of_case(row.case_id)
            if audit is not None:
                pupil = tx.letter_task(row.task_id).pupil
                tx.audit(audit, now, school=school, pupil=pupil)
        self.ctx.log.info(
            "letter.approved",
            school=school,
            case_id=row.case_id,
            task_id=row.task_id,
            letter_id=letter_id,
            by=by,
        )
        return self.letter(letter_id)

    def copies(self, letter_id: int) -> LetterCopies:
        """Who the letter's copies go to, as known when it was prepared, and whether it is a
        draft (read from its kept context)."""
        with self.ctx.store.read() as tx:
            kept = context_from_json(tx.letter_row(letter_id).figures)
        return LetterCopies(kept.copies, kept.draft)

    def pdf(self, letter_id: int) -> bytes:
        """The letter's PDF, rendered from its kept context the first time it is asked for."""
        with self.ctx.store.read() as tx:
            row = tx.letter_row(letter_id)
        if row.pdf is not None:
            return bytes(row.pdf)
        return self._render(row)

    def copy_pdf(self, letter_id: int, household: str) -> bytes:
        """One household's copy of the letter alone (``household``: its contact ids joined by
        commas, as the outbox keys it), for its email or its envelope: never another
        household's name or address."""
        with self.ctx.store.read() as tx:
            row = tx.letter_row(letter_id)
            school = tx.school_of_case(row.case_id)
        keys = [",".join(h.contacts) for h in addressees_of(row.figures)]
        if household not in keys:
            raise NotFoundError(f"letter {letter_id} has no copy for household {household!r}")
        return pdf_of(
            row.template, row.figures, self.ctx.setup(school).flow.id, keys.index(household)
        )

    def render_pending(
        self,
        limit: int | None = None,
        workers: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Render the PDFs not rendered yet (oldest first), in a pool of processes once there
        are more than a few (``letter_pool``); how many were rendered. ``stop()``: leave the
        letters not started yet once it says so."""
        from escalation_flow.service.letter_pool import render_pending

        return render_pending(self.ctx, limit, workers, stop)

    def _render(self, row: Record) -> bytes:
        with self.ctx.store.read() as tx:
            school = tx.school_of_case(row.case_id)
        flow = self.ctx.setup(school).flow.id
        data = pdf_of(row.template, row.figures, flow)
        with self.ctx.store.begin() as tx:
            tx.keep_letter_pdf(row.id, data, self.ctx.now(), str(row.figures))
        return data


def _view(row: Record, school: str, pupil: str, approval: bool) -> LetterView:
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
