"""Approved letters emailed through a real SMTP server (aiosmtpd, STARTTLS and AUTH), on SQLite
and PostgreSQL: only with a named approver, one copy a household, refusals for good and for now,
a server that says nothing, a restart mid-outbox, and the post printed as one PDF a day."""

from __future__ import annotations

import io
import json
import time as wall
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.smtp_sender import SmtpConfig, SmtpSender
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.audit.store_check import verify_store
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.delivery import SENDING_LEASE, Result
from escalation_flow.sending import Outgoing
from escalation_flow.service import Service
from tests.daemon_builders import SCHOOL, built_state, clone, evening_clock, write_trust
from tests.smtp_server import PASSWORD, USER, Server, smtp_server

pytestmark = pytest.mark.needs_program("openssl")

HEAD = (
    "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,address,"
    "email,telephone,priority,may_be_contacted,recorded_at\n"
)
CONTACTS = [  # P1's parents live apart, one with no email; P2's mother has one
    "oaks,P1,C1,Ann Lee,mother,yes,yes,1 Oak Lane,ann@example.org,07700 900001,1,yes,",
    "oaks,P1,C2,Bo Lee,father,yes,no,9 Elm Road,,07700 900002,2,yes,",
    "oaks,P2,C3,Cy Fox,mother,yes,yes,3 Ash Road,cy@example.org,07700 900003,1,yes,",
]
FROM = "attendance@oaks.example.sch.uk"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(f"outbox-{request.param}")
    yield from built_state(request.param, folder, before_days=import_contacts)


def import_contacts(store: Store, folder: Path) -> None:
    """Before the first day, so each letter is prepared addressed to its households."""
    path = folder / "contacts.csv"
    path.write_text(HEAD + "".join(r + "\n" for r in CONTACTS), encoding="utf-8")
    at = datetime(2025, 9, 1, 8, tzinfo=UTC)
    store.import_contacts(read_contacts(path, {SCHOOL}, now=at), now=at, by="test")


@pytest.fixture
def clock() -> SimulatedClock:
    return evening_clock()


@pytest.fixture
def url(template: str, tmp_path: Path, clock: SimulatedClock) -> Iterator[str]:
    yield from clone(template, tmp_path)


@contextmanager
def opened(url: str, tmp_path: Path, clock: SimulatedClock, worker: str = "test") -> Iterator[Service]:
    """A service as one process has it (a restart is a second one on the same database)."""
    store = Store(url)
    try:
        yield Service(store, load_trust(write_trust(tmp_path / "trust")), clock, worker=worker)
    finally:
        store.dispose()


@pytest.fixture
def service(url: str, tmp_path: Path, clock: SimulatedClock) -> Iterator[Service]:
    with opened(url, tmp_path, clock) as s:
        yield s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with smtp_server(tmp_path) as s:
        yield s


def sender(server: Server, *, timeout: float = 5.0, password: str = PASSWORD) -> SmtpSender:
    return SmtpSender(
        SmtpConfig(host=server.host, port=server.port, sender=FROM, username=USER,
                   password=password, starttls=True, timeout=timeout, tls=server.client_tls())
    )  # fmt: skip


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def approve(service: Service, pupil: str) -> int:
    task = next(t for t in service.tasks(SCHOOL) if t.pupil == pupil and t.letter_id)
    assert task.letter_id is not None
    service.approve_letter(task.letter_id, by="s.head")
    return task.letter_id


def rows(service: Service, **where: Any) -> list[Any]:
    return service.outbox.outbox.rows(**where)


def emailed(service: Service, letter: int) -> Any:
    (row,) = [r for r in rows(service, letter=letter) if r.channel == "email"]
    return row


def records(service: Service, letter: int) -> list[tuple[str, dict[str, Any]]]:
    with service.store.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT kind, body FROM chain_records WHERE subject = :s ORDER BY chain, seq"),
            {"s": f"letter {letter}"},
        ).all()
    return [(k, json.loads(b)) for k, b in found]


