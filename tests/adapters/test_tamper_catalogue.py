"""The tamper catalogue: every kind of change someone with the database could make behind the
service's back, applied to a real database the service built (SQLite; PostgreSQL too when
``ESCALATION_FLOW_TEST_POSTGRES_URL`` is set), and what ``audit verify`` names without a
checkpoint and with one (``--against``) taken before the change.

A kind the tables alone cannot tell (a case deleted whole, a history's end cut off and its case
row fixed up, a letter's text or a task's completion rewritten) has no plain expectation: only
the checkpoint, kept outside the database, can name it."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_store import seal_imports
from escalation_flow.adapters.store.cases import history
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.audit.checkpoint import (
    _digest,
    check_against,
    checkpoint_text,
    make_checkpoint,
    read_checkpoint,
)
from escalation_flow.audit.store_check import verify_store
from escalation_flow.clock import SimulatedClock
from escalation_flow.errors import InputError
from escalation_flow.ports import AuditNote
from escalation_flow.service import Service
from tests.daemon_builders import LAST_DAY, SCHOOL, built_state, clone, local, write_trust

P1, P2 = f"{SCHOOL}/P1", f"{SCHOOL}/P2"
MARKS, SEALS = f"marks of {SCHOOL}", f"seals of {SCHOOL}"
Named = set[tuple[str, int | None, str]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The daemon's small trust after eight school days, its imports sealed, P1's letter
    approved and recorded sent; and a checkpoint of it all."""
    folder = tmp_path_factory.mktemp(f"tamper-{request.param}")
    for url in built_state(request.param, folder):
        store = Store(url)
        try:
            with store.engine.begin() as conn:
                seal_imports(conn, local(LAST_DAY, 20))
            clock = SimulatedClock(local(date(2025, 9, 15), 9))
            service = Service(store, load_trust(write_trust(folder / "trust")), clock)
            [letter] = [t for t in service.tasks(SCHOOL) if t.pupil == "P1" and t.letter_id]
            assert letter.letter_id is not None
            service.approve_letter(letter.letter_id, by="head.teacher")
            service.letter_pdf(letter.letter_id)  # rendered: its PDF's digest is chained
            note = AuditNote("s.jones", "task_done", "from the pages")
            service.complete_task(
                letter.id, "sent", by="s.jones", note="posted first class", at=clock.now(),
                audit=note,
            )  # fmt: skip
            [call] = [t for t in service.tasks(SCHOOL) if t.pupil == "P2" and t.case_id is None]
            service.complete_task(call.id, "no_answer", by="s.jones", note="left a message", audit=note)
            checkpoint = make_checkpoint(store.engine, clock.now())
        finally:
            store.dispose()
        yield url, checkpoint


@pytest.fixture
def db(template: tuple[str, dict[str, Any]], tmp_path: Path) -> Iterator[str]:
    yield from clone(template[0], tmp_path)


