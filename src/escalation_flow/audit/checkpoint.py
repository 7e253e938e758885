"""A checkpoint: what the store held at one moment, kept by the auditor outside the database.

A hash chain checked only against itself cannot catch a rewrite of its own end: whoever can
write the database can delete a case's last records and fix up the case row, delete a whole
case, or delete a school's marks with their seals, and what is left still verifies. So
``audit checkpoint`` writes a small JSON document the auditor keeps elsewhere, and ``audit
verify --against FILE`` checks that the store still holds everything it named:

- every case (by school and pupil) with at least the history length it had, and its record at
  that length still carrying the head hash it had (records are only ever appended);
- every school's seals over its marks, each with the hash it had, and at least as many marks;
- every letter's stored content (its HTML, and its PDF once rendered: both are written once);
- every task's completion once it was completed or superseded (an open task may move on);
- (format 2) every chain of later records (``adapters/store/records.py``: letters' content and
  approval, completions of tasks without a case, the staff audit log) with at least the length
  it had and its record at that length still carrying the head hash it had.

- (format 3) what a later retention run may take away, so that a run's own record is not the
  only word on it: each case's status and closing day, and each school's mark count per register
  day. A run recorded after the checkpoint may have erased a case only if the checkpoint saw it
  closed before the run's case cutoff, and marks only of days before its register cutoff (both
  cutoffs held to what the run's own day and policy give, ``retention_check.allowed_cutoffs``).

The document carries ``format`` and a sha256 over itself, so an edited file is refused rather
than trusted. Format 1 is described in ``docs/audit/README.md``; format 2 adds ``records``;
format 3 adds ``status`` and ``closed_on`` to each case and ``days`` to each school. Checkpoints
of formats 1 and 2 are still read (without the retention checks format 3 allows).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from escalation_flow.adapters.store.audit_store import (
    Approval,
    Completion,
    case_heads,
    letter_contents,
    load_seals,
    mark_counts,
    record_hash,
    task_completions,
)
from escalation_flow.adapters.store.cases import school_ids
from escalation_flow.adapters.store.erasure import (
    RETENTION_CHAIN,
    Erasures,
    case_states,
    erasures,
    marks_by_day,
)
from escalation_flow.adapters.store.records import chain_heads, erased_letters
from escalation_flow.adapters.store.seals import SEAL_FORMAT, SEAL_FORMATS
from escalation_flow.audit.retention_check import FORGED, allowed_cutoffs
from escalation_flow.audit.verify import Breach
from escalation_flow.core.chain import CHAIN_FORMAT, CHAIN_FORMATS, canonical_json, instant_text
from escalation_flow.errors import InputError

#: The checkpoint document's format; ``read_checkpoint`` refuses any other.
FORMAT = 3
FORMATS = (1, 2, 3)
#: The first format that anchors what a retention run may erase.
RETENTION_FORMAT = 3
OPEN = "open"


def make_checkpoint(engine: Engine, now: datetime) -> dict[str, Any]:
    """The checkpoint of everything in the store at ``now`` (the service's clock)."""
    with engine.connect() as conn:
        states = case_states(conn)
        body: dict[str, Any] = {
            "format": FORMAT,
            "chain_format": CHAIN_FORMAT,
            "seal_format": SEAL_FORMAT,
            "made_at": instant_text(now),
            "cases": [
                {"id": cid, "school": school, "pupil": pupil, "length": length, "head": head}
                | _state(states.get(cid))
                for cid, school, pupil, length, head in case_heads(conn)
            ],
            "schools": _schools(conn),
            "letters": {str(i): v for i, v in _letters(conn).items()},
            "tasks": {str(i): v for i, v in _tasks(conn).items()},
            "records": {k: [n, head] for k, (n, head) in sorted(chain_heads(conn).items())},
        }
    return body | {"sha256": _digest(body)}


def _state(state: tuple[str, date | None] | None) -> dict[str, str | None]:
    status, closed_on = state if state is not None else ("gone", None)
    return {"status": status, "closed_on": None if closed_on is None else closed_on.isoformat()}


def checkpoint_text(document: Mapping[str, Any]) -> str:
    """The checkpoint as written to its file: stable (sorted keys) and compact (a trust's
    checkpoint is mostly hashes; `python -m json.tool` shows it laid out)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file, refused when it is not one, of a format not known, or edited."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a checkpoint file: {exc}") from exc
    if not isinstance(document, dict) or "format" not in document:
        raise InputError(f"{path}: not a checkpoint file (no format)")
    if document["format"] not in FORMATS:
        raise InputError(
            f"{path}: checkpoint format {document['format']!r} is not one this version reads "
            f"(it reads formats {', '.join(map(str, FORMATS))}); verify with the release that "
            "wrote it, or a newer one"
        )
    for name, known in (("chain_format", CHAIN_FORMATS), ("seal_format", SEAL_FORMATS)):
        if document.get(name) not in known:
            raise InputError(
                f"{path}: the checkpoint was made over {name.replace('_format', '')} records "
                f"of format {document.get(name)!r}; this version knows format(s) "
                f"{', '.join(map(str, known))}: verify with the release that wrote them, or a "
                "newer one"
            )
    body = {k: v for k, v in document.items() if k != "sha256"}
    if document.get("sha256") != _digest(body):
        raise InputError(
            f"{path}: the checkpoint does not give its own sha256: it was edited after it was "
            "made (or damaged); use the copy kept elsewhere"
        )
    wrong = _malformed(body)
    if wrong:
        raise InputError(f"{path}: not a checkpoint this version wrote: {wrong}")
    return body


def _malformed(body: Mapping[str, Any]) -> str | None:
    """What in a checkpoint's body is not shaped as ``make_checkpoint`` writes it (a digest
    recomputed over a hand-made file proves nothing about its contents), naming the first bad
    entry, or None."""
    cases, schools = body.get("cases"), body.get("schools")
    if not isinstance(cases, list) or not all(_a_case(c) for c in cases):
        return "'cases' must be a list of {school, pupil, length, head}"
    if not isinstance(schools, dict):
        return "'schools' must map each school to its marks"
    for key, seen in schools.items():
        if not _a_school(seen):
            return f"'schools' entry {key!r} must be {{seals: [hash, ...], marks: count}}: {seen!r}"
    wrong = _malformed_retention(cases, schools) if body["format"] >= RETENTION_FORMAT else None
    if wrong:
        return wrong
    records = body.get("records", {})
    if not isinstance(records, dict) or not all(
        isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str)
        for v in records.values()
    ):
        return "'records' must map each chain to [length, head]"
    shapes = (("letters", body.get("letters"), _a_letter), ("tasks", body.get("tasks"), _a_task))
    for name, rows, fits in shapes:
        if not isinstance(rows, dict):
            return f"{name!r} must map each id to its record"
        for key, value in rows.items():
            if not (key.isdigit() and fits(value)):
                return f"{name!r} entry {key!r} is not a {name[:-1]} record: {value!r}"
    return None


def _malformed_retention(cases: list[Any], schools: Mapping[str, Any]) -> str | None:
    """Format 3's additions: each case's status and closing day, each school's marks per day."""
    for case in cases:
        if not (
            isinstance(case.get("id"), int)
            and isinstance(case.get("status"), str)
            and _a_day_or_none(case.get("closed_on"))
        ):
            return f"case {case.get('id')!r} must carry its id, status and closed_on (a date)"
    for key, seen in schools.items():
        days = seen.get("days")
        if not isinstance(days, dict) or not all(
            _a_day_or_none(d) and d is not None and type(n) is int for d, n in days.items()
        ):
            return f"'schools' entry {key!r} must map each register day to its mark count"
    return None


