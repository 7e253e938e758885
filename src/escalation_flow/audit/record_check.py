"""The tables beside the history, checked against the chains that record them (chain format 2).

- A case's **tasks and timers** are written with the decisions that made, completed, superseded,
  armed, fired or cancelled them: each row must say what its case's history says (who
  completed a task, when, with what outcome and note; a timer's due day and ``fire_at``).
- A **letter**'s HTML, its PDF once rendered and its approval are later records on its case's
  chain (``adapters/store/records.py``): each must still give the digest recorded.
- A **task without a case**, once completed, and every **staff audit-log entry** are later
  records on the school's chain (or the trust's).
- Each later-record chain links as the case histories do: none edited, deleted or reordered.

So ``audit verify`` alone names an edited letter, ``completed_by``, note, timer or audit row;
the checkpoint (``audit/checkpoint.py``) anchors the chains' heads against a rewrite of their
ends. Pure: the rows come in, the problems go out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from escalation_flow.adapters.store.desk import ERASED
from escalation_flow.adapters.store.penalty_notices import PENALTY_NOTICE
from escalation_flow.adapters.store.projection_reads import LetterState, TaskState, TimerState
from escalation_flow.adapters.store.records import (
    AUDIT_ENTRY,
    LETTER_APPROVED,
    LETTER_ERASED,
    LETTER_PREPARED,
    LETTER_RENDERED,
    TASK_COMPLETED,
    StoredRecord,
    audit_digest,
    completion_body,
)
from escalation_flow.audit.verify import Breach
from escalation_flow.core.chain import (
    GENESIS,
    case_chain,
    instant_text,
    school_chain,
    sha256_bytes,
    sha256_text,
)
from escalation_flow.core.decisions import (
    ActionUndone,
    Decision,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
    TimerFired,
)
from escalation_flow.core.undo import superseded_why

# -- the later-record chains -----------------------------------------------------------------------


def check_record_chain(chain: str, rows: Sequence[StoredRecord]) -> list[Breach]:
    """Every way one chain of later records (in ``seq`` order) differs from what was written."""
    where = f"records of {chain}"
    out: list[Breach] = []
    previous, expected = GENESIS, 1
    for r in rows:
        if r.seq != expected:
            gone = ", ".join(str(s) for s in range(expected, r.seq)) or str(r.seq)
            out.append(Breach(where, expected, "record_deleted", f"record(s) {gone} missing"))
        if r.link().hash() != r.hash:
            out.append(
                Breach(where, r.seq, "record_edited",
                       f"{r.kind} of {r.subject}: changed after it was written")
            )  # fmt: skip
        elif r.prev_hash != previous:
            out.append(
                Breach(where, r.seq, "record_edited",
                       f"{r.kind} of {r.subject}: does not link to the record before it")
            )  # fmt: skip
        previous, expected = r.hash, r.seq + 1
    return out


def by_subject(chains: Mapping[str, Sequence[StoredRecord]]) -> dict[tuple[str, str], list[Any]]:
    """Each (chain, subject)'s records as (kind, parsed body), oldest first."""
    out: dict[tuple[str, str], list[Any]] = {}
    for chain, rows in chains.items():
        for r in rows:
            out.setdefault((chain, r.subject), []).append((r.kind, json.loads(r.body)))
    return out


# -- a case's tasks and timers against its history -------------------------------------------------


