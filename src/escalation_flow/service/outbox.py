"""Approved letters out of the service: queued per household, emailed through a
``sending.LetterSender``, or collected for the post.

1. **Queue** (``queue``): each letter approved by a named member of staff, at a school whose
   letters are not draft-only, gets one outbox row per household its preparation addressed
   (``letter_recipients``): ``email`` when the household
   has an address to email, else ``post``; a household with neither is ``no_address`` (a
   person must find one). Never a letter without a named approver. A copy whose contacts
   changed since the letter was prepared is ``cancelled`` or ``needs_readdressing``
   (``letters.readdressing``), never sent.
2. **Send** (``drain``): claim one row, check it (its recipients as chained when it was queued;
   its household's contacts as known now), send it, record the result; then the next. The result
   decides the row's next state (``core.delivery``): sent, retried after a back-off, or failed
   for good; each is chained on the case's records with the server's reply code and text.
3. **Post** (``print_day``): a school's letters for the post queued on one day, each checked as
   before an email, as one PDF with a cover list, recorded as printed.

Exactly once, as far as SMTP allows: a crash after the claim and before the server accepted
leaves the row ``sending``; after ``SENDING_LEASE`` it is claimed again and sent (nothing lost).
A crash after the server accepted and before our record commits is the one window no protocol
closes: the row is sent again after the lease, with the same Message-ID, so the receiving
system can see it is the same message (``docs/sending.md``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from escalation_flow.actors import is_system_actor
from escalation_flow.core.contacts import ContactVersion, as_known_at
from escalation_flow.core.delivery import (
    CANCELLED,
    EMAIL,
    FAILED,
    FOR_POST,
    NEEDS_READDRESSING,
    NO_ADDRESS,
    POST,
    QUEUED,
    SENDING_LEASE,
    Refused,
    after_attempt,
    recipients_digest,
)
from escalation_flow.errors import InputError, SenderUnavailableError
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import LetterContext
from escalation_flow.letters.kept import addressees_of, context_from_json
from escalation_flow.letters.readdressing import Stale, stale_copy
from escalation_flow.sending import LetterSender, OutboxStore, Outgoing
from escalation_flow.service.context import ServiceContext

#: a draft-only school's approved letters: recorded, never sent nor printed
DRAFT_ONLY = "draft_only"
#: why a row whose recipients differ from those chained when it was queued is never sent
ROW_CHANGED = "outbox row changed outside the service"


def letter_recipients(figures: str) -> list[Household]:
    """Who a letter goes to: the households its preparation recorded (``letters.kept``), one
    copy each, as known when it was prepared: what the family reads in the window is who the
    email goes to. A letter prepared with no contact known has one copy to address by hand."""
    return list(addressees_of(figures))


@dataclass
class Queued:
    letters: int = 0
    email: int = 0
    post: int = 0
    no_address: int = 0
    draft_only: int = 0
    cancelled: int = 0
    #: copies whose household's contacts changed since preparation: prepare the letter again
    needs_readdressing: int = 0


@dataclass
class Drained:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    #: copies set aside just before sending: contacts changed (cancelled, needs_readdressing)
    set_aside: int = 0
    #: the channel was down: why (the rows wait for the next round)
    unavailable: str | None = None
    results: list[tuple[int, str]] = field(default_factory=list)  # (outbox id, status)


@dataclass(frozen=True)
class Delivery:
    """One household's copy of a letter, as staff read it (no address: their names)."""

    channel: str
    to: str
    status: str
    attempts: int
    code: int | None
    reply: str | None
    at: datetime  # when it was sent, failed or printed; else when it was queued

    @property
    def words(self) -> str:
        how = {EMAIL: "by email", POST: "by post"}.get(self.channel, "not sent")
        state = _STATE_WORDS.get(self.status, self.status)
        if self.status in ("failed", QUEUED) and (self.code or self.reply):
            state += f" ({self.code or 'no reply'}: {self.reply})" if self.reply else ""
        elif self.status in (CANCELLED, NEEDS_READDRESSING) and self.reply:
            state += f" ({self.reply})"
        return f"{self.to or 'no parent or carer known'}, {how}: {state}"


_STATE_WORDS = {
    QUEUED: "waiting to be emailed",
    "sending": "being emailed",
    "sent": "emailed",
    "failed": "could not be emailed",
    FOR_POST: "to print for the post",
    "printed": "printed for the post",
    NO_ADDRESS: "no email or postal address: find one",
    DRAFT_ONLY: "held: the school's letters are drafts only",
    "cancelled": "cancelled before it went",
    NEEDS_READDRESSING: "held, not sent",
}