def _a_day_or_none(value: Any) -> bool:
    if value is None:
        return True
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _a_school(seen: Any) -> bool:
    return (
        isinstance(seen, dict)
        and isinstance(seen.get("seals"), list)
        and all(isinstance(h, str) for h in seen["seals"])
        and type(seen.get("marks")) is int
    )


def _a_letter(value: Any) -> bool:
    """[case, html sha, pdf sha or None(, approval sha or None)]."""
    return (
        isinstance(value, list)
        and len(value) in (3, 4)
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and all(v is None or isinstance(v, str) for v in value[2:])
    )


def _a_task(value: Any) -> bool:
    """[case, status, completion sha]."""
    return isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)


def _a_case(case: Any) -> bool:
    if not isinstance(case, dict):
        return False
    length = case.get("length")
    return (
        isinstance(case.get("school"), str)
        and isinstance(case.get("pupil"), str)
        and isinstance(length, int)
        and 0 <= length < 2**31
        and isinstance(case.get("head"), str)
    )


def check_against(
    engine: Engine, checkpoint: Mapping[str, Any], school: str | None = None
) -> list[Breach]:
    """Everything the checkpoint saw that the store no longer holds as it was."""

    def mine(key: str) -> bool:
        return school is None or key == school

    with engine.connect() as conn:
        # what recorded retention runs took away since is expected gone (not a deletion)
        runs = erasures(conn)
        out = _cases(conn, [c for c in checkpoint["cases"] if mine(c["school"])], runs)
        schools = {k: v for k, v in checkpoint["schools"].items() if mine(k)}
        out += _marks(conn, schools, _marks_erased_since(checkpoint, runs))
        letters = _letters(conn)
        erased = erased_letters(conn)
        for key, then in sorted(checkpoint["letters"].items(), key=lambda kv: int(kv[0])):
            if int(key) in runs.letters and int(key) not in letters:
                continue
            if mine(then[0].split("/")[0]):
                now = letters.get(int(key))
                if now is not None and int(key) in erased:  # its text erased on purpose
                    now = [now[0], then[1], then[2], now[3]]
                out += _letter(int(key), then, now)
        tasks = _tasks(conn)
        for key, then in sorted(checkpoint["tasks"].items(), key=lambda kv: int(kv[0])):
            if int(key) in runs.tasks and int(key) not in tasks:
                continue
            if mine(then[0].split("/")[0]):
                out += _task(int(key), then, tasks.get(int(key)))
        heads = chain_heads(conn)
        for chain, (length, head) in sorted(checkpoint.get("records", {}).items()):
            if school is None or _chain_school(chain) == school:
                out += _record_chain(conn, chain, length, head, heads.get(chain))
        if checkpoint["format"] >= RETENTION_FORMAT:
            later = _runs_since(checkpoint, runs)
            out += _cases_erased_early(conn, checkpoint["cases"], runs, later, mine)
            out += _days_erased_early(conn, schools, later)
    return out


