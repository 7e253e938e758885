"""The trust file: the schools of a trust, each with its flow, calendars and overrides.

::

    name: sample-trust
    timezone: Europe/London
    schools:
      - id: oaks                      # the slug used in CSVs; the URN is accepted there too
        name: Leigh Academy Oaks
        urn: "100001"
        flow: ../../flows/leigh-academy-oaks.yaml
        calendars: [../calendars/england-2025-26.yaml, ../calendars/england-2026-27.yaml]
        registers_close_at: "16:30"   # optional, local HH:MM; default 16:30
        overrides:                    # optional: flow parameters this school sets differently,
          min_possible_sessions: 20   #   written into its flow (adapters.school_flows)
        address: ["12 Station Road", "Oakfield", "Kent ME1 2AB"]   # what letters print:
        phone: "01634 000 111"                                    #   required when the flow
        email: office@oaks.example.sch.uk                         #   sends letters (below)
        attendance_contact: {name: Mrs J. Patel, role: Attendance Lead}  # who parents call
        signatory: {name: Mr D. Okafor, role: Head of Academy}    # who signs the letters
        letters: draft-only           # optional: letters marked DRAFT, never approved or sent
        penalty_notices:              # optional: who issues penalty notices where the school is
          issued_by: head_teacher_or_local_authority   # or local_authority
          local_code: "Kent County Council penalty notice code of conduct"

A school whose flow sends letters (a task of ``kind: letter``) must give ``address``,
``phone``, ``email``, ``attendance_contact`` and ``signatory``: a letter to a family never
prints a stand-in ("the school office") for a number it should give. Without them the file is
refused, naming the file, the school and what is missing, unless the school says
``letters: draft-only``: then its letters are prepared marked DRAFT, for staff to read, and
cannot be approved or sent (``letters: send``, the default, is the usual case).

``penalty_notices`` may also stand at the top of the file, for every school of the trust; a
school's own replaces it. Not given anywhere, letters use wording true in every area (the
local authority, or the head teacher where the local code allows: s.444A Education Act 1996).

Paths are relative to the trust file. Flow files are only checked to exist here; reading them
is the flow loader's job. Calendars are loaded on first use and shared between schools that
name the same files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.yaml_source import line_of, read_yaml, to_plain
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.retention import RetentionPolicy, policy_problems
from escalation_flow.errors import NotFoundError, Problem, TrustConfigError
from escalation_flow.letters.context import PENALTY_ISSUERS

_TRUST_KEYS = {"name", "timezone", "schools", "penalty_notices", "retention"}
_SCHOOL_KEYS = {"id", "name", "urn", "flow", "calendars", "registers_close_at", "overrides"}
#: what letters print
_LETTER_KEYS = {
    "address", "phone", "email", "attendance_contact", "signatory", "penalty_notices", "letters",
}  # fmt: skip
#: what a school whose flow sends letters must give (unless ``letters: draft-only``)
LETTER_DETAILS = ("address", "phone", "email", "attendance_contact", "signatory")
#: ``letters:`` values: letters go out after approval, or are only ever drafts
LETTERS_SEND, LETTERS_DRAFT_ONLY = "send", "draft-only"
#: a task that sends a letter, as a flow file writes it (read without loading the flow)
_LETTER_TASK = re.compile(r"^[ \t-]*kind:\s*[\"']?letter[\"']?\s*(#.*)?$", re.M)

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")

Override = float | dict[str, Any]
_Report = Callable[[str, str], None]  # (key, message): one problem with a school's key


@dataclass(frozen=True)
class SchoolConfig:
    id: str
    name: str
    urn: str | None
    flow_path: Path
    calendar_paths: tuple[Path, ...]
    registers_close_at: str | None
    overrides: dict[str, Override]
    address: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    attendance_contact: dict[str, str] | None = None  # {"name": ..., "role": ...}
    signatory: dict[str, str] | None = None  # {"name": ..., "role": ...}: who signs letters
    #: True: ``letters: draft-only`` (letters are DRAFT, never approved or sent)
    letters_draft_only: bool = False
    #: {"issued_by": one of PENALTY_ISSUERS, "local_code": ...}; None: the general wording
    penalty_notices: dict[str, str] | None = None


@dataclass
class Trust:
    name: str
    timezone: str
    path: Path
    schools: dict[str, SchoolConfig]
    #: the ``retention:`` section; None: no retention policy configured (nothing is erased)
    retention: RetentionPolicy | None = None
    _calendars: dict[tuple[Path, ...], SchoolCalendar] = field(
        default_factory=dict, repr=False, compare=False
    )

    def school(self, key: str) -> SchoolConfig:
        return self.schools[self.resolve_school(key)]

    def resolve_school(self, key: str) -> str:
        """The school id for an id or a URN."""
        if key in self.schools:
            return key
        found = self.aliases.get(key)
        if found is None:
            raise NotFoundError(
                f"no school {key!r} in trust {self.name} ({', '.join(sorted(self.schools))})"
            )
        return found

    @property
    def aliases(self) -> dict[str, str]:
        """Other names a file may use for a school (its URN), to the school's id."""
        return {s.urn: s.id for s in self.schools.values() if s.urn}

    def calendar(self, school_id: str) -> SchoolCalendar:
        paths = self.school(school_id).calendar_paths
        if paths not in self._calendars:
            self._calendars[paths] = load_calendar(list(paths))
        return self._calendars[paths]

    def calendars(self) -> dict[str, SchoolCalendar]:
        """Every school's calendar, keyed by school id."""
        return {school_id: self.calendar(school_id) for school_id in self.schools}