@dataclass(frozen=True)
class PrintRun:
    pdf: bytes
    letters: int  # copies in the batch
    newly_printed: int


class LetterOutbox:
    """The outbox use cases over one store's outbox table."""

    def __init__(
        self,
        ctx: ServiceContext,
        outbox: OutboxStore,
        copy_pdf: Callable[[int, str], bytes],
        *,
        message_domain: str | None = None,
        draft_only: Callable[[str], bool] | None = None,
    ) -> None:
        self.ctx = ctx
        self.outbox = outbox
        #: one household's copy alone (letter id, household key): a parent never receives the
        #: other household's name or address, by email or in the post
        self.copy_pdf = copy_pdf
        #: the right of each Message-ID: the trust's, so ids of two trusts never meet
        self.message_domain = message_domain or _domain(ctx.trust.name)
        self.draft_only = draft_only or school_is_draft_only(ctx)
        #: whether an email sender is configured: without one a household's copy goes for the
        #: post even where it has an email address (else it would wait in the outbox for ever)
        self.emails = True

    # -- queue ---------------------------------------------------------------------------------

    def queue(self) -> Queued:
        """Queue every approved letter not queued yet; cancel rows whose letter was superseded
        or erased before it went."""
        now = self.ctx.now()
        done = Queued(cancelled=len(self.outbox.cancel_unsendable(now)))
        letters = self.outbox.unqueued_letters()
        for letter in letters:
            if not letter.approved_by or is_system_actor(letter.approved_by):
                continue  # a named member of staff approves, or nothing goes (never reached)
            if letter.school not in self.ctx.trust.schools:
                continue  # a school no longer in the trust file: its letters wait for it
            rows = self._rows(letter, self._known(letter.school, letter.pupil, now))
            if not self.outbox.enqueue(int(letter.id), rows, now):
                continue  # another process queued it first
            done.letters += 1
            for r in rows:
                kind = r["status"] if r["status"] in _HELD else r["channel"]
                setattr(done, kind, getattr(done, kind) + 1)
                if r["status"] in (CANCELLED, NEEDS_READDRESSING):
                    self.ctx.log.warning("letter.copy_set_aside", letter_id=int(letter.id),
                                         status=r["status"], reason=r["last_reply"])  # fmt: skip
            self.ctx.log.info(
                "letter.queued", school=letter.school, letter_id=int(letter.id),
                rows=len(rows), channels=",".join(sorted({r["channel"] for r in rows})),
            )  # fmt: skip
        return done

    def _rows(self, letter: Any, known: list[ContactVersion]) -> list[dict[str, Any]]:
        if self.draft_only(letter.school):
            return [_row(letter.id, None, "none", DRAFT_ONLY, self.message_domain)]
        found = letter_recipients(letter.figures)
        if not found:
            return [_row(letter.id, None, "none", NO_ADDRESS, self.message_domain)]
        out = []
        for h in found:
            if h.emails and self.emails:
                row = _row(letter.id, h, EMAIL, QUEUED, self.message_domain)
            elif h.postal_address:
                row = _row(letter.id, h, POST, FOR_POST, self.message_domain)
            else:
                row = _row(letter.id, h, "none", NO_ADDRESS, self.message_domain)
            stale = stale_copy(h, known)  # a copy to address by hand too: not to a barred contact
            if stale is not None:
                row |= {"status": stale.status, "last_reply": stale.reason}
            out.append(row)
        return out

    def _known(self, school: str, pupil: str, now: datetime) -> list[ContactVersion]:
        """The pupil's contacts as known at ``now`` (each contact's latest version)."""
        with self.ctx.store.read() as tx:
            versions = tx.contacts_of(school, [pupil])
        return as_known_at((v for v in versions if v.pupil == pupil), now)

    def _stale(self, row: Any) -> Stale | None:
        """Why ``row`` must not go now: its recipients are not those chained when it was
        queued (an edit outside the service), or its household's contacts changed since the
        letter was prepared."""
        queued = self.outbox.queued_digest(row)
        stored = recipients_digest(row.names, row.emails, row.postal_address, row.channel,
                                   row.household, row.message_id)  # fmt: skip
        if queued != stored:
            self.ctx.log.error("letter.outbox_row_changed", outbox_id=row.id,
                               letter_id=row.letter_id)  # fmt: skip
            return Stale(FAILED, ROW_CHANGED)
        copy = next((h for h in letter_recipients(self._figures(row.letter_id))
                     if ",".join(h.contacts) == row.household), None)  # fmt: skip
        if copy is None:  # the letter no longer addresses this household (it was erased)
            return Stale(CANCELLED, "the letter no longer addresses this household")
        school, pupil = self.outbox.pupil_of(int(row.letter_id))
        return stale_copy(copy, self._known(school, pupil, self.ctx.now()))

    # -- send ----------------------------------------------------------------------------------

    def drain(
        self, sender: LetterSender, *, stop: Callable[[], bool] = lambda: False,
        limit: int | None = None,
    ) -> Drained:  # fmt: skip
        """Send what is due on ``sender``'s channel, one row at a time, until none is left,
        ``stop()`` says so or ``limit`` rows were tried."""
        done = Drained()
        if not self.outbox.due_count(sender.channel, self.ctx.now(), SENDING_LEASE):
            return done
        try:
            with sender.session() as session:
                while (limit is None or len(done.results) < limit) and not stop():
                    claimed = self.outbox.claim_next(
                        sender.channel, self.ctx.now(), SENDING_LEASE, self.ctx.worker
                    )
                    if claimed is None:
                        break
                    row, resumed = claimed
                    if resumed:  # its sender died between claim and record: sent again
                        self.ctx.log.warning("letter.send_resumed", outbox_id=row.id,
                                             letter_id=row.letter_id, attempt=row.attempts)  # fmt: skip
                    try:
                        stale = self._stale(row)
                    except Exception as exc:  # a copy that cannot be checked is not sent
                        stale = Stale(FAILED, f"the copy could not be checked: {exc}")
                    if stale is not None:
                        self._set_aside(row, stale, done)
                        continue
                    try:
                        outgoing = self._outgoing(row)
                    except Exception as exc:  # a letter that cannot be made cannot be sent
                        self._record(row, Refused(None, f"the letter could not be made: {exc}",
                                                  permanent=True), done)  # fmt: skip
                        continue
                    try:
                        result = session.send(outgoing)
                    except SenderUnavailableError:
                        self.outbox.release(row, self.ctx.worker)
                        raise
                    self._record(row, result, done)
        except SenderUnavailableError as exc:
            done.unavailable = str(exc)
            self.ctx.log.warning("outbox.sender_unavailable", channel=sender.channel,
                                 reason=str(exc))  # fmt: skip
        return done

    def _outgoing(self, row: Any) -> Outgoing:
        context = self._context(row.letter_id)
        names = json_list(row.names)
        return Outgoing(
            message_id=row.message_id,
            names=names,
            emails=json_list(row.emails),
            postal_address=row.postal_address,
            subject=f"A letter from {context.school.name}",
            body=email_body(context, names),
            pdf=self.copy_pdf(int(row.letter_id), row.household),
            filename=f"letter-{row.letter_id}.pdf",
        )

    def _context(self, letter_id: int) -> LetterContext:
        return context_from_json(self._figures(letter_id))

    def _figures(self, letter_id: int) -> str:
        with self.ctx.store.read() as tx:
            return str(tx.letter_row(letter_id).figures)

    def _set_aside(self, row: Any, stale: Stale, done: Drained) -> None:
        """A claimed copy that must not go: failed (its row was changed), cancelled or held."""
        if stale.status == FAILED:
            self._record(row, Refused(None, stale.reason, permanent=True), done)
            return
        if self.outbox.set_aside(row, stale.status, stale.reason, self.ctx.now(),
                                 worker=self.ctx.worker):  # fmt: skip
            done.set_aside += 1
            done.results.append((int(row.id), stale.status))
            self.ctx.log.warning("letter.copy_set_aside", outbox_id=row.id,
                                 letter_id=row.letter_id, status=stale.status,
                                 reason=stale.reason)  # fmt: skip

    def _record(self, row: Any, result: Any, done: Drained) -> None:
        now = self.ctx.now()
        after = after_attempt(result, int(row.attempts), now)
        if not self.outbox.record_attempt(row, self.ctx.worker, result, after, now):
            self.ctx.log.error("letter.send_unrecorded", outbox_id=row.id, letter_id=row.letter_id,
                               reason="its claim ran out and another worker took it")  # fmt: skip
            return
        done.results.append((int(row.id), after.status))
        if after.status == QUEUED:
            done.retrying += 1
        elif isinstance(result, Refused):
            done.failed += 1
        else:
            done.sent += 1
        event = "letter.emailed" if not isinstance(result, Refused) else "letter.email_refused"
        self.ctx.log.info(
            event, outbox_id=row.id, letter_id=row.letter_id, attempt=row.attempts,
            status=after.status, code=result.code,
        )  # fmt: skip

    def deliveries(self, letter_id: int) -> list[Delivery]:
        """Where each household's copy of the letter stands (none before it is queued)."""
        return [
            Delivery(
                channel=r.channel, to=" and ".join(json_list(r.names)), status=r.status,
                attempts=int(r.attempts), code=r.last_code, reply=r.last_reply,
                at=r.done_at or r.queued_at,
            )
            for r in self.outbox.rows(letter=letter_id)
        ]  # fmt: skip

    # -- post ----------------------------------------------------------------------------------

    def print_day(self, school: str, day: date, by: str) -> PrintRun:
        """The school's letters for the post queued on ``day`` (its own zone): one PDF, a cover
        list first, each letter starting on a fresh sheet; recorded as printed by ``by``."""
        from escalation_flow.adapters.post_batch import CoverLine, post_batch

        zone = self.ctx.setup(school).zone
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        rows = [r for r in self.outbox.for_post(school, start, end) if self._printable(r)]
        if not rows:
            raise InputError(f"no letters for the post at {school} on {day.isoformat()}")
        lines, pdfs = [], []
        for row in rows:
            context = context_from_json(row.figures)
            lines.append(
                CoverLine(int(row.letter_id), context.pupil.full_name,
                          " and ".join(json_list(row.names)), row.postal_address)
            )  # fmt: skip
            pdfs.append(self.copy_pdf(int(row.letter_id), row.household))
        school_name = context_from_json(rows[0].figures).school.name
        pdf = post_batch(school_name, day, lines, pdfs)
        newly = self.outbox.mark_printed(rows, by, self.ctx.now())
        self.ctx.log.info("letters.printed", school=school, day=day.isoformat(),
                          letters=len(rows), newly_printed=newly)  # fmt: skip
        return PrintRun(pdf, len(rows), newly)

    def _printable(self, row: Any) -> bool:
        """A copy for the post checked as an email is before it is sent: one that must not go
        is left out of the print, and set aside (failed, cancelled or held) if not printed yet;
        one printed already stays recorded as printed, but is not printed again for an
        envelope to a contact who may no longer be contacted or an address no longer theirs."""
        stale = self._stale(row)
        if stale is None:
            return True
        if row.status == FOR_POST and self.outbox.set_aside(
            row, stale.status, stale.reason, self.ctx.now()
        ):
            self.ctx.log.warning("letter.copy_set_aside", outbox_id=row.id,
                                 letter_id=row.letter_id, status=stale.status,
                                 reason=stale.reason)  # fmt: skip
        return False