# -- what a run since the checkpoint may have erased (format 3) -----------------------------------


def _runs_since(checkpoint: Mapping[str, Any], runs: Erasures) -> list[tuple[int, dict[str, Any]]]:
    """The runs recorded after the checkpoint: those past the retention chain's length it saw
    (its record time is the writer's word; its place in the anchored chain is not)."""
    seen = checkpoint.get("records", {}).get(RETENTION_CHAIN, [0, ""])[0]
    return [(seq, body) for seq, _, body in runs.runs if seq > seen]


def _marks_erased_since(checkpoint: Mapping[str, Any], runs: Erasures) -> dict[str, int]:
    """Marks erased per school by the runs since the checkpoint: by their place on the
    retention chain when the checkpoint anchors it (format 2 on; a run in the same instant as
    the checkpoint is still after it), else by their record time."""
    if "records" not in checkpoint:
        return runs.marks_erased_after(datetime.fromisoformat(str(checkpoint["made_at"])))
    out: dict[str, int] = defaultdict(int)
    for _, body in _runs_since(checkpoint, runs):
        for s in body.get("seals", []):
            out[str(s["school"])] += int(s["erased"])
    return dict(out)


def _cases_erased_early(
    conn: Connection,
    then: list[dict[str, Any]],
    runs: Erasures,
    later: list[tuple[int, dict[str, Any]]],
    mine: Callable[[str], bool],
) -> list[Breach]:
    """Each case a run since the checkpoint erased that the checkpoint did not see closed
    before the run's case cutoff."""
    stored = set(case_states(conn))
    since = dict(later)
    out = []
    for case in then:
        cid = int(case["id"])
        run = runs.case_runs.get(cid)
        if not mine(case["school"]) or cid in stored or run not in since:
            continue
        cutoff = allowed_cutoffs(since[run])[1]
        closed = case["closed_on"]
        if case["status"] == "closed" and closed is not None and closed < cutoff.isoformat():
            continue
        seen = "open" if case["status"] != "closed" else f"closed on {closed}"
        out.append(
            Breach("records of retention", run, FORGED,
                   f"run {run} erased case {cid} ({case['school']}/{case['pupil']}), which the "
                   f"checkpoint saw {seen}: only cases closed before {cutoff.isoformat()} were "
                   "due")
        )  # fmt: skip
    return out