def load_trust(path: Path) -> Trust:
    """Read and check a trust file; every problem is reported at once."""
    doc = read_yaml(path, TrustConfigError)
    f = str(path)
    data = doc.data
    if not isinstance(data, dict):
        raise TrustConfigError(
            f"{f} is not a trust file", [Problem(f, 1, None, "expected a mapping")]
        )
    problems: list[Problem] = [
        Problem(
            f, line_of(data, key), str(key), f"unknown key (expected one of {_listed(_TRUST_KEYS)})"
        )
        for key in data
        if key not in _TRUST_KEYS
    ]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(f, line_of(data, "name"), "name", "a trust needs a name"))
        name = path.stem
    timezone = str(data.get("timezone", "Europe/London"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(f, line_of(data, "timezone"), "timezone", f"unknown time zone {timezone!r}")
        )
    raw_schools = data.get("schools")
    schools: dict[str, SchoolConfig] = {}
    if not isinstance(raw_schools, list) or not raw_schools:
        problems.append(
            Problem(f, line_of(data, "schools"), "schools", "expected a list of schools")
        )
    else:
        schools = _schools(raw_schools, path.parent, f, problems)
    trust_wide = _penalty_notices(
        data.get("penalty_notices"),
        lambda key, message: problems.append(Problem(f, line_of(data, key), key, message)),
    )
    if trust_wide is not None:
        schools = {
            k: s if s.penalty_notices is not None else replace(s, penalty_notices=trust_wide)
            for k, s in schools.items()
        }
    retention = _retention(data.get("retention"), data, f, problems)
    if problems:
        raise TrustConfigError(f"trust file {f} has {len(problems)} problem(s)", problems)
    return Trust(name=name, timezone=timezone, path=path, schools=schools, retention=retention)


_RETENTION_KEYS = ("registers_years", "closed_cases_years")


def _retention(
    value: Any, data: dict[str, Any], f: str, problems: list[Problem]
) -> RetentionPolicy | None:
    """``retention: {registers_years: 6, closed_cases_years: 6}``, checked; None when absent.
    A register term shorter than the law's six years is refused, naming the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(Problem(f, line_of(data, "retention"), "retention",
                                "expected {registers_years: N, closed_cases_years: N}"))
        return None
    before = len(problems)
    for key in value:
        if key not in _RETENTION_KEYS:
            problems.append(Problem(f, line_of(value, key), f"retention.{key}",
                                    f"unknown key (expected one of {', '.join(_RETENTION_KEYS)})"))
    registers = value.get("registers_years", 6)
    for key, message in policy_problems(registers, value.get("closed_cases_years")).items():
        line = line_of(value, key) if key in value else line_of(data, "retention")
        problems.append(Problem(f, line, f"retention.{key}", message))
    if len(problems) > before:
        return None
    return RetentionPolicy(int(registers), int(value["closed_cases_years"]))


def _schools(
    raw: list[Any], base: Path, f: str, problems: list[Problem]
) -> dict[str, SchoolConfig]:
    schools: dict[str, SchoolConfig] = {}
    first_line: dict[str, int | None] = {}
    for i, item in enumerate(raw):
        where = f"schools[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(f, line_of(raw, i), where, "expected a mapping"))
            continue
        school = _school(item, where, base, f, problems)
        for field_name in ("id", "urn"):
            key = item.get(field_name)
            if key is None or isinstance(key, bool):
                continue
            key = str(key)
            if key in first_line:
                message = f"{key!r} is already used by the school on line {first_line[key]}"
                where_key = f"{where}.{field_name}"
                problems.append(Problem(f, line_of(item, field_name), where_key, message))
            else:
                first_line[key] = line_of(item, "id")
        if school is None:
            continue
        schools.setdefault(school.id, school)
    return schools


def _school(
    item: dict[str, Any], where: str, base: Path, f: str, problems: list[Problem]
) -> SchoolConfig | None:
    before = len(problems)

    def problem(key: str, message: str) -> None:
        problems.append(Problem(f, line_of(item, key), f"{where}.{key}", message))

    for key in item:
        if key not in _SCHOOL_KEYS | _LETTER_KEYS:
            problem(str(key), f"unknown key (expected one of {_listed(_SCHOOL_KEYS | _LETTER_KEYS)})")
    school_id = item.get("id")
    if not isinstance(school_id, str) or not _SLUG.fullmatch(school_id):
        problem("id", "a school needs an id: letters, digits, '-', '_' or '.'")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problem("name", "a school needs a name")
    urn = item.get("urn")
    if urn is not None and (
        isinstance(urn, bool) or not isinstance(urn, str | int) or not str(urn)
    ):
        problem("urn", 'expected the URN as text, e.g. "100001"')
    flow = _path(item, "flow", base, problem)
    calendars = _calendar_paths(item, base, problem)
    close = item.get("registers_close_at")
    if close is not None and not (isinstance(close, str) and _HH_MM.fullmatch(close)):
        problem("registers_close_at", f'{close!r} is not a time HH:MM (quote it: "16:30")')
    overrides = _overrides(item.get("overrides"), problem)
    letter_details = _letter_details(item, problem)
    if flow is not None and flow.is_file():
        _check_letter_details(item, letter_details, flow, problem)
    if len(problems) > before or flow is None:
        return None
    return SchoolConfig(
        id=str(school_id),
        name=str(name),
        urn=None if urn is None else str(urn),
        flow_path=flow,
        calendar_paths=tuple(calendars),
        registers_close_at=close,
        overrides=overrides,
        **letter_details,
    )


def _path(item: dict[str, Any], key: str, base: Path, problem: _Report) -> Path | None:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        problem(key, f"expected the path of the {key} file")
        return None
    path = (base / value).resolve()
    if not path.is_file():
        problem(key, f"no such file: {value} (looked for {path})")
    return path


def _calendar_paths(item: dict[str, Any], base: Path, problem: _Report) -> list[Path]:
    value = item.get("calendars")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problem("calendars", "expected a list of calendar files")
        return []
    paths = [(base / v).resolve() for v in value]
    for text, path in zip(value, paths, strict=True):
        if not path.is_file():
            problem("calendars", f"no such file: {text} (looked for {path})")
    return paths


def _overrides(value: Any, problem: _Report) -> dict[str, Override]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem("overrides", "expected a mapping of flow parameters to values")
        return {}
    plain = to_plain(value)
    out: dict[str, Override] = {}
    for key, v in plain.items():
        if isinstance(v, bool) or not isinstance(v, int | float | dict):
            problem("overrides", f"{key}: expected a number or a mapping, got {v!r}")
        else:
            out[str(key)] = v
    return out


def _listed(keys: set[str]) -> str:
    return ", ".join(sorted(keys))


def _letter_details(item: dict[str, Any], problem: _Report) -> dict[str, Any]:
    """The optional keys letters print: address lines, telephone, email, attendance contact."""
    out: dict[str, Any] = {}
    address = to_plain(item.get("address"))
    if isinstance(address, str):
        address = [address]
    if address is not None:
        if isinstance(address, list) and all(isinstance(a, str) and a for a in address):
            out["address"] = tuple(address)
        else:
            problem("address", "expected the address as a list of lines")
    for key in ("phone", "email"):
        value = item.get(key)
        if value is not None:
            if isinstance(value, str) and value.strip():
                out[key] = value.strip()
            else:
                problem(key, f"expected the {key} as text")
    for key in ("attendance_contact", "signatory"):
        person = _person(item.get(key), key, problem)
        if person is not None:
            out[key] = person
    mode = item.get("letters")
    if mode is not None:
        if mode in (LETTERS_SEND, LETTERS_DRAFT_ONLY):
            out["letters_draft_only"] = mode == LETTERS_DRAFT_ONLY
        else:
            problem("letters", f"expected {LETTERS_SEND} or {LETTERS_DRAFT_ONLY}, got {mode!r}")
    notices = _penalty_notices(item.get("penalty_notices"), problem)
    if notices is not None:
        out["penalty_notices"] = notices
    return out


def _person(value: Any, key: str, problem: _Report) -> dict[str, str] | None:
    """``{name: ..., role: ...}``, both given: a letter prints both, and guesses neither."""
    if value is None:
        return None
    plain = to_plain(value)
    if isinstance(plain, dict) and set(plain) <= {"name", "role"}:
        name, role = plain.get("name"), plain.get("role")
        if isinstance(name, str) and name.strip() and isinstance(role, str) and role.strip():
            return {"name": name.strip(), "role": role.strip()}
    problem(key, "expected {name: ..., role: ...}, both given (e.g. {name: Mrs J. Patel, "
            "role: Attendance Lead})")
    return None


def _check_letter_details(
    item: dict[str, Any], given: dict[str, Any], flow: Path, problem: _Report
) -> None:
    """A school whose flow sends letters gives every detail a letter prints, or says its
    letters are drafts only."""
    if item.get("letters", LETTERS_SEND) != LETTERS_SEND:
        return  # draft-only (or a wrong value, reported on its own)
    missing = [key for key in LETTER_DETAILS if key not in given]
    if missing and flow_sends_letters(flow):
        name = item.get("name") or item.get("id")
        problem(
            missing[0],
            f"school {item.get('id')!r} ({name}) sends letters but its entry lacks "
            f"{', '.join(missing)}: give them, or say 'letters: {LETTERS_DRAFT_ONLY}' to have "
            "its letters prepared as drafts that cannot be sent",
        )


def flow_sends_letters(flow: Path) -> bool:
    """Whether a flow file has a task of ``kind: letter`` (read as text: the flow loader
    checks the file itself; an unreadable file is taken to send letters)."""
    try:
        text = flow.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    return _LETTER_TASK.search(text) is not None


def _penalty_notices(value: Any, problem: _Report) -> dict[str, str] | None:
    """``{issued_by: ..., local_code: ...}``, checked; None when not given."""
    if value is None:
        return None
    plain = to_plain(value)
    if not isinstance(plain, dict):
        problem("penalty_notices", "expected {issued_by: ..., local_code: ...}")
        return None
    unknown = sorted(str(k) for k in plain if k not in ("issued_by", "local_code"))
    issued_by = plain.get("issued_by")
    code = plain.get("local_code")
    if unknown:
        problem("penalty_notices", f"unknown key(s) {', '.join(unknown)} (expected issued_by, local_code)")
    if issued_by not in PENALTY_ISSUERS:
        problem("penalty_notices", f"issued_by must be one of {', '.join(PENALTY_ISSUERS)}, got {issued_by!r}")
    if code is not None and not (isinstance(code, str) and code.strip()):
        problem("penalty_notices", "local_code: expected the code of conduct's name or address as text")
    if unknown or issued_by not in PENALTY_ISSUERS:
        return None
    out = {"issued_by": str(issued_by)}
    if isinstance(code, str) and code.strip():
        out["local_code"] = code.strip()
    return out
