"""``letters readdress``: a held letter prepared again from the corrected contacts, by a leader,
saying what changed; nothing sent by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adapters.test_letter_outbox import ANN_MOVED, contacts_now
from tests.e2e.test_outbox_cli import World, run, service, template, world

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