def _days_erased_early(
    conn: Connection,
    then: Mapping[str, Mapping[str, Any]],
    later: list[tuple[int, dict[str, Any]]],
) -> list[Breach]:
    """Marks gone since the checkpoint from register days no run since could erase: on or
    after the latest register cutoff among the runs that took marks from the school. Named
    per school and month."""
    ids = school_ids(conn)
    now = marks_by_day(conn)
    out = []
    for school, seen in sorted(then.items()):
        erasing = [
            (seq, allowed_cutoffs(body)[0])
            for seq, body in later
            if any(s["school"] == school for s in body.get("seals", []))
        ]
        cutoff = max((c for _, c in erasing), default=None)
        stored = now.get(ids.get(school, -1), {})
        months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for day_text, count in seen.get("days", {}).items():
            day = date.fromisoformat(day_text)
            missing = count - stored.get(day, 0)
            if missing > 0 and (cutoff is None or day >= cutoff):
                months[day_text[:7]][0] += missing
                months[day_text[:7]][1] += count
        for month, (missing, had) in sorted(months.items()):
            out.append(_early_marks(school, month, missing, had, erasing, cutoff))
    return out


def _early_marks(
    school: str,
    month: str,
    missing: int,
    had: int,
    erasing: list[tuple[int, date]],
    cutoff: date | None,
) -> Breach:
    gone = f"{missing} of the {had} marks of {school} dated in {month} are gone since the checkpoint"
    if cutoff is None:
        return Breach(f"marks of {school}", None, "marks_deleted",
                      f"{gone}, and no retention run since took marks from {school}")  # fmt: skip
    run = max(seq for seq, _ in erasing)
    return Breach(
        "records of retention", run, FORGED,
        f"run {run}: {gone}, but no run since could erase marks dated on or after "
        f"{cutoff.isoformat()} (six years from each mark's date, or the policy's longer term)",
    )  # fmt: skip


def _chain_school(chain: str) -> str | None:
    if chain.startswith("case:"):
        return chain[len("case:") :].split("/")[0]
    return chain[len("school:") :] if chain.startswith("school:") else None


def _record_chain(
    conn: Connection, chain: str, length: int, head: str, now: tuple[int, str] | None
) -> list[Breach]:
    from escalation_flow.adapters.store.records import record_hash_at

    where = f"records of {chain}"
    if now is None or now[0] < length:
        held = 0 if now is None else now[0]
        return [
            Breach(where, length, "truncated",
                   f"the chain holds {held} records; at the checkpoint it held {length}")
        ]  # fmt: skip
    if record_hash_at(conn, chain, length) != head:
        return [
            Breach(where, length, "rewritten",
                   "not the record the checkpoint saw here: the chain was rewritten")
        ]  # fmt: skip
    return []


# -- what a checkpoint holds -----------------------------------------------------------------------


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _schools(conn: Connection) -> dict[str, dict[str, Any]]:
    counts = mark_counts(conn)
    days = marks_by_day(conn)
    return {
        key: {
            "seals": [s.hash for s in load_seals(conn, sid, key)],
            "marks": counts.get(sid, 0),
            "days": {d.isoformat(): n for d, n in sorted(days.get(sid, {}).items())},
        }
        for key, sid in sorted(school_ids(conn).items())
    }


def _letters(conn: Connection) -> dict[int, list[str | None]]:
    """Each letter as [case, sha256 of its HTML, sha256 of its PDF or None, sha256 of who
    approved and sent it and when, or None while nobody has]."""
    return {
        lid: [
            case,
            _sha(html.encode("utf-8")),
            None if pdf is None else _sha(pdf),
            _approval(approval),
        ]
        for lid, case, html, pdf, approval in letter_contents(conn)
    }


def _approval(approval: Approval) -> str | None:
    if all(v is None for v in approval):
        return None
    plain = [
        None if v is None else (v.isoformat() if isinstance(v, datetime) else v) for v in approval
    ]
    return _sha(canonical_json(plain).encode("utf-8"))


