"""The contacts CSV: parents and carers of each pupil (docs/contacts.md, "The contacts CSV").

``read_contacts`` is all or nothing like ``read_marks``: any bad row raises ``RegisterError``
naming every problem by file, line and field, unless ``skip_invalid`` is set, when the good
rows are returned and the bad ones listed in ``ContactsRead.rejected`` (``write_rejected``
writes them beside the file, every cell neutralised for spreadsheets). Identifiers (school,
pupil, contact) are checked as the roster's are; text fields may not hold control or
invisible/direction-changing characters. A contacts file is small (a few rows a pupil), so it
is checked row by row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalation_flow.adapters.csv_safety import excerpt, id_problem, write_rejected_rows
from escalation_flow.adapters.register_csv import read_columns
from escalation_flow.core.contacts import ContactVersion, as_known_at
from escalation_flow.errors import Problem, RegisterError

CONTACT_COLUMNS = (
    "school", "pupil", "contact", "name", "relationship", "parental_responsibility",
    "lives_with_pupil", "address", "email", "telephone", "priority", "may_be_contacted",
    "recorded_at",
)  # fmt: skip
REQUIRED_CONTACT_COLUMNS = (
    "school", "pupil", "contact", "name", "relationship", "parental_responsibility",
)  # fmt: skip
#: How many problems an error lists; all of them are counted.
PROBLEM_LIMIT = 200
#: The longest value of each text field.
MAX_CHARS = {
    "name": 200, "relationship": 60, "address": 500, "email": 254, "telephone": 40,
}  # fmt: skip
#: How far past the import's clock a ``recorded_at`` may be (MIS and server clocks drift).
FUTURE_SLACK = timedelta(days=1)
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TELEPHONE = re.compile(r"[0-9+() .-]+")


@dataclass(frozen=True)
class RejectedContact:
    """A row left out by ``skip_invalid``: its line, its original fields, and why."""

    line: int
    values: dict[str, str]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ContactRow:
    """A good row: the version it gives, and whether the file gave its ``recorded_at``."""

    line: int
    version: ContactVersion
    dated: bool


@dataclass(frozen=True)
class ContactsRead:
    path: Path
    sha256: str
    header: tuple[str, ...]
    rows: tuple[ContactRow, ...]
    rows_read: int
    rejected: list[RejectedContact] = field(default_factory=list)
    #: rows that repeat an earlier row of the file exactly (dropped)
    duplicates: int = 0


def read_contacts(
    path: Path,
    schools: set[str],
    *,
    now: datetime,
    aliases: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
) -> ContactsRead:
    """Read a contacts CSV; a row without ``recorded_at`` is recorded at ``now`` (the import's
    clock). Every problem of every row is found before anything is returned."""
    cols = read_columns(
        path, CONTACT_COLUMNS, REQUIRED_CONTACT_COLUMNS, RegisterError, threads=False
    )
    f = cols.name
    data = {name: cols.table.column(name).to_pylist() for name in cols.table.column_names}
    reasons: dict[int, list[Problem]] = {}
    for line, problem in cols.malformed:
        reasons.setdefault(line, []).append(problem)
    good: list[ContactRow] = []
    seen: dict[tuple[str, str, str, datetime | None], tuple[int, ContactVersion]] = {}
    duplicates = 0
    for row, line in enumerate(cols.lines.tolist()):
        value = {c: _text(data[c][row]) if c in data else "" for c in CONTACT_COLUMNS}
        found: list[Problem] = []
        row_of = _Row(f, line, found)
        version, dated = row_of.version(value, schools, aliases or {}, now)
        if version is not None:
            key = (*version.key, version.recorded_at if dated else None)
            earlier = seen.get(key)
            if earlier is not None:
                if earlier[1].same_details(version):
                    duplicates += 1
                    continue
                found.append(
                    Problem(
                        f,
                        line,
                        "contact",
                        f"{excerpt(version.contact)} of pupil {excerpt(version.pupil)} is "
                        f"already on line {earlier[0]} with other details"
                        + (" and the same recorded_at" if dated else ""),
                    )
                )
            else:
                seen[key] = (line, version)
        if found:
            reasons.setdefault(line, []).extend(found)
        elif version is not None:
            good.append(ContactRow(line, version, dated))
    problems = sorted(p for ps in reasons.values() for p in ps)
    rows_read = cols.table.num_rows + len(cols.malformed)
    if problems and not skip_invalid:
        shown = f"; the first {PROBLEM_LIMIT} are listed" if len(problems) > PROBLEM_LIMIT else ""
        raise RegisterError(
            f"{f} has {len(problems)} problem(s) in {len(reasons)} of {rows_read} row(s){shown}",
            problems[:PROBLEM_LIMIT],
        )
    originals = cols.raw_rows(sorted(reasons))
    rejected = [
        RejectedContact(line, originals.get(line, {}), tuple(f"{p.field}: {p.message}" for p in ps))
        for line, ps in sorted(reasons.items())
    ]
    return ContactsRead(
        path, cols.sha256, cols.header, tuple(good), rows_read, rejected, duplicates
    )


def new_versions(stored: Iterable[ContactVersion], result: ContactsRead) -> list[ContactVersion]:
    """The versions of ``result`` a store holding ``stored`` must add: a dated row already
    stored with the same details, or an undated one repeating the contact's latest version, is
    already known. Raises ``RegisterError`` for a row contradicting a stored version at the same
    instant (every such row named), so a store adds all or nothing."""
    held = list(stored)
    at_instant = {(*v.key, v.recorded_at): v for v in held}
    latest = {v.key: v for v in as_known_at(held)}
    problems: list[Problem] = []
    out: list[ContactVersion] = []
    for row in result.rows:
        v = row.version
        if row.dated:
            same_instant = at_instant.get((*v.key, v.recorded_at))
            if same_instant is not None:
                if not same_instant.same_details(v):
                    problems.append(_conflict(result, row))
                continue
        else:
            current = latest.get(v.key)
            if current is not None and current.same_details(v):
                continue
        out.append(v)
    if problems:
        raise RegisterError(
            f"{result.path} contradicts {len(problems)} stored contact version(s)", problems
        )
    return out


def _conflict(result: ContactsRead, row: ContactRow) -> Problem:
    v = row.version
    return Problem(
        str(result.path),
        row.line,
        "recorded_at",
        f"contact {excerpt(v.contact)} of pupil {excerpt(v.pupil)} is already stored as recorded "
        f"at {v.recorded_at.isoformat()} with other details (give the amendment its own time)",
    )


def rejected_path(source: Path) -> Path:
    """Where the rejected rows of ``source`` go: beside it, ``contacts.rejected.csv``."""
    return source.with_suffix(".rejected.csv")


def write_rejected(result: ContactsRead, path: Path | None = None) -> Path:
    """Write the rejected rows (original columns, then ``line`` and ``reasons``) as CSV, every
    cell neutralised (a name like ``=HYPERLINK(...)`` is shown, not run, by a spreadsheet)."""
    return write_rejected_rows(path or rejected_path(result.path), result.header, result.rejected)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


@dataclass
class _Row:
    """Checks of one row; each problem is added to ``found``."""

    file: str
    line: int
    found: list[Problem]

    def problem(self, column: str, message: str) -> None:
        self.found.append(Problem(self.file, self.line, column, message))

    def version(
        self,
        value: dict[str, str],
        schools: set[str],
        aliases: Mapping[str, str],
        now: datetime,
    ) -> tuple[ContactVersion | None, bool]:
        school = value["school"] if value["school"] in schools else aliases.get(value["school"])
        if school is None:
            known = ", ".join(sorted(schools))
            self.problem(
                "school", f"{excerpt(value['school'])} is not a school of this trust ({known})"
            )
        for column in ("pupil", "contact"):
            why = id_problem(value[column])
            if why is not None:
                self.problem(column, why)
        for column, limit in MAX_CHARS.items():
            self._text(column, value[column], limit, required=column in ("name", "relationship"))
        responsible = self._yes_no("parental_responsibility", value, required=True)
        lives = self._yes_no("lives_with_pupil", value)
        may = self._yes_no("may_be_contacted", value)
        if value["email"] and not _EMAIL.fullmatch(value["email"]):
            self.problem("email", f"{excerpt(value['email'])} is not an email address")
        if value["telephone"] and not _TELEPHONE.fullmatch(value["telephone"]):
            self.problem(
                "telephone",
                f"{excerpt(value['telephone'])} is not a telephone number "
                "(digits, spaces, + ( ) . -)",
            )
        priority = self._priority(value["priority"])
        recorded = self._recorded_at(value["recorded_at"], now)
        if self.found or school is None:
            return None, False
        return (
            ContactVersion(
                school=school,
                pupil=value["pupil"],
                contact=value["contact"],
                name=value["name"],
                relationship=value["relationship"],
                parental_responsibility=bool(responsible),
                recorded_at=recorded or now,
                lives_with_pupil=lives,
                address=value["address"],
                email=value["email"],
                telephone=value["telephone"],
                priority=priority,
                may_be_contacted=may,
            ),
            recorded is not None,
        )

    def _text(self, column: str, text: str, limit: int, *, required: bool) -> None:
        if not text:
            if required:
                self.problem(column, "is empty")
            return
        if len(text) > limit:
            self.problem(column, f"{excerpt(text)} is longer than {limit} characters")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
            self.problem(
                column,
                f"{excerpt(text)} holds a control, invisible or direction-changing character",
            )

    def _yes_no(self, column: str, value: dict[str, str], *, required: bool = False) -> bool | None:
        text = value[column].lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        if text or required:
            self.problem(column, f"{excerpt(value[column])} is not yes or no")
        return None

    def _priority(self, text: str) -> int | None:
        if not text:
            return None
        if text.isdigit() and 0 < int(text) < 100:
            return int(text)
        self.problem("priority", f"{excerpt(text)} is not a whole number from 1 to 99")
        return None

    def _recorded_at(self, text: str, now: datetime) -> datetime | None:
        if not text:
            return None
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            self.problem("recorded_at", f"{excerpt(text)} is not an ISO 8601 timestamp")
            return None
        if instant.tzinfo is None:
            self.problem("recorded_at", f"{excerpt(text)} needs its UTC offset (e.g. +01:00)")
            return None
        instant = instant.astimezone(UTC)
        if instant > now + FUTURE_SLACK:
            self.problem(
                "recorded_at",
                f"{text} is more than a day after the import ({now:%Y-%m-%d %H:%M} UTC)",
            )
            return None
        return instant
