"""The penalty-notice register in the store, on SQLite and PostgreSQL: versions read back as
written, a refusal writes nothing, and ``audit verify`` names a version edited or deleted after
it was written (each is chained on the school's chain)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.audit.store_check import verify_store
from escalation_flow.core.penalty_notices import (
    FIRST_NOTICE,
    Kind,
    NoticeDraft,
    NoticeVersion,
    Offence,
    Session,
    Status,
    as_known_at,
)
from escalation_flow.errors import ThirdNoticeError
from tests.adapters import test_store as base

blank, store, count = base.blank, base.store, base.count

NOW = datetime(2025, 10, 10, 17, tzinfo=UTC)
DRAFT = NoticeDraft(
    Kind.PENALTY_NOTICE, "oaks", "P1", "C1", Offence.LEAVE_IN_TERM_TIME,
    (Session(date(2025, 10, 6), "AM"), Session(date(2025, 10, 6), "PM")), date(2025, 10, 9),
)  # fmt: skip


def first(stored: list[NoticeVersion], number: int) -> NoticeVersion:
    return NoticeVersion(number, 1, DRAFT, ("G", "G"), Status.ISSUED, FIRST_NOTICE, "s.jones", NOW)


def test_versions_read_back_as_written_and_each_is_chained(store: Store) -> None:
    v1 = store.write_penalty_notice("oaks", first, NOW)
    paid = store.write_penalty_notice(
        "oaks", lambda s, _: replace(s[-1], version=2, status=Status.PAID, note="paid online"), NOW
    )
    assert store.penalty_notice_versions() == [v1, paid]
    assert store.penalty_notice_versions("pines") == []
    assert as_known_at(store.penalty_notice_versions()) == [paid]
    report = verify_store(store.engine)
    assert report.ok, report.summary()
    assert report.later_records == 2


def test_a_refused_notice_writes_nothing(store: Store) -> None:
    def refuse(stored: list[NoticeVersion], number: int) -> NoticeVersion:
        raise ThirdNoticeError("a third cannot be issued")

    with pytest.raises(ThirdNoticeError):
        store.write_penalty_notice("oaks", refuse, NOW)
    assert count(store, "penalty_notices") == 0 and count(store, "chain_records") == 0


def test_audit_verify_names_a_version_edited_or_deleted_after_it_was_written(store: Store) -> None:
    store.write_penalty_notice("oaks", first, NOW)
    store.write_penalty_notice("oaks", lambda s, n: replace(first(s, n), draft=replace(DRAFT, parent="C2")), NOW)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE penalty_notices SET status = 'withdrawn' WHERE notice = 1"))
        conn.execute(sa.text("DELETE FROM penalty_notices WHERE notice = 2"))
    kinds = {(b.where, b.kind) for b in verify_store(store.engine).breaches}
    assert kinds == {
        ("penalty notice 1 version 1 (oaks)", "penalty_notice_edited"),
        ("penalty notice 2 version 1", "penalty_notice_deleted"),
    }


def test_two_schools_recording_at_once_take_different_numbers(store: Store) -> None:
    """Numbers run across the trust: a writer at one school, inside its transaction after it
    read the highest number, must not let a writer at another school read the same one."""
    inside = threading.Event()

    def slow(school: str) -> Callable[[list[NoticeVersion], int], NoticeVersion]:
        def make(stored: list[NoticeVersion], number: int) -> NoticeVersion:
            inside.set()
            time.sleep(0.5)  # the other school's writer starts while this one holds its number
            return replace(first(stored, number), draft=replace(DRAFT, school=school))

        return make

    written: dict[str, NoticeVersion] = {}
    failed: list[BaseException] = []

    def record(school: str) -> None:
        try:
            written[school] = store.write_penalty_notice(school, slow(school), NOW)
        except BaseException as exc:  # reported below, in the test's thread
            failed.append(exc)

    oaks = threading.Thread(target=record, args=("oaks",))
    oaks.start()
    assert inside.wait(10)
    pines = threading.Thread(target=record, args=("pines",))
    pines.start()
    oaks.join()
    pines.join()
    assert failed == []
    assert sorted(v.notice for v in written.values()) == [1, 2]
    assert {(v.notice, v.draft.school) for v in store.penalty_notice_versions()} == {
        (v.notice, school) for school, v in written.items()
    }
    assert verify_store(store.engine).ok