def check_case_rows(
    name: str,
    decisions: Iterable[Decision],
    tasks: Sequence[TaskState],
    timers: Sequence[TimerState],
) -> list[Breach]:
    """A case's ``tasks`` and ``timers`` rows against what its history says of them."""
    want_tasks: dict[str, dict[str, Any]] = {}
    want_timers: dict[str, dict[str, Any]] = {}
    # what each record left, so that an undo can put the rows back as its action found them
    states: list[tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = [({}, {})]
    for d in decisions:
        if isinstance(d, ActionUndone) and 0 < d.undoes < len(states):
            want_tasks, want_timers = _undone(d, states[-1 - d.undoes], want_tasks, want_timers)
        elif isinstance(d, TaskCreated):
            made = {"role": d.role, "approval": d.approval}
            want_tasks[d.task_key] = made | _task(d.due, "open", None, None, None, None, None)
        elif isinstance(d, TaskCompleted) and d.task_key in want_tasks:
            was = want_tasks[d.task_key]
            done = _task(was["due"], "done", d.by, d.at, d.outcome, d.note, None)
            want_tasks[d.task_key] = _made(was) | done
        elif isinstance(d, TaskSuperseded) and d.task_key in want_tasks:
            was = want_tasks[d.task_key]
            gone = _task(was["due"], "superseded", None, None, None, None, d.why)
            want_tasks[d.task_key] = _made(was) | gone
        elif isinstance(d, TimerArmed):
            want_timers[d.timer_key] = {"due": d.due, "fire_at": d.fire_at, "status": "pending"}
        elif isinstance(d, TimerFired | TimerCancelled) and d.timer_key in want_timers:
            status = "fired" if isinstance(d, TimerFired) else "cancelled"
            want_timers[d.timer_key] = {**want_timers[d.timer_key], "status": status}
        states.append((dict(want_tasks), dict(want_timers)))
    out = []
    for t in tasks:
        now = {"role": t.role, "approval": bool(t.approval)} | _task(
            t.due, t.status, t.completed_by, t.completed_at, t.outcome, t.note, t.superseded_why
        )
        out += _compare(
            name, f"task {t.id} ({t.key})", "task_edited", want_tasks.pop(t.key, None), now
        )
    out += [
        Breach(name, None, "task_deleted", f"task {key}: in the history, gone from the tasks")
        for key in sorted(want_tasks)
    ]
    for m in timers:
        now = {"due": m.due, "fire_at": m.fire_at, "status": m.status}
        out += _compare(
            name, f"timer {m.id} ({m.key})", "timer_edited", want_timers.pop(m.key, None), now
        )
    out += [
        Breach(name, None, "timer_deleted", f"timer {key}: in the history, gone from the timers")
        for key in sorted(want_timers)
    ]
    return out


def _undone(
    d: ActionUndone,
    before: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
    tasks: dict[str, dict[str, Any]],
    timers: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The rows after an undo: as the action found them; what it made, superseded or
    cancelled."""
    old_tasks, old_timers = dict(before[0]), dict(before[1])
    for key in tasks.keys() - old_tasks.keys():
        was = tasks[key]
        old_tasks[key] = _made(was) | _task(
            was["due"], "superseded", None, None, None, None, superseded_why(d)
        )
    for key in timers.keys() - old_timers.keys():
        old_timers[key] = {**timers[key], "status": "cancelled"}
    return old_tasks, old_timers


def _made(task: Mapping[str, Any]) -> dict[str, Any]:
    """What a task was made with (``task_created``): it never changes after."""
    return {"role": task["role"], "approval": task["approval"]}


def _task(*values: Any) -> dict[str, Any]:
    names = ("due", "status", "completed_by", "completed_at", "outcome", "note", "superseded_why")
    return dict(zip(names, values, strict=True))


def _compare(
    name: str, what: str, kind: str, want: Mapping[str, Any] | None, now: Mapping[str, Any]
) -> list[Breach]:
    if want is None:
        added = kind.replace("_edited", "_added")
        return [Breach(name, None, added, f"{what}: not made by any record of the history")]
    wrong = [k for k in want if want[k] != now[k]]
    if not wrong:
        return []
    said = "; ".join(
        f"{k} is {_plain(now[k])!r} but the history says {_plain(want[k])!r}" for k in wrong
    )
    return [Breach(name, None, kind, f"{what}: {said}")]


def _plain(value: Any) -> Any:
    return instant_text(value) if hasattr(value, "tzinfo") and hasattr(value, "hour") else value


# -- letters, tasks without a case, the audit log --------------------------------------------------


def check_letter(
    letter: LetterState, recorded: Sequence[Any], sent: TaskState | None
) -> list[Breach]:
    """One letter against its later records (and, once sent, its task's completion)."""
    where = f"letter {letter.id} ({letter.school}/{letter.pupil})"
    kinds = {kind: body for kind, body in recorded}
    prepared = kinds.get(LETTER_PREPARED)
    if prepared is None:
        return [
            Breach(
                where, None, "letter_added", "no record prepared it: written outside the service"
            )
        ]
    if LETTER_ERASED in kinds:  # erased on purpose: the digests stay, the text is the placeholder
        out = _erased(where, letter)
    else:
        out = _content(where, letter, prepared, kinds.get(LETTER_RENDERED))
    approved = kinds.get(LETTER_APPROVED)
    now = None if letter.approved_by is None else [letter.approved_by, _at(letter.approved_at)]
    then = None if approved is None else [approved["by"], approved["at"]]
    if now != then:
        out.append(
            Breach(where, None, "letter_approval_edited",
                   f"approved by {now!r}, but its records say {then!r}")
        )  # fmt: skip
    if letter.sent_by is not None and (
        sent is None or [sent.completed_by, sent.completed_at] != [letter.sent_by, letter.sent_at]
    ):
        out.append(
            Breach(where, None, "letter_approval_edited",
                   "who sent it, or when, is not what its task's completion records")
        )  # fmt: skip
    return out


def _erased(where: str, letter: LetterState) -> list[Breach]:
    """An erased letter holds the placeholder and no PDF: anything else was written after the
    erasure (a forged ``letter_erased`` record hiding a rewritten letter)."""
    if letter.html == ERASED and letter.pdf is None:
        return []
    return [
        Breach(where, None, "letter_edited",
               "erased, but it holds text or a PDF other than the erasure placeholder")
    ]  # fmt: skip


def _content(
    where: str, letter: LetterState, prepared: Mapping[str, Any], rendered: Mapping[str, Any] | None
) -> list[Breach]:
    out = []
    if sha256_text(letter.html) != prepared["html_sha256"]:
        out.append(Breach(where, None, "letter_edited", "its HTML is not the HTML prepared"))
    if letter.pdf is not None and (
        rendered is None or sha256_bytes(letter.pdf) != rendered["pdf_sha256"]
    ):
        out.append(Breach(where, None, "letter_edited", "its PDF is not the PDF rendered"))
    if letter.pdf is None and rendered is not None:
        out.append(Breach(where, None, "letter_edited", "its rendered PDF is gone"))
    return out


def _at(value: Any) -> str | None:
    return None if value is None else instant_text(value)


def check_letters(
    letters: Sequence[LetterState],
    subjects: Mapping[tuple[str, str], list[Any]],
    tasks: Mapping[int, TaskState],
    chains: Iterable[str],
) -> list[Breach]:
    out: list[Breach] = []
    seen = set()
    for letter in letters:
        chain = case_chain(letter.school, letter.pupil)
        seen.add((chain, f"letter {letter.id}"))
        out += check_letter(
            letter, subjects.get((chain, f"letter {letter.id}"), []), tasks.get(letter.task_id)
        )
    for chain in chains:
        out += [
            Breach(f"{subject} ({chain[len('case:'):]})", None, "letter_deleted",
                   "recorded as prepared, gone from the letters")
            for (c, subject), rows in sorted(subjects.items())
            if c == chain and subject.startswith("letter ") and (c, subject) not in seen
            and any(kind == LETTER_PREPARED for kind, _ in rows)
        ]  # fmt: skip
    return out


def check_loose_tasks(
    tasks: Sequence[TaskState], subjects: Mapping[tuple[str, str], list[Any]]
) -> list[Breach]:
    """Tasks without a case: each completion as its record on the school's chain says."""
    out = []
    for t in tasks:
        recorded = [
            b
            for k, b in subjects.get((school_chain(t.school), f"task {t.id}"), [])
            if k == TASK_COMPLETED
        ]
        where = f"task {t.id} ({t.school}/{t.pupil})"
        if t.status != "done":
            if recorded:
                out.append(Breach(where, None, "task_edited", f"recorded as done, now {t.status}"))
            continue
        now = completion_body(t.id, t.status, t.completed_by, t.completed_at, t.outcome, t.note)
        if not recorded:
            out.append(Breach(where, None, "task_edited", "done, but no record completed it"))
        elif now != recorded[-1]:
            wrong = ", ".join(k for k in now if now[k] != recorded[-1].get(k))
            out.append(Breach(where, None, "task_edited", f"its completion changed ({wrong})"))
    return out


def check_audit_log(
    rows: Sequence[Mapping[str, Any]], subjects: Mapping[tuple[str, str], list[Any]]
) -> list[Breach]:
    """Every staff audit-log row as its record says; a record without its row is a deletion."""
    out = []
    recorded: dict[str, tuple[str, str]] = {}
    for (chain, subject), entries in subjects.items():
        for kind, body in entries:
            if kind == AUDIT_ENTRY:
                recorded[subject] = (chain, body["sha256"])
    for row in rows:
        subject = f"audit {row['id']}"
        found = recorded.pop(subject, None)
        where = f"audit log entry {row['id']}"
        if found is None:
            out.append(
                Breach(where, None, "audit_added", "no record wrote it: added outside the service")
            )
        elif found[0] != school_chain(row.get("school")) or found[1] != audit_digest(row):
            out.append(
                Breach(
                    where, None, "audit_edited", f"changed since it was written ({row['action']})"
                )
            )
    out += [
        Breach(f"audit log entry {subject.split()[1]}", None, "audit_deleted",
               f"recorded on {chain}, gone from the audit log")
        for subject, (chain, _) in sorted(recorded.items(), key=lambda kv: int(kv[0].split()[1]))
    ]  # fmt: skip
    return out


def check_penalty_notices(
    rows: Mapping[tuple[int, int], tuple[str, str]],
    subjects: Mapping[tuple[str, str], list[Any]],
) -> list[Breach]:
    """Every version in the penalty-notice register as its record on the school's chain says:
    ``rows`` maps (notice, version) to (school, digest of the row as stored now)."""
    out = []
    recorded: dict[tuple[int, int], tuple[str, str]] = {}
    for (chain, _), entries in subjects.items():
        for kind, body in entries:
            if kind == PENALTY_NOTICE:
                recorded[(int(body["notice"]), int(body["version"]))] = (chain, body["row"])
    for key, (school, digest) in sorted(rows.items()):
        where = f"penalty notice {key[0]} version {key[1]} ({school})"
        found = recorded.pop(key, None)
        if found is None:
            out.append(Breach(where, None, "penalty_notice_added", "no record wrote it"))
        elif found != (school_chain(school), digest):
            out.append(Breach(where, None, "penalty_notice_edited", "changed since it was written"))
    out += [
        Breach(f"penalty notice {n} version {v}", None, "penalty_notice_deleted",
               f"recorded on {chain}, gone from the register")
        for (n, v), (chain, _) in sorted(recorded.items())
    ]  # fmt: skip
    return out