def email_body(context: LetterContext, names: Sequence[str]) -> str:
    """The email around the attached letter: the school and the pupil named as the letter
    names them, and nothing of the letter's content (that stays in the PDF)."""
    school = context.school
    dear = " and ".join(names) if names else "Parent or carer"
    reach = " or ".join(x for x in (school.phone, school.email) if x)
    contact = f" on {reach}" if reach else ""
    return (
        f"Dear {dear},\n\n"
        f"Please find attached a letter from {school.name} about {context.pupil.full_name}, "
        f"dated {context.letter_date:%-d %B %Y}.\n\n"
        f"If you have any questions, please contact the school{contact}.\n\n"
        f"{school.name}\n"
    )


def school_is_draft_only(ctx: ServiceContext) -> Callable[[str], bool]:
    """A school whose trust file says ``letters: draft-only``: its letters are never sent."""

    def draft_only(school: str) -> bool:
        config = ctx.trust.schools.get(school)
        return config is not None and config.letters_draft_only

    return draft_only


#: row states counted by their own name when queued (the rest by channel)
_HELD = (NO_ADDRESS, DRAFT_ONLY, CANCELLED, NEEDS_READDRESSING)


def json_list(text: str) -> tuple[str, ...]:
    return tuple(str(x) for x in json.loads(text or "[]"))


def _domain(trust: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", trust.lower()).strip("-") or "trust"
    return f"{label}.escalation-flow.invalid"


def _row(
    letter_id: int, h: Household | None, channel: str, status: str, domain: str
) -> dict[str, Any]:
    household = ",".join(h.contacts) if h else ""
    digest = hashlib.sha256(f"{letter_id}/{household}".encode()).hexdigest()[:16]
    return {
        "household": household,
        "channel": channel,
        "status": status,
        "names": json.dumps(list(h.names) if h else []),
        "emails": json.dumps(list(h.emails) if h else []),
        "postal_address": h.postal_address if h else "",
        "message_id": f"<letter-{letter_id}.{digest}@{domain}>",
        "last_reply": None,  # why a copy is set aside when queued (``letters.readdressing``)
    }
