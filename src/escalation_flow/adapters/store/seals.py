"""Seals over imported marks: the format the store writes and ``audit verify`` checks.

An import's rows are sealed per school: a digest of the rows' texts, a 4+4-byte fingerprint per
row (cell and text, to name a row edited, deleted or added), and a hash chaining each seal to the
one before it (as ``history`` chains a case's records). Pure: no database here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from escalation_flow.core.chain import canonical_json, instant_text

#: The version of the seal format: ``MarkRow.text``, the digest, the 4+4-byte fingerprints and
#: the seal's hashed document. Seals already written keep their hash, so a change is a new
#: version, and a checkpoint names the one it saw.
SEAL_FORMAT = 1


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
