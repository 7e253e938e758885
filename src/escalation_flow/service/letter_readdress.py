"""Preparing a held letter again once the contacts are corrected (``letters readdress``).

A copy is held ``needs_readdressing`` when its household's names, postal address or emails
changed after the letter was prepared (``letters.readdressing``): it must not go as addressed.
After ``import contacts`` has corrected them, a leader prepares the letter again from the
contacts as known now: its kept context takes the households as known now (a copy that went
keeps the household it went to), its HTML and PDF are made again from it, each held copy takes
its household as known now and waits in the outbox again, and what changed is said. What the
letter says (its figures, its date) is not recomputed: that is what was approved. Nothing is
sent here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from escalation_flow.actors import Actors, is_system_actor
from escalation_flow.adapters.letter_rendering import render_html, render_pdf
from escalation_flow.core.contacts import as_known_at
from escalation_flow.core.delivery import (
    EMAIL,
    FOR_POST,
    NEEDS_READDRESSING,
    NO_ADDRESS,
    POST,
    QUEUED,
)
from escalation_flow.errors import ActionError
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.kept import context_from_json, context_to_json
from escalation_flow.letters.readdressing import Readdressed, Readdressing, key_of, readdress
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.outbox import _row
from escalation_flow.stored import LETTER_APPROVED

if TYPE_CHECKING:
    from escalation_flow.service import Service

#: Why a held copy that no household holds now is cancelled (kept with its row and record).
REGROUPED = "readdressed: no household as known now holds this copy's contacts"


class ReaddressStore(Protocol):
    def write(self, r: Readdressed, by: str, now: datetime) -> None: ...


class OutboxRows(Protocol):
    def rows(
        self, *, status: str | None = None, school: str | None = None, letter: int | None = None
    ) -> list[Any]: ...


@dataclass(frozen=True)
class ReaddressResult:
    letter_id: int
    school: str
    pupil: str
    plan: Readdressing

    def lines(self) -> list[str]:
        return [f"letter {self.letter_id} prepared again from the contacts as known now:"] + [
            f"  {line}" for line in self.plan.changes()
        ]


class LetterReaddress:
    """Held letters prepared again, one or a school's."""

    def __init__(
        self,
        ctx: ServiceContext,
        rows: OutboxRows,
        store: ReaddressStore,
        *,
        message_domain: str,
        emails: bool = True,
        actors: Actors | None = None,
    ) -> None:
        self.ctx = ctx
        self.actors = actors or Actors()
        self.rows = rows
        self.store = store
        self.message_domain = message_domain
        self.emails = emails

    def held(self, school: str) -> list[int]:
        """The school's letters with a copy held for readdressing, oldest first."""
        key = self.ctx.setup(school).school
        found = self.rows.rows(status=NEEDS_READDRESSING, school=key)
        return sorted({int(r.letter_id) for r in found})

    def readdress(self, letter_id: int, by: str) -> ReaddressResult:
        """Prepare ``letter_id`` again (``ActionError`` when none of its copies is held)."""
        by = self.actors.check(by)
        if is_system_actor(by):
            raise ActionError(f"{by!r} is a system actor: a named member of staff readdresses")
        rows = self.rows.rows(letter=letter_id)
        held = [r for r in rows if r.status == NEEDS_READDRESSING]
        if not held:
            raise ActionError(
                f"letter {letter_id} has no copy held for readdressing (`escalation-flow letters "
                f"outbox --letter {letter_id}`); nothing was changed"
            )
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            letter = tx.letter_row(letter_id)
            school = tx.school_of_case(letter.case_id)
            pupil = str(tx.letter_task(letter.task_id).pupil)
            known = as_known_at(
                (c for c in tx.contacts_of(school, [pupil]) if c.pupil == pupil), now
            )
        if letter.status != LETTER_APPROVED:
            raise ActionError(f"letter {letter_id} is {letter.status}: nothing was changed")
        kept = context_from_json(letter.figures)
        statuses = {str(r.household): str(r.status) for r in rows}
        plan = readdress(kept.copies, statuses, known)
        if not plan.addressees:
            raise ActionError(
                f"letter {letter_id}: no one with parental responsibility who may be contacted "
                "is recorded for the pupil now (import the contacts first); nothing was changed"
            )
        ctx = replace(kept, addressees=plan.addressees)
        flow = self.ctx.setup(school).flow.id
        html = render_html(letter.template, ctx, flow=flow)
        pdf = None if letter.pdf is None else render_pdf(letter.template, ctx, flow=flow)
        by_key = {str(r.household): int(r.id) for r in held}
        self.store.write(
            Readdressed(
                letter_id=letter_id,
                html=html,
                figures=context_to_json(ctx),
                pdf=pdf,
                updated={
                    by_key[k]: self._row(letter_id, after) for k, _, after in plan.readdressed
                },
                added=[self._row(letter_id, h) for h in plan.added],
                cancelled=[by_key[key_of(h)] for h in plan.cancelled],
                reason=REGROUPED,
            ),
            by,
            now,
        )
        self.ctx.log.info(
            "letter.readdressed",
            school=school,
            letter_id=letter_id,
            readdressed=len(plan.readdressed),
            added=len(plan.added),
            cancelled=len(plan.cancelled),
            by=by,
        )
        return ReaddressResult(letter_id, school, pupil, plan)

    def _row(self, letter_id: int, h: Household) -> dict[str, Any]:
        """The outbox values of a household's copy, as ``LetterOutbox.queue`` makes them."""
        if h.emails and self.emails:
            return _row(letter_id, h, EMAIL, QUEUED, self.message_domain)
        if h.postal_address:
            return _row(letter_id, h, POST, FOR_POST, self.message_domain)
        return _row(letter_id, h, "none", NO_ADDRESS, self.message_domain)


def readdress_desk(service: Service) -> LetterReaddress:
    """The desk over a service's SQL store (the outbox is the SQL store's only)."""
    from escalation_flow.adapters.store.outbox import SqlOutbox
    from escalation_flow.adapters.store.readdressing import SqlReaddress

    outbox = service.outbox
    engine = service.store.engine
    return LetterReaddress(
        service.ctx, SqlOutbox(engine), SqlReaddress(engine),
        message_domain=outbox.message_domain, emails=outbox.emails, actors=service.letters.actors,
    )  # fmt: skip