def test_an_approved_letter_goes_by_email_to_one_household_and_by_post_to_the_other(
    service: Service, server: Server
) -> None:
    letter = approve(service, "P1")
    queued = service.outbox.queue()
    assert (queued.letters, queued.email, queued.post) == (1, 1, 1)
    done = service.outbox.drain(sender(server))
    assert (done.sent, done.retrying, done.failed, done.unavailable) == (1, 0, 0, None)

    (message,) = server.mailbox.received
    assert server.mailbox.rcpt == [["ann@example.org"]]
    assert message["From"] == FROM and message["Message-ID"] == emailed(service, letter).message_id
    body, attachment = [p for p in message.walk() if not p.is_multipart()]
    assert attachment.get_filename() == f"letter-{letter}.pdf"
    # her household's copy alone: the other parent's name and address never reach her
    attached = pdf_text(attachment.get_payload(decode=True))
    assert "Ann Lee" in attached and "1 Oak Lane" in attached
    assert "Bo Lee" not in attached and "9 Elm Road" not in attached
    text = body.get_content()
    assert "Oaks Test Academy" in text and "Dear Ann Lee" in text
    assert "%" not in text and "attendance" not in text.lower()  # the letter says that, not the email

    by_channel = {r.channel: r.status for r in rows(service, letter=letter)}
    assert by_channel == {"email": "sent", "post": "for_post"}
    kinds = [k for k, _ in records(service, letter)]
    assert kinds.count("letter_queued") == 2 and kinds[-1] == "letter_delivery"
    words = sorted(d.words for d in service.outbox.deliveries(letter))
    assert words == ["Ann Lee, by email: emailed", "Bo Lee, by post: to print for the post"]
    delivered = records(service, letter)[-1][1]
    assert (delivered["status"], delivered["code"], delivered["attempt"]) == ("sent", 250, 1)
    assert verify_store(service.store.engine).ok
    whole = pdf_text(service.letter_pdf(letter))
    assert "Bo Lee" in whole and "9 Elm Road" in whole  # the kept letter holds both copies


def test_a_letter_nobody_approved_is_never_queued_nor_sent(
    service: Service, server: Server
) -> None:
    assert service.outbox.queue().letters == 0
    assert service.outbox.drain(sender(server)).results == []
    assert rows(service) == [] and server.mailbox.received == []


def test_a_letter_already_recorded_as_sent_by_hand_is_never_emailed(
    service: Service, server: Server
) -> None:
    """Posted or handed over before the outbox reached it: the family has it already."""
    letter = approve(service, "P1")
    task = next(t for t in service.tasks(SCHOOL) if t.letter_id == letter)
    service.complete_task(task.id, "sent", by="s.head")
    assert service.outbox.queue().letters == 0
    assert service.outbox.drain(sender(server)).results == []
    assert rows(service, letter=letter) == [] and server.mailbox.received == []


def test_a_draft_only_schools_approved_letter_is_held_and_never_sent(
    service: Service, server: Server
) -> None:
    service.outbox.draft_only = lambda school: True
    letter = approve(service, "P2")
    assert service.outbox.queue().draft_only == 1
    service.outbox.drain(sender(server))
    assert [r.status for r in rows(service, letter=letter)] == ["draft_only"]
    assert server.mailbox.received == []


