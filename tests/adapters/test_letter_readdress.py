"""A letter held ``needs_readdressing`` prepared again once the contacts are corrected
(``letters readdress``): its held copy takes its household as known now and waits in the
outbox again, the change is chained and checkable, and nothing is sent by it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.audit.store_check import verify_store
from escalation_flow.bootstrap import Root, page_backend
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from escalation_flow.errors import ActionError
from escalation_flow.service import Service
from escalation_flow.service.letter_readdress import readdress_desk
from escalation_flow.settings import Settings
from escalation_flow.web.app import create_app
from escalation_flow.web.passwords import hash_password
from escalation_flow.web.settings import WebSettings
from tests.adapters.test_letter_outbox import (
    ANN_MOVED,
    approve,
    clock,
    contacts_now,
    copies,
    records,
    sender,
    server,
    service,
    template,
    url,
)
from tests.daemon_builders import write_trust
from tests.e2e.web_client import login, token
from tests.e2e.web_world import PASSWORD
from tests.smtp_server import Server
from tests.staff_builders import add_staff

pytestmark = pytest.mark.needs_program("openssl")
__all__ = ["clock", "server", "service", "template", "url"]  # the outbox tests' fixtures


def test_a_held_copy_readdressed_takes_the_new_address_waits_and_then_goes(
    service: Service, server: Server, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, ANN_MOVED)
    assert service.outbox.queue().needs_readdressing == 1
    desk = readdress_desk(service)
    assert desk.held("oaks") == [letter]
    done = desk.readdress(letter, "s.head")
    assert done.lines() == [
        f"letter {letter} prepared again from the contacts as known now:",
        "  copy to Ann Lee: postal address 1 Oak Lane -> 7 Refuge Close",
    ]
    assert server.mailbox.received == []  # nothing is sent by it
    ann = copies(service, letter)["C1"]
    assert (ann.status, ann.postal_address, ann.last_reply) == ("queued", "7 Refuge Close", None)
    assert copies(service, letter)["C2"].status == "for_post"  # Bo's copy, as it was
    assert "7 Refuge Close" in service.letter(letter).html
    kinds = [k for k, _ in records(service, letter)]
    assert kinds[-1] == "letter_readdressed" and kinds.count("letter_prepared") == 2
    assert verify_store(service.store.engine).ok  # the new text and row are what is chained
    sent = service.outbox.drain(sender(server))
    assert sent.sent == 1 and [r[0] for r in server.mailbox.rcpt] == ["ann@example.org"]
    assert desk.held("oaks") == []


def test_a_letter_with_no_held_copy_is_not_prepared_again(service: Service) -> None:
    letter = approve(service, "P1")
    service.outbox.queue()
    before = service.letter(letter).html
    with pytest.raises(ActionError, match="has no copy held for readdressing"):
        readdress_desk(service).readdress(letter, "s.head")
    assert service.letter(letter).html == before


def test_the_letter_page_offers_a_leader_the_readdress_button_and_it_sends_nothing(
    service: Service, server: Server, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, ANN_MOVED)
    service.outbox.queue()
    staff = StaffStore(service.store.engine)
    now = datetime(2025, 9, 1, tzinfo=UTC)
    staff.add_staff(
        "head", "Sam Head", hash_password(PASSWORD), [Grant(Role.HEADTEACHER, "oaks")], now
    )
    staff.add_staff(
        "team", "Tea Mate", hash_password(PASSWORD), [Grant(Role.ATTENDANCE_TEAM, "oaks")], now
    )
    app = create_app(lambda: page_backend(service), WebSettings(today=date(2025, 9, 12)))  # type: ignore[arg-type]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert login(client, "team") == 303
        assert "Prepare again from the contacts" not in client.get(f"/letters/{letter}").text
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert login(client, "head") == 303
        page = client.get(f"/letters/{letter}")
        assert "Prepare again from the contacts as known now" in page.text
        done = client.post(f"/letters/{letter}/readdress", data={"csrf_token": token(page.text)})
        assert done.status_code == 303 and done.headers["location"].endswith("?readdressed=1")
        after = client.get(done.headers["location"]).text
        assert "Nothing was sent." in after and "Prepare again from the contacts" not in after
    assert copies(service, letter)["C1"].status == "queued"
    assert server.mailbox.received == []


def test_the_pages_service_readdresses_a_copy_for_the_post_when_no_smtp_server_is_set(
    service: Service, url: str, clock: SimulatedClock, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, ANN_MOVED)
    service.outbox.queue()
    add_staff(url, "s.head")
    trust = write_trust(tmp_path / "web-trust")
    settings = Settings(database_url=url, trust_file=trust, smtp_host=None)
    services, close = Root(clock).web_services(settings)
    try:
        readdress_desk(services()).readdress(letter, "s.head")
    finally:
        close()
    ann = copies(service, letter)["C1"]  # she has an email, but nothing could send it
    assert (ann.channel, ann.status, ann.postal_address) == ("post", "for_post", "7 Refuge Close")