def _tasks(conn: Connection) -> dict[int, list[str]]:
    """Each task as [case, status, sha256 of its completion]."""
    return {
        tid: [case, done[0], _sha(canonical_json(_completion(done)).encode("utf-8"))]
        for tid, (case, done) in task_completions(conn).items()
    }


def _completion(done: Completion) -> list[str | None]:
    status, by, at, outcome = done
    return [status, by, None if at is None else instant_text(at), outcome]


# -- checked against the store ---------------------------------------------------------------------


def _cases(conn: Connection, then: list[dict[str, Any]], runs: Erasures) -> list[Breach]:
    now = {(school, pupil): (cid, length) for cid, school, pupil, length, _ in case_heads(conn)}
    out = []
    for case in then:
        name = f"{case['school']}/{case['pupil']}"
        found = now.get((case["school"], case["pupil"]))
        if found is None and _erased_as_seen(case, runs):
            continue
        if found is None:
            out.append(
                Breach(name, None, "case_deleted",
                       f"the case (with {case['length']} records) is gone since the checkpoint")
            )  # fmt: skip
            continue
        cid, length = found
        seq = case["length"]
        stored = record_hash(conn, cid, seq) if seq else None
        if seq and stored is None:
            out.append(
                Breach(name, seq, "truncated",
                       f"the history holds {length} records; at the checkpoint it held {seq}")
            )  # fmt: skip
        elif seq and stored != case["head"]:
            out.append(
                Breach(name, seq, "rewritten",
                       "not the record the checkpoint saw here: the history was rewritten")
            )  # fmt: skip
    return out


def _erased_as_seen(case: Mapping[str, Any], runs: Erasures) -> bool:
    """A retention run erased this case as the checkpoint saw it (or longer, its history having
    grown since: the run checked that history's chain before it erased it)."""
    erased = runs.cases.get(int(case["id"]))
    if erased is None:
        return False
    length, head = erased
    return length > int(case["length"]) or (length == int(case["length"]) and head == case["head"])


def _marks(
    conn: Connection, then: Mapping[str, Mapping[str, Any]], erased: Mapping[str, int]
) -> list[Breach]:
    ids = school_ids(conn)
    counts = mark_counts(conn)
    out = []
    for school, seen in sorted(then.items()):
        sid = ids.get(school)
        hashes = [s.hash for s in load_seals(conn, sid, school)] if sid is not None else []
        for seq, sealed in enumerate(seen["seals"], start=1):
            if seq > len(hashes):
                what = "is gone since the checkpoint"
            elif hashes[seq - 1] != sealed:
                what = "is not the seal the checkpoint saw"
            else:
                continue
            out.append(Breach(f"seals of {school}", seq, "seal_changed", f"seal {seq} {what}"))
        count = counts.get(sid, 0) if sid is not None else 0
        if count + erased.get(school, 0) < seen["marks"]:
            out.append(
                Breach(f"marks of {school}", None, "marks_deleted",
                       f"{count} marks stored; at the checkpoint there were {seen['marks']}")
            )  # fmt: skip
    return out


def _letter(lid: int, then: list[Any], now: list[Any] | None) -> list[Breach]:
    where = f"letter {lid} ({then[0]})"
    if now is None:
        return [Breach(where, None, "letter_deleted", "the letter is gone since the checkpoint")]
    out = []
    if now[1] != then[1]:
        out.append(Breach(where, None, "letter_edited", "its HTML changed since the checkpoint"))
    if then[2] is not None and now[2] != then[2]:
        out.append(Breach(where, None, "letter_edited", "its PDF changed since the checkpoint"))
    # approving and sending come after a checkpoint; who did either, once recorded, stays
    approved_then = then[3] if len(then) > 3 else None
    if approved_then is not None and now[3] != approved_then:
        out.append(
            Breach(where, None, "letter_approval_edited",
                   "who approved or sent it, or when, changed since the checkpoint")
        )  # fmt: skip
    return out


def _task(tid: int, then: list[str], now: list[str] | None) -> list[Breach]:
    where = f"task {tid} ({then[0]})"
    if now is None:
        return [Breach(where, None, "task_deleted", "the task is gone since the checkpoint")]
    if then[1] != OPEN and now[2] != then[2]:
        return [
            Breach(where, None, "task_edited",
                   f"its completion ({then[1]} at the checkpoint) changed since: now {now[1]}")
        ]  # fmt: skip
    return []
