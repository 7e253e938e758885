"""Seals over imported marks: the format the store writes and ``audit verify`` checks.

An import's rows are sealed per school: a digest of the rows' texts, a 4+4-byte fingerprint per
row (cell and text, to name a row edited, deleted or added), and a hash chaining each seal to the
one before it (as ``history`` chains a case's records). Pure: no database here.

Format 1 fingerprinted each row with two SHA-256 (``fingerprint``); format 2 (written since issue
13) mixes SHA-256s of the distinct field values in columns (``seal_columns``). The digest and the
seal's hash are the same in both. A seal's own blob says its format, so both verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from escalation_flow.adapters.store import seal_columns
from escalation_flow.adapters.store.seal_columns import Field, SealColumns
from escalation_flow.core.chain import canonical_json, instant_text

#: The version of the seal format: ``MarkRow.text``, the digest, the 4+4-byte fingerprints and
#: the seal's hashed document. Seals already written keep their hash, so a change is a new
#: version, and a checkpoint names the one it saw. Seals are written in this format.
SEAL_FORMAT = 2
#: Every format ``audit verify`` reads: 1 (before issue 13) and 2 (fingerprints from columns).
SEAL_FORMATS = (1, 2)


@dataclass(frozen=True)
class MarkRow:
    """One stored mark version, as sealed."""

    pupil: str
    day: date
    session: str
    code: str
    recorded_at: int  # UTC microseconds
    minutes_late: int | None
    imported_at: int  # UTC microseconds
    recorded_by: str | None = None  # the MIS user, where the file said

    def text(self) -> str:
        late = "" if self.minutes_late is None else str(self.minutes_late)
        text = "|".join(
            (self.pupil, self.day.isoformat(), self.session, self.code, str(self.recorded_at),
             late, str(self.imported_at))
        )  # fmt: skip
        # Only when named: a row without a name gives the text it gave before names were kept,
        # so seals made then still verify. Last, after a fixed number of fields: unambiguous.
        return text if self.recorded_by is None else f"{text}|by={self.recorded_by}"

    def cell(self) -> str:
        return f"{self.pupil}|{self.day.isoformat()}|{self.session}"

    def describe(self) -> str:
        by = "" if self.recorded_by is None else f" by {self.recorded_by}"
        return f"pupil {self.pupil} {self.day.isoformat()} {self.session} code {self.code}{by}"


def mark_digest(rows: Iterable[MarkRow]) -> str:
    h = hashlib.sha256()
    for text in sorted(r.text() for r in rows):
        h.update(text.encode("utf-8") + b"\n")
    return h.hexdigest()


def fingerprint(row: MarkRow) -> bytes:
    return _short(row.cell()) + _short(row.text())


def cell_fingerprint(pupil: str, day: date, session: str) -> bytes:
    return _short(f"{pupil}|{day.isoformat()}|{session}")


def mark_fingerprints(rows: Iterable[MarkRow]) -> bytes:
    return b"".join(sorted(fingerprint(r) for r in rows))


def _short(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:4]


@dataclass(frozen=True)
class Seal:
    school: str
    seq: int
    import_id: int
    rows: int
    digest: str
    fingerprints: bytes
    sealed_at: datetime
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return seal_hash(
            self.school, self.seq, self.import_id, self.rows, self.digest, self.fingerprints,
            self.sealed_at, self.prev_hash,
        )  # fmt: skip


def seal_hash(
    school: str,
    seq: int,
    import_id: int,
    rows: int,
    digest: str,
    fingerprints: bytes,
    sealed_at: datetime,
    prev_hash: str,
) -> str:
    document = {
        "school": school,
        "seq": seq,
        "import_id": import_id,
        "rows": rows,
        "digest": digest,
        "fingerprints": hashlib.sha256(fingerprints).hexdigest(),
        "sealed_at": instant_text(sealed_at),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# -- both formats ------------------------------------------------------------------------------


def blob_format(blob: bytes, rows: int) -> int:
    """The format of a seal's fingerprint blob (format 1: exactly 8 bytes a row, no tag)."""
    tag = seal_columns.FORMAT2_TAG
    return 2 if len(blob) == len(tag) + 8 * rows and blob.startswith(tag) else 1


def sealed_fingerprints(blob: bytes, fmt: int) -> set[bytes]:
    """A seal's 8-byte fingerprints."""
    if fmt == 2:
        return seal_columns.split(blob)
    return {blob[i : i + 8] for i in range(0, len(blob), 8)}


def row_fingerprints(rows: Sequence[MarkRow], fmt: int) -> list[bytes]:
    """Each row's 8-byte fingerprint in the given format."""
    if fmt == 2:
        return seal_columns.as_bytes(seal_columns.row_numbers(columns_of(rows)))
    return [fingerprint(r) for r in rows]


def cell_fingerprints(cells: Sequence[tuple[str, date, str]], fmt: int) -> list[bytes]:
    """Each (pupil, day, session)'s 4-byte fingerprint in the given format."""
    if fmt == 2:
        pupil, day, session = (
            Field.of([str(c[k]) if k != 1 else c[1].isoformat() for c in cells]) for k in range(3)
        )
        with np.errstate(over="ignore"):
            numbers = seal_columns.cell_numbers(pupil, day, session)
        return [b[:4] for b in seal_columns.as_bytes(numbers)]
    return [cell_fingerprint(*c) for c in cells]


def columns_of(rows: Sequence[MarkRow]) -> SealColumns:
    """Rows (as read back from the store) in columns."""
    named = [r.recorded_by for r in rows]
    by = None
    if any(n is not None for n in named):
        field = Field.of([n or "" for n in named if n is not None])
        index = np.full(len(rows), -1, dtype=np.int64)
        index[[i for i, n in enumerate(named) if n is not None]] = field.index
        by = Field(field.values, index)
    return SealColumns(
        pupil=Field.of([r.pupil for r in rows]),
        day=Field.of([r.day.isoformat() for r in rows]),
        session=Field.of([r.session for r in rows]),
        code=Field.of([r.code for r in rows]),
        recorded_at=np.array([r.recorded_at for r in rows], dtype=np.int64),
        minutes_late=np.array(
            [-1 if r.minutes_late is None else r.minutes_late for r in rows], dtype=np.int64
        ),
        imported_at=np.array([r.imported_at for r in rows], dtype=np.int64),
        recorded_by=by,
    )
