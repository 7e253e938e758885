"""``letters send|outbox|print`` and the daemon's outbox, as an attendance team runs them, with
the SMTP settings from the environment and a real server (aiosmtpd, STARTTLS, AUTH); and a
daemon that dies mid-outbox and is started again: each letter emailed once, none lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.delivery import SENDING_LEASE
from escalation_flow.sending import LetterSender
from escalation_flow.service import Service
from escalation_flow.settings import Settings
from tests.adapters.test_letter_outbox import FROM, Crash, Dying, approve, import_contacts
from tests.daemon_builders import SCHOOL, built_state, clone, evening_clock, write_trust
from tests.smtp_server import PASSWORD, USER, Server, smtp_server
from tests.staff_builders import add_staff

pytestmark = pytest.mark.needs_program("openssl")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # the contacts are known before the first day, so each letter is prepared to its households
    yield from built_state("sqlite", tmp_path_factory.mktemp("outbox-cli"), import_contacts)


@dataclass
class World:
    url: str
    clock: SimulatedClock
    env: dict[str, str]
    server: Server
    trust: Path


@pytest.fixture
def world(template: str, tmp_path: Path) -> Iterator[World]:
    with smtp_server(tmp_path) as server:
        for url in clone(template, tmp_path):
            add_staff(url, "s.head")
            trust = write_trust(tmp_path / "trust")
            env = {
                "ESCALATION_FLOW_DATABASE_URL": url,
                "ESCALATION_FLOW_TRUST_FILE": str(trust),
                "ESCALATION_FLOW_INBOX_DIR": str(tmp_path / "inbox"),
                "ESCALATION_FLOW_LOG_FORMAT": "json",
                "ESCALATION_FLOW_SMTP_HOST": server.host,
                "ESCALATION_FLOW_SMTP_PORT": str(server.port),
                "ESCALATION_FLOW_SMTP_USERNAME": USER,
                "ESCALATION_FLOW_SMTP_PASSWORD": PASSWORD,
                "ESCALATION_FLOW_SMTP_FROM": FROM,
                "ESCALATION_FLOW_SMTP_CA_FILE": str(server.cert),
                "ESCALATION_FLOW_SMTP_TIMEOUT": "5",
            }
            w = World(url, evening_clock(), env, server, trust)
            with service(w) as s:
                approve(s, "P1"), approve(s, "P2")
            yield w


def run(w: World, *args: str, root: Root | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=w.env, obj=root or Root(w.clock))


class service:  # noqa: N801 (a context manager read as a noun)
    def __init__(self, w: World) -> None:
        self.w = w

    def __enter__(self) -> Service:
        self.store = Store(self.w.url)
        return Service(self.store, load_trust(self.w.trust), self.w.clock, worker="test")

    def __exit__(self, *exc: object) -> None:
        self.store.dispose()


def test_letters_send_emails_the_approved_letters_and_the_outbox_and_print_show_the_rest(
    world: World, tmp_path: Path
) -> None:
    sent = run(world, "letters", "send")
    assert sent.exit_code == 0, sent.output
    assert "queued 2 approved letter(s): 2 by email, 1 for the post" in sent.output
    assert "emailed 2; to retry 0; failed for good 0" in sent.output
    assert sorted(r[0] for r in world.server.mailbox.rcpt) == ["ann@example.org", "cy@example.org"]

    listed = run(world, "letters", "outbox")
    assert listed.exit_code == 0
    assert listed.output.count(": sent (250 accepted)") == 2 and "[post] to 9 Elm Road: for_post" in listed.output

    as_json = [json.loads(line) for line in run(world, "letters", "outbox", "--json").output.splitlines()]
    assert sorted((r["channel"], r["status"], r["names"]) for r in as_json) == [
        ("email", "sent", ["Ann Lee"]), ("email", "sent", ["Cy Fox"]), ("post", "for_post", ["Bo Lee"]),
    ]  # fmt: skip

    out = tmp_path / "post.pdf"
    printed = run(world, "letters", "print", "--school", SCHOOL, "--date", "2025-09-12",
                  "--out", str(out), "--by", "s.head")  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert out.read_bytes().startswith(b"%PDF") and "1 letter(s) for the post" in printed.output
    refused = run(world, "letters", "print", "--school", SCHOOL, "--date", "2025-09-12",
                  "--out", str(out), "--by", "auto")  # fmt: skip
    assert refused.exit_code != 0 and "named member of staff" in refused.output


def test_without_an_smtp_server_every_copy_is_for_the_post_and_nothing_waits_for_email(
    world: World,
) -> None:
    env = {k: v for k, v in world.env.items() if not k.startswith("ESCALATION_FLOW_SMTP_")}
    result = CliRunner().invoke(main, ["letters", "send"], env=env, obj=Root(world.clock))
    assert result.exit_code == 2 and "no SMTP server configured" in result.output
    assert "letters print" in result.output
    assert "the outbox is empty" in run(world, "letters", "outbox", "--status", "queued").output
    assert run(world, "letters", "outbox", "--status", "for_post").output.count("[post]") == 3
    assert world.server.mailbox.received == []


@dataclass(frozen=True)
class DyingRoot(Root):
    """The composition root, its sender dying at the second letter (the process killed)."""

    def letter_sender(self, settings: Settings | None = None) -> LetterSender | None:
        real = super().letter_sender(settings)
        assert real is not None
        return Dying(real, at=2, after_accepted=False)  # type: ignore[arg-type]


def test_a_daemon_killed_mid_outbox_and_started_again_emails_each_letter_once(
    world: World,
) -> None:
    with pytest.raises(Crash):
        run(world, "daemon", "--once", root=DyingRoot(world.clock))
    assert len(world.server.mailbox.received) == 1
    again = run(world, "daemon", "--once")
    assert again.exit_code == 0, again.output
    assert len(world.server.mailbox.received) == 1  # the claim of the dead one still stands
    world.clock.advance(SENDING_LEASE + timedelta(seconds=1))
    assert run(world, "daemon", "--once").exit_code == 0
    ids = world.server.mailbox.message_ids
    assert len(ids) == 2 and len(set(ids)) == 2
    assert run(world, "letters", "outbox", "--status", "sent").output.count("[email]") == 2


def test_letters_send_says_which_copies_were_held_or_cancelled_because_the_contacts_changed(
    world: World, tmp_path: Path
) -> None:
    from tests.adapters.test_letter_outbox import ANN_MOVED, BO_NOT_TO_BE_CONTACTED, contacts_now

    with service(world) as s:
        contacts_now(s, tmp_path, ANN_MOVED, BO_NOT_TO_BE_CONTACTED)
    sent = run(world, "letters", "send")
    assert sent.exit_code == 0, sent.output
    assert "1 by email, 0 for the post" in sent.output  # Cy's: her contacts are as they were
    assert "1 cancelled" in sent.output and "1 held: contacts changed since the letter was " \
        "prepared, prepare it again" in sent.output
    assert [r[0] for r in world.server.mailbox.rcpt] == ["cy@example.org"]
    held = run(world, "letters", "outbox", "--status", "needs_readdressing").output
    assert "[email] to ann@example.org: needs_readdressing (the household's names" in held