def test_a_refusal_for_good_fails_the_letter_with_the_servers_reason_and_is_not_retried(
    service: Service, server: Server, clock: SimulatedClock
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()
    server.mailbox.answers = ["550 5.1.1 <cy@example.org>: mailbox unavailable"]
    done = service.outbox.drain(sender(server))
    assert (done.sent, done.failed, done.retrying) == (0, 1, 0)
    row = emailed(service, letter)
    assert (row.status, row.last_code, row.attempts) == ("failed", 550, 1)
    assert "mailbox unavailable" in row.last_reply
    (words,) = [d.words for d in service.outbox.deliveries(letter) if d.channel == "email"]
    assert words == "Cy Fox, by email: could not be emailed (550: 5.1.1 <cy@example.org>: mailbox unavailable)"
    recorded = records(service, letter)[-1][1]
    assert (recorded["status"], recorded["code"]) == ("failed", 550)
    assert recorded["reply"] == "5.1.1 <<address>>: mailbox unavailable"  # no address chained
    clock.advance(timedelta(days=2))
    assert service.outbox.drain(sender(server)).results == []
    assert emailed(service, letter).attempts == 1 and server.mailbox.received == []


def test_a_refusal_for_now_is_retried_after_a_back_off_and_then_sent_once(
    service: Service, server: Server, clock: SimulatedClock
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()
    server.mailbox.answers = ["451 4.3.0 greylisted, try again later"]
    assert service.outbox.drain(sender(server)).retrying == 1
    row = emailed(service, letter)
    assert (row.status, row.last_code, row.attempts) == ("queued", 451, 1)
    assert row.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert service.outbox.drain(sender(server)).results == []  # not before its time
    clock.advance(timedelta(seconds=61))
    assert service.outbox.drain(sender(server)).sent == 1
    assert (emailed(service, letter).status, emailed(service, letter).attempts) == ("sent", 2)
    assert len(server.mailbox.received) == 1


def test_a_server_that_says_nothing_times_out_and_the_letter_waits_for_its_retry(
    service: Service, server: Server, clock: SimulatedClock
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()
    server.mailbox.stall = 8.0  # far longer than the client's timeout and the rest of a round
    started = wall.monotonic()
    done = service.outbox.drain(sender(server, timeout=0.5))
    assert wall.monotonic() - started < 6.0  # gave up at the timeout, did not wait it out
    assert done.retrying == 1
    row = emailed(service, letter)
    assert (row.status, row.last_code) == ("queued", None)
    assert "timed out" in row.last_reply, row.last_reply
    server.mailbox.stall = 0
    clock.advance(timedelta(minutes=2))
    assert service.outbox.drain(sender(server)).sent == 1
    assert server.mailbox.message_ids == [row.message_id]


def test_a_wrong_password_stops_the_round_and_costs_no_letter_an_attempt(
    service: Service, server: Server
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()
    done = service.outbox.drain(sender(server, password="wrong"))
    assert done.unavailable is not None and "login" in done.unavailable
    row = emailed(service, letter)
    assert (row.status, row.attempts) == ("queued", 0)


class Crash(BaseException):
    """The process dies here (a kill -9, a power cut): nothing after it runs."""


class Dying:
    """A sender that dies at the ``at``-th message, before or after the server took it."""

    channel = "email"

    def __init__(self, real: SmtpSender, at: int, after_accepted: bool) -> None:
        self.real, self.at, self.after_accepted, self.count = real, at, after_accepted, 0

    @contextmanager
    def session(self) -> Iterator[Dying]:
        with self.real.session() as inner:
            self.inner = inner
            yield self

    def send(self, item: Outgoing) -> Result:
        self.count += 1
        if self.count == self.at and not self.after_accepted:
            raise Crash
        result = self.inner.send(item)
        if self.count == self.at:
            raise Crash
        return result


def test_a_restart_mid_outbox_sends_nothing_twice_and_loses_nothing(
    url: str, tmp_path: Path, clock: SimulatedClock, server: Server
) -> None:
    with opened(url, tmp_path, clock, worker="daemon:a") as first:
        letters = [approve(first, "P1"), approve(first, "P2")]
        first.outbox.queue()
        with pytest.raises(Crash):  # dies after claiming the second letter, before sending it
            first.outbox.drain(Dying(sender(server), at=2, after_accepted=False))
    assert len(server.mailbox.received) == 1
    with opened(url, tmp_path, clock, worker="daemon:b") as second:
        assert second.outbox.drain(sender(server)).results == []  # its claim still stands
        clock.advance(SENDING_LEASE + timedelta(seconds=1))
        assert second.outbox.drain(sender(server)).sent == 1
        assert {emailed(second, n).status for n in letters} == {"sent"}
        assert verify_store(second.store.engine).ok
    ids = server.mailbox.message_ids
    assert len(ids) == 2 and len(set(ids)) == 2


def test_a_stop_between_letters_leaves_the_rest_queued_for_the_next_start(
    url: str, tmp_path: Path, clock: SimulatedClock, server: Server
) -> None:
    with opened(url, tmp_path, clock) as first:
        approve(first, "P1"), approve(first, "P2")
        first.outbox.queue()
        done = first.outbox.drain(sender(server), stop=lambda: len(server.mailbox.received) >= 1)
        assert (done.sent, len(rows(first, status="queued"))) == (1, 1)
    with opened(url, tmp_path, clock) as second:
        assert second.outbox.drain(sender(server)).sent == 1
    assert len(set(server.mailbox.message_ids)) == len(server.mailbox.message_ids) == 2


def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(
    url: str, tmp_path: Path, clock: SimulatedClock, server: Server
) -> None:
    """The one window SMTP leaves open (docs/sending.md): accepted, then the process died
    before its record. The letter is not lost: it goes again, as the same message."""
    with opened(url, tmp_path, clock) as first:
        letter = approve(first, "P2")
        first.outbox.queue()
        with pytest.raises(Crash):
            first.outbox.drain(Dying(sender(server), at=1, after_accepted=True))
    clock.advance(SENDING_LEASE + timedelta(seconds=1))
    with opened(url, tmp_path, clock) as second:
        assert second.outbox.drain(sender(server)).sent == 1
        row = emailed(second, letter)
        assert (row.status, row.attempts) == ("sent", 2)
    ids = server.mailbox.message_ids
    assert ids == [row.message_id, row.message_id]


def test_letters_for_the_post_print_as_one_pdf_a_day_with_a_cover_list(
    service: Service, clock: SimulatedClock
) -> None:
    letter = approve(service, "P1")
    service.outbox.queue()
    run = service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    assert (run.letters, run.newly_printed) == (1, 1)
    pdf = PdfReader(io.BytesIO(run.pdf))
    cover = pdf.pages[0].extract_text()
    assert "Bo Lee" in cover and "9 Elm Road" in cover and str(letter) in cover
    assert "Ann Lee" not in cover  # she has it by email
    printed = "\n".join(page.extract_text() or "" for page in pdf.pages[1:])
    assert "9 Elm Road" in printed and "Ann Lee" not in printed  # his copy alone
    copy_pages = len(PdfReader(io.BytesIO(service.letters.copy_pdf(letter, "C2"))).pages)
    assert len(pdf.pages) == 2 + copy_pages + copy_pages % 2  # each on a fresh sheet
    assert [r.status for r in rows(service, letter=letter) if r.channel == "post"] == ["printed"]
    again = service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    assert (again.letters, again.newly_printed) == (1, 0)
    assert [k for k, _ in records(service, letter)].count("letter_printed") == 1


def test_a_letter_erased_before_it_went_is_cancelled_not_sent(
    service: Service, server: Server
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()
    from escalation_flow.adapters.store.desk import erase_letter

    with service.store.engine.begin() as conn:
        erase_letter(conn, letter, "s.head", "data protection request", service.now())
    assert service.outbox.queue().cancelled == 1
    assert service.outbox.drain(sender(server)).results == []
    assert emailed(service, letter).status == "cancelled" and server.mailbox.received == []


def test_a_letter_whose_pdf_cannot_be_made_fails_with_the_reason_and_sends_nothing(
    service: Service, server: Server
) -> None:
    letter = approve(service, "P2")
    service.outbox.queue()

    def broken(letter_id: int, household: str) -> bytes:
        raise ValueError("template reached a missing value: school.phone")

    service.outbox.copy_pdf = broken
    assert service.outbox.drain(sender(server)).failed == 1
    row = emailed(service, letter)
    assert row.status == "failed" and "school.phone" in row.last_reply
    assert server.mailbox.received == []


def test_a_school_whose_trust_file_says_draft_only_has_its_letters_held(service: Service) -> None:
    from dataclasses import replace

    from escalation_flow.service.outbox import school_is_draft_only

    config = service.ctx.trust.schools[SCHOOL]
    for said, held in [(True, True), (False, False)]:
        service.ctx.trust.schools[SCHOOL] = replace(config, letters_draft_only=said)
        assert school_is_draft_only(service.ctx)(SCHOOL) is held


def test_the_post_is_collected_by_the_schools_own_date_not_utcs(
    service: Service, clock: SimulatedClock
) -> None:
    """Approved at 00:30 on a Saturday in London (23:30 on Friday in UTC): Saturday's batch."""
    from tests.daemon_builders import local

    clock.set(local(date(2025, 9, 13), 0, 30))
    approve(service, "P1")
    service.outbox.queue()
    assert service.outbox.print_day(SCHOOL, date(2025, 9, 13), by="s.head").letters == 1
    from escalation_flow.errors import InputError

    with pytest.raises(InputError, match="no letters for the post at oaks on 2025-09-12"):
        service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")


# -- contacts changed since the letter was prepared; rows changed behind the service -------------

BO_NOT_TO_BE_CONTACTED = CONTACTS[1].replace(",2,yes,", ",2,no,")  # a court order, say
ANN_MOVED = CONTACTS[0].replace("1 Oak Lane", "7 Refuge Close")  # an address Bo must not learn
ANN_NEW_EMAIL = CONTACTS[0].replace("ann@example.org", "ann.lee@example.net")


def contacts_now(service: Service, tmp_path: Path, *changed: str) -> None:
    """The MIS's contacts re-imported now, with ``changed`` rows in place of the old ones."""
    by_contact = {row.split(",")[2]: row for row in CONTACTS}
    by_contact |= {row.split(",")[2]: row for row in changed}
    path = tmp_path / "contacts-now.csv"
    path.write_text(HEAD + "".join(r + "\n" for r in by_contact.values()), encoding="utf-8")
    at = service.now()
    service.store.import_contacts(read_contacts(path, {SCHOOL}, now=at), now=at, by="test")


def copies(service: Service, letter: int) -> dict[str, Any]:
    return {r.household: r for r in rows(service, letter=letter)}


def test_a_copy_to_a_contact_now_not_to_be_contacted_is_cancelled_when_queued_and_never_printed(
    service: Service, server: Server, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, BO_NOT_TO_BE_CONTACTED)
    queued = service.outbox.queue()
    assert (queued.email, queued.post, queued.cancelled) == (1, 0, 1)
    bo = copies(service, letter)["C2"]
    assert bo.status == "cancelled" and "may no longer be contacted" in bo.last_reply
    [body] = [b for k, b in records(service, letter) if k == "letter_queued" and b["outbox"] == bo.id]
    assert body["status"] == "cancelled" and "may no longer be contacted" in body["reason"]
    assert service.outbox.drain(sender(server)).sent == 1  # Ann's copy still goes
    assert server.mailbox.rcpt == [["ann@example.org"]]
    from escalation_flow.errors import InputError

    with pytest.raises(InputError, match="no letters for the post"):
        service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    assert copies(service, letter)["C2"].status == "cancelled"
    assert verify_store(service.store.engine).ok


@pytest.mark.parametrize("changed", [ANN_MOVED, ANN_NEW_EMAIL], ids=["address", "email"])
def test_a_copy_whose_household_moved_or_changed_email_is_held_for_readdressing_not_sent(
    service: Service, server: Server, tmp_path: Path, changed: str
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, changed)
    assert service.outbox.queue().needs_readdressing == 1
    ann = copies(service, letter)["C1"]
    assert ann.status == "needs_readdressing" and "prepare it again" in ann.last_reply
    assert service.outbox.drain(sender(server)).results == []
    assert server.mailbox.received == []
    [words] = [d.words for d in service.outbox.deliveries(letter) if d.to == "Ann Lee"]
    assert words.endswith("held, not sent (the household's names, postal address or emails "
                          "changed since the letter was prepared: prepare it again)")
    assert copies(service, letter)["C2"].status == "for_post"  # Bo's copy is as addressed
    assert verify_store(service.store.engine).ok


def test_contacts_changed_after_queueing_are_checked_again_just_before_each_send_and_print(
    service: Service, server: Server, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    assert service.outbox.queue().email == 1
    contacts_now(service, tmp_path, ANN_MOVED, BO_NOT_TO_BE_CONTACTED)
    done = service.outbox.drain(sender(server))
    assert (done.sent, done.set_aside) == (0, 1) and server.mailbox.received == []
    from escalation_flow.errors import InputError

    with pytest.raises(InputError, match="no letters for the post"):
        service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    now = copies(service, letter)
    assert (now["C1"].status, now["C2"].status) == ("needs_readdressing", "cancelled")
    kinds = [(k, b.get("status")) for k, b in records(service, letter)]
    assert ("letter_held", "needs_readdressing") in kinds and ("letter_cancelled", "cancelled") in kinds
    assert verify_store(service.store.engine).ok


def test_an_outbox_row_redirected_outside_the_service_is_refused_and_named_by_audit_verify(
    service: Service, server: Server
) -> None:
    letter = approve(service, "P1")
    service.outbox.queue()
    with service.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET emails = '[\"attacker@evil.example\"]' "
                             "WHERE channel = 'email'"))  # fmt: skip
        conn.execute(sa.text("UPDATE outbox SET postal_address = '99 Fake St' "
                             "WHERE channel = 'post'"))  # fmt: skip
    before = {(b.kind, b.message) for b in verify_store(service.store.engine).breaches}
    assert {k for k, _ in before} == {"outbox_edited"} and len(before) == 1  # one message, both rows
    assert len(verify_store(service.store.engine).breaches) == 2
    done = service.outbox.drain(sender(server))
    assert (done.sent, done.failed) == (0, 1) and server.mailbox.received == []
    ann = emailed(service, letter)
    assert ann.status == "failed" and ann.last_reply == "outbox row changed outside the service"
    from escalation_flow.errors import InputError

    with pytest.raises(InputError, match="no letters for the post"):
        service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    assert copies(service, letter)["C2"].status == "failed"
    named = {(b.where, b.kind) for b in verify_store(service.store.engine).breaches}
    assert named == {(f"outbox letter {letter} copy C1 ({SCHOOL}/P1)", "outbox_edited"),
                     (f"outbox letter {letter} copy C2 ({SCHOOL}/P1)", "outbox_edited")}  # fmt: skip


def test_an_outbox_row_added_deleted_or_put_back_in_the_queue_is_named_by_audit_verify(
    service: Service,
) -> None:
    letter = approve(service, "P1")
    service.outbox.queue()
    ann, bo = copies(service, letter)["C1"], copies(service, letter)["C2"]
    with service.store.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM outbox WHERE id = {bo.id}"))
        conn.execute(sa.text(
            "INSERT INTO outbox (letter_id, household, channel, status, names, emails, "
            "postal_address, message_id, attempts, queued_at) SELECT letter_id, 'X9', channel, "
            f"'queued', names, '[\"x@evil.example\"]', '', 'm', 0, queued_at FROM outbox WHERE id = {ann.id}"
        ))  # fmt: skip
        conn.execute(sa.text(f"UPDATE outbox SET status = 'sent' WHERE id = {ann.id}"))
    found = {(b.where, b.kind, b.message) for b in verify_store(service.store.engine).breaches}
    copy = f"outbox letter {letter} copy"
    assert found == {
        (f"{copy} C2", "outbox_deleted", f"queued on case:{SCHOOL}/P1, gone from the outbox"),
        (f"{copy} X9 ({SCHOOL}/P1)", "outbox_added", "no record queued it"),
        (f"{copy} C1 ({SCHOOL}/P1)", "outbox_edited", "recorded as queued, now sent"),
    }


def test_a_printed_copy_is_not_printed_again_once_its_contact_may_no_longer_be_contacted(
    service: Service, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    service.outbox.queue()
    assert service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head").letters == 1
    contacts_now(service, tmp_path, BO_NOT_TO_BE_CONTACTED)
    from escalation_flow.errors import InputError

    with pytest.raises(InputError, match="no letters for the post"):
        service.outbox.print_day(SCHOOL, date(2025, 9, 12), by="s.head")
    assert copies(service, letter)["C2"].status == "printed"  # it was printed: that stays true
    assert verify_store(service.store.engine).ok
