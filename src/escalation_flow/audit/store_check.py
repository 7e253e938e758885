"""``audit verify`` over a whole store: every case chain and case row, every seal over the marks,
every stored flow text, read through ``adapters.store.audit_store`` and checked by ``verify``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from escalation_flow.adapters.store import penalty_notices as notice_register
from escalation_flow.adapters.store import projection_reads
from escalation_flow.adapters.store import records as later
from escalation_flow.adapters.store.audit_store import (
    NO_SEAL,
    case_histories,
    flow_texts,
    import_counts,
    import_seals,
    load_seals,
    mark_rows,
    orphan_records,
)
from escalation_flow.adapters.store.cases import school_ids
from escalation_flow.adapters.store.erasure import RETENTION_CHAIN, Erasures, erasures
from escalation_flow.adapters.store.family_evenings import stored_evenings
from escalation_flow.adapters.store.outbox import stored_copies
from escalation_flow.adapters.store.projection_reads import TaskState, TimerState
from escalation_flow.adapters.store.seals import MarkRow
from escalation_flow.adapters.store.snapshots import case_from_json
from escalation_flow.audit.evening_check import check_family_evenings
from escalation_flow.audit.outbox_check import check_outbox
from escalation_flow.audit.record_check import (
    by_subject,
    check_audit_log,
    check_case_rows,
    check_letters,
    check_loose_tasks,
    check_penalty_notices,
    check_record_chain,
)
from escalation_flow.audit.retention_check import check_runs
from escalation_flow.audit.verify import (
    Breach,
    VerifyReport,
    check_case_row,
    check_chain,
    check_sealed_rows,
    check_seals,
)
from escalation_flow.core.case import Case, fold
from escalation_flow.errors import NotFoundError


def verify_store(engine: Engine, school: str | None = None) -> VerifyReport:
    """Check every case chain, case row, seal and stored flow text (of one school, or all)."""
    report = VerifyReport()
    with engine.connect() as conn:
        ids = school_ids(conn)
        if school is not None and school not in ids:
            raise NotFoundError(f"school {school!r} is not in the store")
        chosen = {school: ids[school]} if school else ids
        used_versions: set[str] = set()
        how = import_seals(conn)
        named: set[int] = set()
        erased = erasures(conn)  # what recorded retention runs took away, on purpose
        tasks = projection_reads.tasks_by_case(conn)
        timers = projection_reads.timers_by_case(conn)
        for key, school_id in sorted(chosen.items()):
            used_versions |= _verify_cases(conn, report, key, school_id, (tasks, timers))
            named |= _verify_marks(conn, report, key, school_id, how, erased)
        if school is None:  # an import may span schools: its count is checked whole
            _verify_import_counts(conn, report, named, erased)
        _verify_flows(conn, report, used_versions)
        _verify_later_records(conn, report, school, tasks, erased)
    report.breaches.sort(key=lambda b: (b.where, b.seq or 0, b.kind, b.message))
    return report


Rows = tuple[Mapping[int | None, list[TaskState]], Mapping[int, list[TimerState]]]


def _verify_cases(
    conn: Connection, report: VerifyReport, school: str, school_id: int, rows: Rows
) -> set[str]:
    versions: set[str] = set()
    tasks, timers = rows
    for row, records in case_histories(conn, school_id):
        name = f"{school}/{row['pupil']}"
        report.cases += 1
        report.records += len(records)
        broken = check_chain(name, records, length=row["length"], head_hash=row["head_hash"])
        report.breaches += broken
        versions |= {r.flow_version for r in records}
        try:
            folded = fold(school, row["pupil"], (r.decision() for r in records))
        except (ValueError, KeyError, TypeError) as exc:
            report.breaches.append(
                Breach(name, None, "unreadable", f"history does not fold: {exc}")
            )
            continue
        if not broken:  # a broken chain already says what is wrong; the fold of it would not
            report.breaches += check_case_row(name, dict(row), folded)
            report.breaches += _check_snapshot(name, row, folded)
            decisions = [r.decision() for r in records]
            report.breaches += check_case_rows(
                name, decisions, tasks.get(row["id"], []), timers.get(row["id"], [])
            )
    orphans = orphan_records(conn)
    if orphans:
        report.breaches.append(
            Breach(f"cases of {school}", None, "case_row", f"{orphans} records of no case")
        )
    return versions


def _check_snapshot(name: str, row: Mapping[str, Any], folded: Case) -> list[Breach]:
    """``cases.snapshot`` (the case the engine resumes from) against the fold of its history;
    a snapshot of another format (one the engine would not read) is no breach."""
    text = row.get("snapshot")
    if not text:
        return []
    try:
        stored = case_from_json(text, folded.school, folded.pupil)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return [Breach(name, None, "snapshot_edited", f"the snapshot does not read: {exc}")]
    if stored is None or stored == folded:
        return []
    wrong = sorted(
        f.name for f in fields(Case) if getattr(stored, f.name) != getattr(folded, f.name)
    )
    return [
        Breach(name, None, "snapshot_edited",
               f"the stored snapshot is not the fold of its history ({', '.join(wrong)})")
    ]  # fmt: skip


def _verify_marks(
    conn: Connection,
    report: VerifyReport,
    school: str,
    school_id: int,
    how: Mapping[int, str | None],
    erased: Erasures,
) -> set[int]:
    """Check a school's seals and sealed marks; the imports found changed. A seal a retention
    run took rows from is checked against the digest the run left (the run's re-seal)."""
    seals = load_seals(conn, school_id, school)
    report.breaches += check_seals(school, seals)
    rows = mark_rows(conn, school_id)
    report.seals += len(seals)
    report.marks += sum(len(v) for v in rows.values())
    sealed = {s.import_id for s in seals}
    named = set()
    for import_id in sorted(set(rows) - sealed):
        found = _unsealed(report, school, import_id, len(rows[import_id]), how)
        report.breaches += found
        named |= {import_id} if found else set()

    def cells() -> list[tuple[str, date, str]]:
        return _cells(rows.values())

    for seal in seals:
        retired = erased.seals.get((school, seal.import_id))
        if retired is not None:
            if seal.rows - retired.erased != retired.kept:
                report.breaches.append(
                    Breach(f"marks of {school}", None, "retention_run_invalid",
                           f"import {seal.import_id}: retention run {retired.run} says it kept "
                           f"{retired.kept} of {seal.rows} sealed rows, erasing {retired.erased}")
                )  # fmt: skip
            seal = dataclasses.replace(seal, rows=retired.kept, digest=retired.kept_sha256)
        found = check_sealed_rows(school, seal, rows.get(seal.import_id, []), cells)
        report.breaches += found
        named |= {seal.import_id} if found else set()
    return named


_HOW = {
    "sealed": "sealed at import",
    "sealed_later": "sealed by audit seal",
    "forced": "sealed by audit seal --force",
}


def _unsealed(
    report: VerifyReport, school: str, import_id: int, count: int, how: Mapping[int, str | None]
) -> list[Breach]:
    """Marks under no seal: a back-fill waiting for ``audit seal`` only when its import was
    recorded as imported --no-seal; otherwise their seal was deleted (or they were written
    outside an import), and sealing them now would seal whatever was changed."""
    where, recorded = f"marks of {school}", how.get(import_id, "")
    if recorded == NO_SEAL:
        report.warnings.append(
            f"{where}: import {import_id} ({count} rows, imported --no-seal) is not sealed "
            "yet: run `escalation-flow audit seal`"
        )
        return []
    if import_id not in how:
        what = "of no recorded import: added outside an import"
        return [Breach(where, None, "mark_added", f"import {import_id}: {count} rows {what}")]
    said = _HOW.get(recorded or "", "not recorded as imported --no-seal")
    what = f"its import was {said}: the seal was deleted"
    return [
        Breach(where, None, "seal_missing",
               f"import {import_id}: {count} rows under no seal, but {what}")
    ]  # fmt: skip


def _verify_import_counts(
    conn: Connection, report: VerifyReport, named: set[int], erased: Erasures
) -> None:
    """Every import of marks still holds the rows it recorded as new (marks are never deleted,
    and an import's rows are only ever its own): this names a school's marks deleted with their
    seal. Imports the seals already named are left to them."""
    for import_id, (imported, stored) in sorted(import_counts(conn).items()):
        if import_id in named:
            continue
        recorded = imported - erased.imports.get(import_id, 0)  # a run's erasures are no loss
        if stored < recorded:
            report.breaches.append(
                Breach(f"import {import_id}", None, "mark_deleted",
                       f"{recorded - stored} of the {recorded} marks it imported are gone")
            )  # fmt: skip
        elif stored > recorded:
            report.breaches.append(
                Breach(f"import {import_id}", None, "mark_added",
                       f"{stored - recorded} marks more than the {recorded} it imported")
            )  # fmt: skip


def _cells(groups: Iterable[list[MarkRow]]) -> list[tuple[str, date, str]]:
    """Every (pupil, day, session) a deleted row could have been: pupils and days seen."""
    pupils = sorted({r.pupil for g in groups for r in g})
    days = sorted({r.day for g in groups for r in g})
    return [(p, d, s) for p in pupils for d in days for s in ("AM", "PM")]


def _verify_flows(conn: Connection, report: VerifyReport, used: set[str]) -> None:
    texts = flow_texts(conn)
    report.flow_versions = len(texts)
    for version, text in sorted(texts.items()):
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != version:
            report.breaches.append(
                Breach(f"flow version {version[:12]}", None, "edited",
                       "the stored flow text does not hash to its version")
            )  # fmt: skip
    for version in sorted(used - set(texts)):
        report.warnings.append(
            f"flow version {version[:12]} is named by history records but its text is not "
            "stored: decisions under it cannot be replayed"
        )


def _verify_later_records(
    conn: Connection,
    report: VerifyReport,
    school: str | None,
    tasks: Mapping[int | None, list[TaskState]],
    erased: Erasures,
) -> None:
    """Chain format 2: each chain of later records, and the letters, tasks without a case and
    audit-log entries they record (of one school, or all). Letters a retention run erased
    (with their outbox copies) are expected gone: their records are not asked for rows."""

    def mine(chain: str) -> bool:
        return school is None or chain.startswith((f"case:{school}/", f"school:{school}"))

    chains = {k: v for k, v in later.all_records(conn).items() if mine(k)}
    for chain, rows in sorted(chains.items()):
        report.later_records += len(rows)
        report.breaches += check_record_chain(chain, rows)
    report.breaches += check_runs(chains.get(RETENTION_CHAIN, []))
    subjects = {
        k: v
        for k, v in by_subject(chains).items()
        if not (k[1].startswith("letter ") and int(k[1].split()[1]) in erased.letters)
    }
    all_tasks = {t.id: t for group in tasks.values() for t in group}
    letters = [x for x in projection_reads.letters(conn) if school is None or x.school == school]
    report.breaches += check_letters(letters, subjects, all_tasks, chains)
    loose = [t for t in tasks.get(None, []) if school is None or t.school == school]
    report.breaches += check_loose_tasks(loose, subjects)
    log = [
        r for r in projection_reads.audit_rows(conn) if school is None or r.get("school") == school
    ]
    report.breaches += check_audit_log(log, subjects)
    notices = {
        k: v for k, v in notice_register.stored_digests(conn).items() if school in (None, v[0])
    }
    report.breaches += check_penalty_notices(notices, subjects)
    evenings = [e for e in stored_evenings(conn) if school is None or e[0] == school]
    report.breaches += check_family_evenings(evenings, subjects)
    copies = [c for c in stored_copies(conn) if school is None or c.school == school]
    report.breaches += check_outbox(copies, subjects)