@pytest.fixture
def checkpoint(template: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return template[1]


# -- the kinds of tampering ------------------------------------------------------------------------


def p1(where: str = "") -> str:
    return f"case_id = (SELECT id FROM cases WHERE pupil = 'P1'){where}"


P1_LAST = f"(SELECT max(seq) FROM case_events WHERE {p1()})"
P1_MARK = "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')"


def rewrite_p1_record_2(url: str) -> None:
    """Record 2's actor changed and its hash recomputed, as a careful forger would."""
    with sa.create_engine(url).begin() as conn:
        case_id = conn.execute(sa.text("SELECT id FROM cases WHERE pupil = 'P1'")).scalar_one()
        forged = dataclasses.replace(history(conn, case_id)[1].link(P1), actor="someone")
    run_sql(url, f"UPDATE case_events SET actor = 'someone', hash = '{forged.hash()}' "
                 f"WHERE {p1(' AND seq = 2')}")  # fmt: skip


def delete_case(pupil: str) -> list[str]:
    case = f"(SELECT id FROM cases WHERE pupil = '{pupil}')"
    return [
        f"DELETE FROM letters WHERE case_id = {case}",
        f"DELETE FROM tasks WHERE case_id = {case}",
        f"DELETE FROM timers WHERE case_id = {case}",
        f"DELETE FROM case_events WHERE case_id = {case}",
        f"DELETE FROM cases WHERE id = {case}",
    ]


#: Foreign keys not checked for the rest of the transaction (PostgreSQL; a superuser can).
NO_KEYS = "SET LOCAL session_replication_role = replica"


LETTER2_EDITED = ("letter 2 (oaks/P1)", None, "letter_edited")


def edit_letter_2_pdf(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE letters SET pdf = :pdf WHERE id = 2"), {"pdf": b"%PDF-1.4"})
    finally:
        engine.dispose()


def forge_letter_record(url: str) -> None:
    """Letter 2's HTML edited and its ``letter_prepared`` record's digest rewritten to match."""
    from escalation_flow.core.chain import sha256_text

    with sa.create_engine(url).begin() as conn:
        html, body = conn.execute(
            sa.text("SELECT l.html, r.body FROM letters l, chain_records r WHERE l.id = 2 "
                    "AND r.subject = 'letter 2' AND r.kind = 'letter_prepared'")
        ).one()  # fmt: skip
    forged = json.loads(body) | {"html_sha256": sha256_text(html + " ")}
    run_sql(
        url, "UPDATE letters SET html = html || ' ' WHERE id = 2",
        "UPDATE chain_records SET body = '" + json.dumps(forged, sort_keys=True, separators=(",", ":"))
        + "' WHERE subject = 'letter 2' AND kind = 'letter_prepared'",
    )  # fmt: skip


def forge_erasure(html: str) -> Callable[[str], None]:
    """Letter 2 rewritten, and a ``letter_erased`` record forged onto its case's chain (linked
    and hashed as the service would) so that its text is no longer checked against its digest."""

    def change(url: str) -> None:
        from escalation_flow.adapters.store import records

        at = local(LAST_DAY, 22)
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                forged = records.letter_erased(f"case:{P1}", 2, "mallory", "cover", at)
                records.append(conn, [forged], at)
                conn.execute(sa.text("UPDATE letters SET html = :html WHERE id = 2"), {"html": html})
        finally:
            engine.dispose()

    return change


def edit_p1_snapshot(url: str) -> None:
    """P1's folded case (``cases.snapshot``, what the engine resumes from) moved to stage 4, its
    case row left as it was."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            text = conn.execute(sa.text("SELECT snapshot FROM cases WHERE pupil = 'P1'")).scalar_one()
            document = json.loads(text)
            document["stage"] = document["stage"] + 3
            conn.execute(
                sa.text("UPDATE cases SET snapshot = :s WHERE pupil = 'P1'"),
                {"s": json.dumps(document, separators=(",", ":"))},
            )
    finally:
        engine.dispose()


def p2_queued_then(*statements: str) -> Callable[[str], None]:
    """P2's letter approved and queued by the service (one copy: no contact is known), then
    ``statements`` run behind its back."""

    def change(url: str) -> None:
        store = Store(url)
        try:
            clock = SimulatedClock(local(date(2025, 9, 15), 10))
            trust = load_trust(write_trust(Path(tempfile.mkdtemp(prefix="tamper-trust-"))))
            service = Service(store, trust, clock)
            service.approve_letter(1, by="head.teacher")
            assert service.outbox.queue().letters == 1
        finally:
            store.dispose()
        run_sql(url, *statements)

    return change


OUTBOX_ROW = "outbox letter 1 copy with no contact (oaks/P2)"


@dataclasses.dataclass(frozen=True)
class Tamper:
    name: str
    change: list[str] | Callable[[str], None]
    plain: Named | None  # what verify names without a checkpoint (None: it cannot tell)
    against: Named  # what it names with the checkpoint taken before


# fmt: off
CATALOGUE = [
    Tamper(
        "a record's content edited",
        [f"UPDATE case_events SET type = 'stage_left' WHERE {p1(' AND seq = 2')}"],
        {(P1, 2, "edited")}, {(P1, 2, "edited")},
    ),
    Tamper(
        "a record rewritten with its hash recomputed", rewrite_p1_record_2,
        {(P1, 2, "edited")}, {(P1, 2, "edited")},
    ),
    Tamper(
        "a record deleted from the middle",
        [f"DELETE FROM case_events WHERE {p1(' AND seq = 2')}"],
        {(P1, 2, "deleted")}, {(P1, 2, "deleted")},
    ),
    Tamper(
        "the last record deleted",
        [f"DELETE FROM case_events WHERE {p1(f' AND seq = {P1_LAST}')}"],
        {(P1, 6, "deleted")}, {(P1, 6, "truncated")},
    ),
    Tamper(
        "the last record deleted, the case row's length and head fixed up",
        [
            f"DELETE FROM case_events WHERE {p1(f' AND seq = {P1_LAST}')}",
            f"UPDATE cases SET length = {P1_LAST}, head_hash = (SELECT hash FROM case_events "
            f"WHERE {p1(f' AND seq = {P1_LAST}')}) WHERE pupil = 'P1'",
        ],
        None, {(P1, 6, "truncated")},
    ),
    Tamper(
        "two records swapped",
        [
            f"UPDATE case_events SET seq = -1 WHERE {p1(' AND seq = 2')}",
            f"UPDATE case_events SET seq = 2 WHERE {p1(' AND seq = 3')}",
            f"UPDATE case_events SET seq = 3 WHERE {p1(' AND seq = -1')}",
        ],
        {(P1, 2, "reordered"), (P1, 3, "reordered")}, {(P1, 3, "reordered")},
    ),
    Tamper(
        "a record inserted beyond the case row's length",
        [
            "INSERT INTO case_events (case_id, seq, \"on\", at, type, body, flow_version, actor, "
            "recorded_at, prev_hash, hash) SELECT case_id, seq + 10, \"on\", at, type, body, "
            f"flow_version, actor, recorded_at, prev_hash, hash FROM case_events WHERE {p1()} "
            "AND seq = 1"
        ],
        {(P1, 11, "inserted")}, {(P1, 11, "inserted")},
    ),
    Tamper(
        "a case row's stage changed", ["UPDATE cases SET stage = 4 WHERE pupil = 'P1'"],
        {(P1, None, "case_row")}, {(P1, None, "case_row")},
    ),
    Tamper(
        "a case row's status changed", ["UPDATE cases SET status = 'closed' WHERE pupil = 'P1'"],
        {(P1, None, "case_row")}, {(P1, None, "case_row")},
    ),
    Tamper(
        "a case row's state changed",
        ["UPDATE cases SET state = 'stage_3.support' WHERE pupil = 'P1'"],
        {(P1, None, "case_row")}, {(P1, None, "case_row")},
    ),
    Tamper(
        "a case row's head hash changed",
        [f"UPDATE cases SET head_hash = '{'0' * 64}' WHERE pupil = 'P1'"],
        {(P1, None, "case_row")}, {(P1, None, "case_row")},
    ),
    Tamper(
        "a whole case deleted with its events, tasks, timers and letters", delete_case("P2"),
        None,
        {
            (P2, None, "case_deleted"),
            ("task 1 (oaks/P2)", None, "task_deleted"),
            ("letter 1 (oaks/P2)", None, "letter_deleted"),
        },
    ),
    Tamper(
        "a case row deleted, its records left",
        [NO_KEYS, "DELETE FROM cases WHERE pupil = 'P2'"],
        {(f"cases of {SCHOOL}", None, "case_row")}, {(P2, None, "case_deleted")},
    ),
    Tamper(
        "a mark edited",
        [f"UPDATE marks SET code = '/' WHERE date = '2025-09-10' AND session = 'AM' {P1_MARK}"],
        {(MARKS, None, "mark_edited")}, {(MARKS, None, "mark_edited")},
    ),
    Tamper(
        "a mark deleted",
        [f"DELETE FROM marks WHERE date = '2025-09-12' AND session = 'AM' {P1_MARK}"],
        {(MARKS, None, "mark_deleted")}, {(MARKS, None, "mark_deleted")},
    ),
    Tamper(
        "a mark's MIS user changed",
        [f"UPDATE marks SET recorded_by = 'mallory' WHERE date = '2025-09-10' {P1_MARK}"],
        {(MARKS, None, "mark_edited")}, {(MARKS, None, "mark_edited")},
    ),
    Tamper(
        "a seal deleted and a mark edited",
        [
            "DELETE FROM mark_seals WHERE seq = 8",
            f"UPDATE marks SET code = 'O' WHERE date = '2025-09-12' AND session = 'PM' {P1_MARK}",
        ],
        {(MARKS, None, "seal_missing")}, {(MARKS, None, "seal_missing"), (SEALS, 8, "seal_changed")},
    ),
    Tamper(
        "a seal's digest edited", [f"UPDATE mark_seals SET digest = '{'1' * 64}' WHERE seq = 3"],
        {(SEALS, 3, "edited")}, {(SEALS, 3, "edited")},
    ),
    Tamper(
        "all of a school's marks deleted with its seals",
        ["DELETE FROM mark_seals", "DELETE FROM marks"],
        # imports 2 to 9: the roster is import 1
        {("import 2", None, "mark_deleted"), ("import 9", None, "mark_deleted")},
        {(MARKS, None, "marks_deleted"), (SEALS, 1, "seal_changed")},
    ),
    Tamper(
        "a stored flow text edited", ["UPDATE flow_versions SET yaml = yaml || '# changed'"],
        {("flow version 622121148a8a", None, "edited")},
        {("flow version 622121148a8a", None, "edited")},
    ),
    # chain format 2: what was written beside the history is checked against it, without a
    # checkpoint too
    Tamper(
        "a letter's HTML edited", ["UPDATE letters SET html = html || ' ' WHERE id = 2"],
        {LETTER2_EDITED}, {LETTER2_EDITED},
    ),
    Tamper(
        "a letter's PDF edited", edit_letter_2_pdf,
        {LETTER2_EDITED}, {LETTER2_EDITED},
    ),
    Tamper(
        "a letter's HTML edited and its record rewritten", forge_letter_record,
        {(f"records of case:{P1}", 1, "record_edited")},
        {(f"records of case:{P1}", 1, "record_edited")},
    ),
    Tamper(
        "who approved a letter edited",
        ["UPDATE letters SET approved_by = 'mallory' WHERE id = 2"],
        {("letter 2 (oaks/P1)", None, "letter_approval_edited")},
        {("letter 2 (oaks/P1)", None, "letter_approval_edited")},
    ),
    Tamper(
        "who sent a letter edited", ["UPDATE letters SET sent_by = 'mallory' WHERE id = 2"],
        {("letter 2 (oaks/P1)", None, "letter_approval_edited")},
        {("letter 2 (oaks/P1)", None, "letter_approval_edited")},
    ),
    Tamper(
        "a letter deleted", ["DELETE FROM letters WHERE id = 2"],
        {("letter 2 (oaks/P1)", None, "letter_deleted")},
        {("letter 2 (oaks/P1)", None, "letter_deleted")},
    ),
    Tamper(
        "a task's completed_by edited",
        ["UPDATE tasks SET completed_by = 'mallory' WHERE id = 3"],
        {(P1, None, "task_edited")}, {("task 3 (oaks/P1)", None, "task_edited")},
    ),
    Tamper(
        "a task's outcome edited", ["UPDATE tasks SET outcome = 'not_sent' WHERE id = 3"],
        {(P1, None, "task_edited")}, {("task 3 (oaks/P1)", None, "task_edited")},
    ),
    Tamper(
        "a task's note edited", ["UPDATE tasks SET note = 'never posted' WHERE id = 3"],
        {(P1, None, "task_edited")}, {(P1, None, "task_edited")},
    ),
    Tamper(
        "a task without a case: completed_by edited",
        ["UPDATE tasks SET completed_by = 'mallory' WHERE id = 4"],
        {("task 4 (oaks/P2)", None, "task_edited")}, {("task 4 (oaks/P2)", None, "task_edited")},
    ),
    Tamper(
        "a task without a case: note edited", ["UPDATE tasks SET note = 'no answer' WHERE id = 4"],
        {("task 4 (oaks/P2)", None, "task_edited")}, {("task 4 (oaks/P2)", None, "task_edited")},
    ),
    Tamper(
        "a letter rewritten under a forged erasure record", forge_erasure("<p>Forged.</p>"),
        {LETTER2_EDITED}, {LETTER2_EDITED},
    ),
    Tamper(
        "a forged erasure record keeping the letter's PDF",
        forge_erasure("<p>This letter's text was erased (data protection); its digest stays in "
                      "the history.</p>"),
        {LETTER2_EDITED}, {LETTER2_EDITED},
    ),
    Tamper(
        "a case's snapshot edited", edit_p1_snapshot,
        {(P1, None, "snapshot_edited")}, {(P1, None, "snapshot_edited")},
    ),
    Tamper(
        "a task's role edited", ["UPDATE tasks SET role = 'mallory' WHERE id = 3"],
        {(P1, None, "task_edited")}, {(P1, None, "task_edited")},
    ),
    Tamper(
        "a task's approval turned off", ["UPDATE tasks SET approval = (1 = 0) WHERE id = 3"],
        {(P1, None, "task_edited")}, {(P1, None, "task_edited")},
    ),
    Tamper(
        "an open task's due day edited",
        ["UPDATE tasks SET due = '2025-12-25' WHERE id = (SELECT max(id) FROM tasks "
         "WHERE case_id IS NOT NULL AND status = 'open')"],
        {(P1, None, "task_edited")}, {(P1, None, "task_edited")},
    ),
    Tamper(
        "an open task set to lapsed",
        ["UPDATE tasks SET status = 'lapsed' WHERE id = (SELECT max(id) FROM tasks "
         "WHERE case_id IS NOT NULL AND status = 'open')"],
        {(P1, None, "task_edited")}, {(P1, None, "task_edited")},
    ),
    Tamper(
        "an audit-log entry edited", ["UPDATE audit_log SET actor = 'mallory' WHERE id = 1"],
        {("audit log entry 1", None, "audit_edited")},
        {("audit log entry 1", None, "audit_edited")},
    ),
    Tamper(
        "an audit-log entry deleted", ["DELETE FROM audit_log WHERE id = 2"],
        {("audit log entry 2", None, "audit_deleted")},
        {("audit log entry 2", None, "audit_deleted")},
    ),
    Tamper(
        "an audit-log entry deleted with its record",
        ["DELETE FROM audit_log WHERE id = 2",
         "DELETE FROM chain_records WHERE subject = 'audit 2'"],
        None, {(f"records of school:{SCHOOL}", 3, "truncated")},
    ),
    Tamper(
        "an outbox row's recipients redirected",
        p2_queued_then("UPDATE outbox SET emails = '[\"attacker@evil.example\"]', "
                       "channel = 'email', status = 'queued'"),
        {(OUTBOX_ROW, None, "outbox_edited")}, {(OUTBOX_ROW, None, "outbox_edited")},
    ),
    Tamper(
        "an outbox row's state changed", p2_queued_then("UPDATE outbox SET status = 'sent'"),
        {(OUTBOX_ROW, None, "outbox_edited")}, {(OUTBOX_ROW, None, "outbox_edited")},
    ),
    Tamper(
        "an outbox row deleted", p2_queued_then("DELETE FROM outbox"),
        {("outbox letter 1 copy with no contact", None, "outbox_deleted")},
        {("outbox letter 1 copy with no contact", None, "outbox_deleted")},
    ),
    Tamper(
        "an outbox row added",
        ["INSERT INTO outbox (id, letter_id, household, channel, status, names, emails, "
         "postal_address, message_id, attempts, queued_at) SELECT 7, id, 'X1', 'email', "
         "'queued', '[]', '[\"attacker@evil.example\"]', '', 'm', 0, prepared_at FROM letters "
         "WHERE id = 1"],
        {("outbox letter 1 copy X1 (oaks/P2)", None, "outbox_added")},
        {("outbox letter 1 copy X1 (oaks/P2)", None, "outbox_added")},
    ),
]
# fmt: on


def run_sql(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                if statement == NO_KEYS and conn.dialect.name == "sqlite":
                    continue  # SQLite checks no foreign keys unless asked to
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def named(url: str, checkpoint: dict[str, Any] | None) -> Named:
    store = Store(url)
    try:
        report = verify_store(store.engine)
        breaches = report.breaches
        if checkpoint is not None:
            breaches = breaches + check_against(store.engine, checkpoint)
    finally:
        store.dispose()
    return {(b.where, b.seq, b.kind) for b in breaches}


def test_the_untouched_store_verifies_with_and_without_its_checkpoint(
    db: str, checkpoint: dict[str, Any]
) -> None:
    assert named(db, None) == set()
    assert named(db, checkpoint) == set()


@pytest.mark.parametrize("kind", CATALOGUE, ids=[t.name for t in CATALOGUE])
def test_each_kind_of_tampering_is_named(db: str, checkpoint: dict[str, Any], kind: Tamper) -> None:
    if callable(kind.change):
        kind.change(db)
    else:
        run_sql(db, *kind.change)
    if kind.plain is not None:
        found = named(db, None)
        assert kind.plain <= found, found
    found = named(db, checkpoint)
    assert kind.against <= found, found


# -- the checkpoint file itself --------------------------------------------------------------------


def test_a_checkpoint_of_an_unknown_format_is_refused(
    checkpoint: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoint | {"format": 4}), encoding="utf-8")
    with pytest.raises(InputError, match="checkpoint format 4 is not one this version reads"):
        read_checkpoint(path)
    path.write_text(json.dumps(checkpoint | {"chain_format": 9}), encoding="utf-8")
    with pytest.raises(InputError, match="chain records of format 9; this version knows format"):
        read_checkpoint(path)


def test_a_checkpoint_read_back_is_the_one_written_and_an_edit_is_refused(
    checkpoint: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "cp.json"
    path.write_text(checkpoint_text(checkpoint), encoding="utf-8")
    assert read_checkpoint(path) | {"sha256": checkpoint["sha256"]} == checkpoint
    edited = checkpoint | {"tasks": {}}
    path.write_text(checkpoint_text(edited), encoding="utf-8")
    with pytest.raises(InputError, match="does not give its own sha256"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "change",
    [
        {"tasks": None},
        {"cases": "x"},
        {"cases": [{"school": "s", "pupil": "p", "length": 10**30, "head": "h"}]},
        {"letters": {"one": ["s/p"]}},
        {"tasks": {"1": ["x"]}},
        {"schools": {"school-01": {}}},
        {"schools": {"school-01": {"seals": [1], "marks": 3}}},
        {"letters": {"1": ["s/p"]}},
    ],
)
def test_a_re_hashed_checkpoint_of_the_wrong_shape_is_refused_not_a_traceback(
    checkpoint: dict[str, Any], change: dict[str, Any], tmp_path: Path
) -> None:
    """The digest is unkeyed: anyone can recompute it over a hand-made file, so the contents are
    checked too."""
    body = {k: v for k, v in (checkpoint | change).items() if k != "sha256"}
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(body | {"sha256": _digest(body)}), encoding="utf-8")
    with pytest.raises(InputError, match="not a checkpoint this version wrote"):
        read_checkpoint(path)


# -- timers (the catalogue's small trust has none pending: a burst of review timers has) -------------


@pytest.mark.parametrize(
    "change, kind",
    [
        ("UPDATE timers SET fire_at = fire_at + 86400000000 WHERE id = 1", "timer_edited"),
        ("UPDATE timers SET status = 'cancelled' WHERE id = 2", "timer_edited"),
        ("DELETE FROM timers WHERE id = 3", "timer_deleted"),
    ],
)
def test_a_timer_edited_behind_the_service_is_named(tmp_path: Path, change: str, kind: str) -> None:
    from tests.burst_builders import build_burst

    url = f"sqlite:///{tmp_path / 'burst.sqlite'}"
    build_burst(url, tmp_path, 3)
    assert named(url, None) == set()
    run_sql(url, change)
    assert {k for _, _, k in named(url, None)} == {kind}


# -- erasure: the chains hash digests, never a letter's text -----------------------------------------


def test_a_letter_erased_for_data_protection_leaves_every_chain_verifiable(
    db: str, checkpoint: dict[str, Any]
) -> None:
    from escalation_flow.adapters.store.desk import ERASED, erase_letter

    store = Store(db)
    try:
        with store.engine.begin() as conn:
            text = conn.execute(sa.text("SELECT html FROM letters WHERE id = 2")).scalar_one()
            assert erase_letter(conn, 2, "s.jones", "subject access: erasure request", local(LAST_DAY, 21))
        with store.engine.connect() as conn:
            html, pdf = conn.execute(sa.text("SELECT html, pdf FROM letters WHERE id = 2")).one()
            kept = " ".join(conn.execute(sa.text("SELECT body FROM chain_records")).scalars())
            history_text = " ".join(conn.execute(sa.text("SELECT body FROM case_events")).scalars())
    finally:
        store.dispose()
    assert html == ERASED and pdf is None
    pupil_words = [w for w in ("Dear", "attendance") if w in text]
    assert pupil_words and not any(w in kept or w in history_text for w in ("Dear",))
    assert named(db, None) == set()
    assert named(db, checkpoint) == set()


@pytest.mark.parametrize(
    "change, entry",
    [({"tasks": {"1": ["x"]}}, "'tasks' entry '1'"), ({"schools": {"oaks": {}}}, "'oaks'")],
)
def test_a_re_hashed_checkpoint_names_its_bad_entry_and_the_cli_exits_2(
    checkpoint: dict[str, Any], change: dict[str, Any], entry: str, tmp_path: Path
) -> None:
    body = {k: v for k, v in (checkpoint | change).items() if k != "sha256"}
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(body | {"sha256": _digest(body)}), encoding="utf-8")
    with pytest.raises(InputError, match=str(path)) as raised:
        read_checkpoint(path)
    assert entry in str(raised.value)
    assert raised.value.exit_code == 2


def test_an_erased_letter_is_refused_a_second_erasure_an_empty_reason_and_approval(
    db: str,
) -> None:
    from escalation_flow.adapters.store.desk import approve_letter, erase_letter
    from escalation_flow.errors import ConflictError

    at = local(LAST_DAY, 21)
    store = Store(db)
    try:
        with store.engine.begin() as conn:
            prepared = conn.execute(
                sa.text("SELECT min(id) FROM letters WHERE status = 'prepared'")
            ).scalar_one()
            assert prepared is not None
            with pytest.raises(InputError, match="needs its reason"):
                erase_letter(conn, prepared, "s.jones", "  ", at)
            assert erase_letter(conn, prepared, "s.jones", "erasure request", at)
            with pytest.raises(ConflictError, match="erased already"):
                erase_letter(conn, prepared, "s.jones", "erasure request", at)
            assert not approve_letter(conn, prepared, "head.teacher", at)
            status = conn.execute(
                sa.text("SELECT status FROM letters WHERE id = :i"), {"i": prepared}
            ).scalar_one()
    finally:
        store.dispose()
    assert status == "erased"
    assert named(db, None) == set()


def test_a_snapshot_of_another_format_is_no_breach(db: str) -> None:
    """The engine folds the history instead of reading such a snapshot: nothing is hidden."""
    run_sql(db, "UPDATE cases SET snapshot = replace(snapshot, '\"_v\":\"', '\"_v\":\"old-')")
    assert named(db, None) == set()
