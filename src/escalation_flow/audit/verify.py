"""Tamper evidence: check every case's hash chain and every seal over the marks.

A case's history records are chained (``adapters.store.history``): each record's hash covers its
content and the previous record's hash, and the case row holds the head. So:

- a record whose content was **edited** no longer gives its own hash;
- a record **deleted** leaves a gap in the ``seq`` numbers (or, at the end, a case row that
  counts more records than there are);
- records **reordered** (their ``seq`` swapped) each give their hash only at the ``seq`` they
  were written at, which names where each came from;
- a record **replaced** whole, its hash recomputed, breaks the link from the record after it.

Marks are sealed per import (``adapters.store.audit_models``): a sealed import whose rows no
longer give its digest has had a row edited, deleted or added, and its fingerprints name the row.

Pure: the rows come in, the problems go out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from escalation_flow.adapters.store.seals import (  # the seal format is the store's
    MarkRow,
    Seal,
    blob_format,
    cell_fingerprints,
    mark_digest,
    row_fingerprints,
    sealed_fingerprints,
)
from escalation_flow.core.case import Case
from escalation_flow.core.chain import GENESIS, ChainLink


@dataclass(frozen=True)
class Breach:
    """One thing in the store that is not as it was written."""

    where: str  # "school-01/P0003", "marks of school-01", "flow version 1a2b…"
    seq: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        at = f" record {self.seq}" if self.seq is not None else ""
        return f"{self.where}{at}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    cases: int = 0
    records: int = 0
    seals: int = 0
    marks: int = 0
    flow_versions: int = 0
    later_records: int = 0  # chain format 2: letters, completions, the audit log
    breaches: list[Breach] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    against: str | None = None  # when checked against a checkpoint: the instant it was made

    @property
    def ok(self) -> bool:
        return not self.breaches

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.breaches)} problem(s)"
        return (
            f"{verdict}: {self.cases} cases, {self.records} history records, "
            f"{self.later_records} later records, "
            f"{self.marks} marks under {self.seals} seals, {self.flow_versions} flow versions checked"
            + (f", against the checkpoint of {self.against}" if self.against else "")
        )


class StoredRecord(Protocol):
    """A ``case_events`` row as read back (``adapters.store.cases.HistoryRow``)."""

    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    def link(self, case: str) -> ChainLink: ...


# -- history chains --------------------------------------------------------------------------------


def check_chain(
    case: str, rows: Sequence[StoredRecord], *, length: int, head_hash: str
) -> list[Breach]:
    """Every way ``rows`` (one case's records, in ``seq`` order) differ from what was written."""
    out: list[Breach] = []
    by_seq = {r.seq: r for r in rows}
    intact = {r.seq: r.link(case).hash() == r.hash for r in rows}
    moved = _moved(case, rows, intact)
    for r in rows:
        if not intact[r.seq]:
            if r.seq in moved:
                out.append(
                    Breach(case, r.seq, "reordered",
                           f"this record was written as record {moved[r.seq]}")
                )  # fmt: skip
            else:
                nxt = by_seq.get(r.seq + 1)
                hash_too = nxt is not None and nxt.prev_hash != r.hash
                out.append(Breach(case, r.seq, "edited", _edited(hash_too)))
            continue
        previous = by_seq.get(r.seq - 1)
        expected_prev = GENESIS if r.seq == 1 else (previous.hash if previous else None)
        if previous is not None and intact[r.seq - 1] and r.prev_hash != expected_prev:
            out.append(
                Breach(case, r.seq - 1, "edited",
                       "replaced whole, its hash recomputed: the next record does not link to it")
            )  # fmt: skip
        if r.seq == 1 and r.prev_hash != GENESIS:
            out.append(Breach(case, 1, "edited", "the first record does not start the chain"))
    out += _gaps(case, rows, length, moved)
    last = rows[-1] if rows else None
    if last is not None and last.seq == length and intact[last.seq] and last.hash != head_hash:
        out.append(
            Breach(case, None, "case_row", "the case row's head hash is not its last record's")
        )
    return out


def _edited(hash_too: bool) -> str:
    if hash_too:
        return "its content and its hash were changed after it was written"
    return "its content was changed after it was written (it no longer gives its hash)"


def _moved(case: str, rows: Sequence[StoredRecord], intact: Mapping[int, bool]) -> dict[int, int]:
    """For records that fail their hash: the ``seq`` at which they would give it, if any."""
    broken = [r for r in rows if not intact[r.seq]]
    if not broken:
        return {}
    seqs = sorted({r.seq for r in rows} | set(range(1, max(r.seq for r in rows) + 1)))
    out = {}
    for r in broken:
        link = r.link(case)
        for seq in seqs:
            if seq != r.seq and _with_seq(link, seq).hash() == r.hash:
                out[r.seq] = seq
                break
    return out


def _with_seq(link: ChainLink, seq: int) -> ChainLink:
    values = dict(link.__dict__)
    values["seq"] = seq
    return ChainLink(**values)


def _gaps(
    case: str, rows: Sequence[StoredRecord], length: int, moved: Mapping[int, int]
) -> list[Breach]:
    present = {r.seq for r in rows}
    out = []
    top = max(present | {length})
    for seq in range(1, top + 1):
        if seq in present:
            continue
        kind, what = "deleted", "missing: deleted after it was written"
        if seq in moved.values():
            what = "missing from its place (the record written here now sits elsewhere)"
            kind = "reordered"
        if seq > max(present, default=0):
            what = f"missing: the case row counts {length} records; deleted from the end"
        out.append(Breach(case, seq, kind, what))
    for seq in sorted(present):
        if seq > length:
            out.append(
                Breach(case, seq, "inserted",
                       f"beyond the case row's {length} records: added outside the service")
            )  # fmt: skip
    return out


def check_case_row(case: str, row: Mapping[str, Any], folded: Case) -> list[Breach]:
    """The case row (a cache of the history) against the history folded."""
    expected = {
        "status": "open" if folded.is_open else "closed",
        "stage": folded.stage if folded.is_open else 0,
        "state": folded.state,
        "flow_version": folded.flow_version or row.get("flow_version"),
    }
    out = []
    for name, value in expected.items():
        if row.get(name) != value:
            out.append(
                Breach(case, None, "case_row",
                       f"{name} is {row.get(name)!r} but the history gives {value!r}")
            )  # fmt: skip
    return out


# -- marks -----------------------------------------------------------------------------------------


def check_seals(school: str, seals: Sequence[Seal]) -> list[Breach]:
    """The chain of a school's seals: none edited, deleted or reordered."""
    where = f"seals of {school}"
    out = []
    previous = GENESIS
    for expected_seq, seal in enumerate(seals, start=1):
        if seal.seq != expected_seq:
            out.append(Breach(where, expected_seq, "deleted", f"seal {expected_seq} is missing"))
        if seal.expected_hash() != seal.hash:
            out.append(Breach(where, seal.seq, "edited", f"the seal of import {seal.import_id}"))
        elif seal.prev_hash != previous:
            out.append(Breach(where, seal.seq, "edited", "does not link to the seal before it"))
        previous = seal.hash
    return out


def check_sealed_rows(
    school: str,
    seal: Seal,
    rows: Sequence[MarkRow],
    cells: Callable[[], Iterable[tuple[str, date, str]]],
) -> list[Breach]:
    """One sealed import's rows as stored now; ``cells()`` (every pupil, day and session a
    deleted row could have been) names the deleted ones."""
    if len(rows) == seal.rows and mark_digest(rows) == seal.digest:
        return []
    where = f"marks of {school}"
    fmt = blob_format(seal.fingerprints, seal.rows)
    sealed = sealed_fingerprints(seal.fingerprints, fmt)
    now = dict(zip(row_fingerprints(rows, fmt), rows, strict=True))
    added = [(fp, r) for fp, r in now.items() if fp not in sealed]
    gone = [fp for fp in sealed if fp not in now]
    gone_cells = {fp[:4] for fp in gone}
    out = []
    for fp, r in added:
        if fp[:4] in gone_cells:
            gone_cells.discard(fp[:4])
            what = (
                f"{r.describe()} (recorded {_micros_text(r.recorded_at)}) is not the row imported"
            )
            out.append(Breach(where, None, "mark_edited", f"import {seal.import_id}: {what}"))
        else:
            out.append(
                Breach(where, None, "mark_added",
                       f"import {seal.import_id}: {r.describe()} was not in the import")
            )  # fmt: skip
    every = list(cells()) if gone_cells else []
    names = dict(zip(cell_fingerprints(every, fmt), every, strict=True))
    for cell in sorted(gone_cells):
        named = names.get(cell)
        text = f"pupil {named[0]} {named[1].isoformat()} {named[2]}" if named else "a row"
        out.append(
            Breach(where, None, "mark_deleted",
                   f"import {seal.import_id}: {text}: a sealed row is gone")
        )  # fmt: skip
    if not out:  # a fingerprint collision, or the same row twice: the digest still tells
        out.append(Breach(where, None, "mark_edited", f"import {seal.import_id}: rows changed"))
    return out


def _micros_text(micros: int) -> str:
    from escalation_flow.core.marks import from_micros

    return from_micros(micros).isoformat()
