"""``letters readdress``: a held letter prepared again from the corrected contacts, by a leader,
saying what changed; nothing sent by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from tests.adapters.test_letter_outbox import ANN_MOVED, contacts_now
from tests.daemon_builders import SCHOOL
from tests.e2e.test_outbox_cli import World, run, service, template, world
from tests.staff_builders import NO_LOGIN

pytestmark = pytest.mark.needs_program("openssl")
__all__ = ["template", "world"]  # the outbox commands' fixtures


def test_letters_readdress_all_prepares_the_held_letters_again_and_sends_nothing(
    world: World, tmp_path: Path
) -> None:
    with service(world) as s:
        contacts_now(s, tmp_path, ANN_MOVED)
    held = run(world, "letters", "send")
    assert "1 held" in held.output, held.output
    before = len(world.server.mailbox.received)
    done = run(world, "letters", "readdress", "--all", "--school", "oaks", "--by", "s.head")
    assert done.exit_code == 0, done.output
    assert "prepared again from the contacts as known now" in done.output
    assert "copy to Ann Lee: postal address 1 Oak Lane -> 7 Refuge Close" in done.output
    assert "nothing was sent" in done.output
    assert len(world.server.mailbox.received) == before
    again = run(world, "letters", "readdress", "--all", "--school", "oaks", "--by", "s.head")
    assert "no letter of oaks has a copy held for readdressing" in again.output


def test_letters_readdress_needs_a_letter_or_all_with_a_school(world: World) -> None:
    assert run(world, "letters", "readdress", "--by", "s.head").exit_code == 2
    assert run(world, "letters", "readdress", "--all", "--by", "s.head").exit_code == 2


def test_a_letter_readdressed_with_no_smtp_server_goes_for_the_post_and_is_printed(
    world: World, tmp_path: Path
) -> None:
    world.env = {k: v for k, v in world.env.items() if not k.startswith("ESCALATION_FLOW_SMTP_")}
    with service(world) as s:
        contacts_now(s, tmp_path, ANN_MOVED)
    assert "1 held" in run(world, "letters", "send").output  # refused: no server; queued
    done = run(world, "letters", "readdress", "--all", "--school", "oaks", "--by", "s.head")
    assert done.exit_code == 0, done.output
    ann = [r for r in _rows(world) if r["names"] == ["Ann Lee"]]
    assert [(r["channel"], r["status"]) for r in ann] == [("post", "for_post")]
    listed = run(world, "letters", "outbox", "--status", "for_post").output
    assert "[post] to 7 Refuge Close: for_post" in listed, listed  # its address, not her email
    out = tmp_path / "post.pdf"
    printed = run(world, "letters", "print", "--school", SCHOOL, "--date", "2025-09-12",
                  "--out", str(out), "--by", "s.head")  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert "3 letter(s) for the post" in printed.output  # Ann's, Bo's and Cy's copies
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "7 Refuge Close" in text


def test_a_member_of_staff_who_may_not_readdress_is_told_so_in_those_words(world: World) -> None:
    store = Store(world.url)  # the school's attendance team, not a leader: not the trust's
    try:
        grants = [Grant(Role.ATTENDANCE_TEAM, SCHOOL)]
        StaffStore(store.engine).add_staff("t.team", "Tea Mate", NO_LOGIN, grants, world.clock.now())
    finally:
        store.dispose()
    refused = run(world, "letters", "readdress", "1", "--by", "t.team")
    assert refused.exit_code != 0
    assert "t.team may not readdress letter 1" in refused.output, refused.output


def _rows(world: World) -> list[dict[str, Any]]:
    listed = run(world, "letters", "outbox", "--json").output.splitlines()
    return [json.loads(line) for line in listed]
