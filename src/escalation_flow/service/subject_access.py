"""Subject access requests: gather what is held about a pupil or a contact into a draft.

The use case reads (roster, marks and their amendments, the case's history, its tasks, letters,
penalty notices, contacts, the staff audit log's entries about the pupil) and writes each item
through ``core.subject_access.DraftWriter``, which redacts third parties and flags what the data
protection officer must judge. Which records are safeguarding records is the pages' rule
(``web.safeguarding``): it is handed in with the reads (``SubjectReads``), so that the service
imports no page, and a restricted record is passed to the writer as "withheld" before any of
its words are read.

Nothing here releases anything: the draft is written by the caller, and the run recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from escalation_flow.core.contacts import ContactVersion, as_known_at
from escalation_flow.core.definition import Flow
from escalation_flow.core.marks import PupilRecord
from escalation_flow.core.subject_access import (
    AuditLine,
    Draft,
    DraftWriter,
    Flagged,
    Redacted,
    SessionMarks,
    SubjectKind,
    contact_secrets,
    pupil_secrets,
)
from escalation_flow.errors import EscalationFlowError, NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.service.service import Service
from escalation_flow.service.views import CaseView, LetterView


class SubjectReads(Protocol):
    """What the gathering reads beyond the service (composed by the caller)."""

    def letters_of(self, school: str, pupil: str) -> list[LetterView]: ...

    def marks_of(self, school: str, pupil: str) -> list[SessionMarks]: ...

    def audit_about(self, school: str, pupil: str) -> list[AuditLine]: ...

    def tasks_without_case(self, school: str, pupil: str) -> list[Any]:
        """The pupil's tasks of no case (the first-day calls), as task rows."""
        ...

    def restricted_events(self, flow: Flow, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        """For each history event, whether it is a safeguarding record."""
        ...

    def is_safeguarding_task(self, role: str, task: str) -> bool: ...

    def is_safeguarding_action(self, action: str, detail: str | None) -> bool:
        """Whether an audit-log entry is about a safeguarding record (a view of one)."""
        ...


#: The audit-log action a subject access run is recorded under.
AUDIT_ACTION = "subject_access"


class SubjectAccess:
    """Drafts for the data protection officer: one per pupil or contact asked about."""

    def __init__(self, service: Service, reads: SubjectReads) -> None:
        self.service = service
        self.reads = reads

    # -- a pupil ---------------------------------------------------------------------------------

    def pupil(self, school: str, pupil: str, by: str) -> Draft:
        """Everything held about ``pupil`` at ``school``; NotFoundError if nothing is."""
        key = self.service.setup(school).school
        rosters = self._rosters()
        record = rosters.get((key, pupil))
        marks = self.reads.marks_of(key, pupil)
        contacts = self._all_contacts()
        mine = [c for c in contacts if (c.school, c.pupil) == (key, pupil)]
        if record is None and not marks and not mine:
            raise NotFoundError(
                f"pupil {pupil!r} is not known at school {key}: no roster entry, marks or "
                "contacts (check the id with `escalation-flow case list` or the roster)"
            )
        siblings = set(self.service.families.families().siblings(key, pupil))
        secrets = contact_secrets(contacts) + pupil_secrets(
            rosters.values(), subject={(key, pupil)}, siblings=siblings
        )
        w = DraftWriter(secrets)
        self._roster_section(w, key, pupil, record)
        self._contacts_section(w, mine)
        self._siblings_section(w, key, sorted(siblings))
        self._marks_section(w, marks)
        case = self._case(key, pupil)
        self._case_sections(w, key, pupil, case)
        self._notices_section(w, key, pupil, {c.contact: c.name for c in mine})
        self._audit_section(w, key, pupil)
        name = _name(record) or pupil
        return w.draft(SubjectKind.PUPIL, f"{key}/{pupil}", name, by, self.service.now())

    # -- a contact -------------------------------------------------------------------------------

    def contact_versions(self, contact: str) -> list[ContactVersion]:
        """Every version of every row of ``contact``; NotFoundError if there is none."""
        found = [c for c in self._all_versions() if c.contact == contact]
        if not found:
            raise NotFoundError(
                f"contact {contact!r} is not in the contacts (ids as the contacts CSV gives "
                "them, e.g. C-7002; see `escalation-flow contacts show SCHOOL PUPIL`)"
            )
        return found

    def contact(self, contact: str, by: str) -> Draft:
        """What is held about one parent or carer: their contact records, the letters addressed
        to them, the penalty notices issued to them; their children are flagged, not included."""
        versions = self.contact_versions(contact)
        contacts = self._all_contacts()
        children = sorted({c.pupil_key for c in as_known_at(versions)})
        rosters = self._rosters()
        others = [c for c in contacts if c.pupil_key in set(children)]
        secrets = contact_secrets(others, requester=contact) + pupil_secrets(
            rosters.values(), subject=set(children), siblings=set()
        )
        w = DraftWriter(secrets)
        w.section("Contact records", "Every version the MIS recorded, oldest first.")
        for v in sorted(versions, key=lambda v: (v.recorded_at, v.school, v.pupil)):
            w.line(_contact_record(v), f"contact record for {v.school}/{v.pupil}")
        for v in as_known_at(versions):
            if v.may_be_contacted is False:  # the reply itself must be sent with care
                w.flag(Flagged.DO_NOT_CONTACT, f"contact record for {v.school}/{v.pupil}")
        self._contact_letters(w, contact, children)
        self._contact_notices(w, contact)
        self._children_section(w, versions, rosters)
        name = versions[-1].name
        return w.draft(SubjectKind.CONTACT, contact, name, by, self.service.now())

    def audit_note(self, draft: Draft, by: str, out: str) -> AuditNote:
        """The staff audit-log entry of a run: who, whom about, where written, the counts."""
        counts = ", ".join(f"{k} {v}" for k, v in draft.counts().items())
        detail = f"{draft.kind} {draft.subject}: draft written to {out} ({counts})"
        return AuditNote(actor=by, action=AUDIT_ACTION, detail=detail)

    def record(self, draft: Draft, by: str, out: str) -> None:
        """The run, in the staff audit log (its hash chain: ``audit verify`` checks it)."""
        school, pupil = (
            draft.subject.split("/", 1) if draft.kind is SubjectKind.PUPIL else (None, None)
        )
        with self.service.store.begin() as tx:
            tx.audit(
                self.audit_note(draft, by, out), self.service.now(), school=school, pupil=pupil
            )

    # -- pupil sections --------------------------------------------------------------------------

    def _roster_section(
        self, w: DraftWriter, school: str, pupil: str, record: PupilRecord | None
    ) -> None:
        w.section("The pupil", "As the school's roster holds it.")
        w.line(f"MIS id {pupil} at {school}", "roster")
        if record is None:
            w.line("no roster entry is held (marks or contacts only)", "roster")
            return
        w.line(f"Name: {_name(record) or '(not held)'}", "roster")
        w.line(f"Year group: {record.year_group or '(not held)'}", "roster")
        w.line(f"Date of birth: {record.date_of_birth or '(not held)'}", "roster")
        w.line(f"Admitted: {record.admitted or '(not held)'}", "roster")
        if record.left:
            w.line(f"Left: {record.left}", "roster")

    def _contacts_section(self, w: DraftWriter, mine: list[ContactVersion]) -> None:
        w.section(
            "Contacts",
            "Parents and carers held for the pupil, every version. Their addresses, emails and "
            "telephone numbers are theirs, not the pupil's, and are redacted.",
        )
        if not mine:
            w.line("no contacts are held", "contacts")
        for c in sorted(mine, key=lambda c: (c.recorded_at, c.contact)):
            where = f"contact {c.contact} recorded {c.recorded_at:%Y-%m-%d}"
            w.line(_contact_record(c), where)
        for c in as_known_at(mine):
            if c.lives_with_pupil:
                w.flag(Flagged.HOME_ADDRESS, f"contact {c.contact} ({c.name})")
            if c.may_be_contacted is False:
                w.flag(Flagged.DO_NOT_CONTACT, f"contact {c.contact} ({c.name})")

    def _siblings_section(
        self, w: DraftWriter, school: str, siblings: list[tuple[str, str]]
    ) -> None:
        w.section(
            "Siblings",
            "The school links brothers and sisters through a shared parent. Each is a data "
            "subject in their own right: only that a link is held is shown.",
        )
        if not siblings:
            w.line("no siblings are linked", "siblings")
        for n, (at, _pupil) in enumerate(siblings, 1):
            where = "at this school" if at == school else "at another school of the trust"
            w.redacted(Redacted.SIBLING, f"sibling {n}", f"a sibling {where}: ")

    def _marks_section(self, w: DraftWriter, marks: list[SessionMarks]) -> None:
        w.section(
            "Attendance marks",
            "Every register mark held, as known now; an amended mark lists every version.",
        )
        if not marks:
            w.line("no marks are held", "marks")
        for m in marks:
            line = f"{m.day:%a %d %b %Y} {m.session}: {m.code} ({_meaning(m.code)})"
            if m.versions:
                history = "; ".join(
                    f"{code} recorded {at:%Y-%m-%d %H:%M} UTC" + (f" by {who}" if who else "")
                    for code, at, who in m.versions
                )
                line += f"; amended: {history}"
            w.line(line, f"mark {m.day} {m.session}")

    def _case(self, school: str, pupil: str) -> CaseView | None:
        try:
            return self.service.case(school, pupil)
        except NotFoundError:
            return None

    def _flow_of(self, school: str, version: str) -> Flow:
        try:
            return self.service.setup_at(school, version).flow
        except EscalationFlowError:  # a version not kept: the school's flow names the records
            return self.service.setup(school).flow

    def _case_sections(
        self, w: DraftWriter, school: str, pupil: str, case: CaseView | None
    ) -> None:
        w.section("Attendance case", "The case's history in words, oldest first.")
        if case is None:
            w.line("no attendance case has been opened", "case")
            self._tasks_section(w, school, pupil, None)
            self._letters_section(w, school, pupil, {})
            return
        flow = self._flow_of(school, case.flow_version)
        events = [dict(h.event) for h in case.history]
        restricted = self.reads.restricted_events(flow, events)
        states = {str(e.get("state")) for e, r in zip(events, restricted, strict=True) if r}
        where_now = f"stage {case.stage} ({case.state})"
        if case.state in states:
            w.line(f"Case {case.status}; its current stage is withheld (below)", "case")
            w.withheld("the case's current stage", "Current stage: ")
        else:
            w.line(f"Case {case.status}, {where_now}, flow {case.flow}", "case")
        for h, r in zip(case.history, restricted, strict=True):
            where = f"history record {h.seq} ({h.on})"
            if r:
                w.withheld(where, f"{h.on}: ")
            else:
                who = "" if h.actor == "engine" else f" [by {h.actor}]"
                event = dict(h.event)
                w.line(f"{h.on}: {describe(event)}{who}", where, free_fields(event))
        tasks = self._tasks_section(w, school, pupil, case.case_id)
        self._letters_section(w, school, pupil, tasks)

    def _tasks_section(
        self, w: DraftWriter, school: str, pupil: str, case_id: int | None
    ) -> dict[int, bool]:
        """The case's tasks and the pupil's first-day calls; which are safeguarding tasks, by
        task id."""
        w.section("Tasks and outcomes", "What staff were asked to do, and what they recorded.")
        rows = list(self.reads.tasks_without_case(school, pupil))
        if case_id is not None:
            with self.service.store.read() as tx:
                rows += list(tx.case_tasks(case_id))
        rows.sort(key=lambda t: (t.created_on, t.id))
        out: dict[int, bool] = {}
        for t in rows:
            out[int(t.id)] = self.reads.is_safeguarding_task(str(t.role), str(t.task))
            where = f"task {t.id} (created {t.created_on})"
            if out[int(t.id)]:
                w.withheld(where, f"task created {t.created_on}: ")
                continue
            text = f"{t.task} for {t.role}, created {t.created_on}, due {t.due}: {t.status}"
            free: list[str] = []
            if t.status == "done":
                text += f", outcome {t.outcome} by {t.completed_by} on {t.completed_at:%Y-%m-%d}"
                free += ["outcome"] if t.outcome else []
            if t.note:
                text += f"; staff note: {t.note}"
                free.append("staff note")
            if t.superseded_why:
                text += f" ({t.superseded_why})"
                free.append("reason")
            w.line(text, where, free)
        if not rows:
            w.line("no tasks", "tasks")
        return out

    def _letters_section(
        self, w: DraftWriter, school: str, pupil: str, safeguarding: Mapping[int, bool]
    ) -> None:
        from escalation_flow.letters.plain_text import letter_text

        w.section(
            "Letters",
            "Every letter prepared about the pupil, with its words (contacts' details redacted).",
        )
        letters = sorted(self.reads.letters_of(school, pupil), key=lambda v: v.id)
        if not letters:
            w.line("no letters", "letters")
        for v in letters:
            where = f"letter {v.id} ({v.prepared_at:%Y-%m-%d})"
            if safeguarding.get(v.task_id, False):
                w.withheld(where, f"letter prepared {v.prepared_at:%Y-%m-%d}: ")
                continue
            w.line(f"Letter {v.id}: {v.template}, {_letter_status(v)}", where)
            for paragraph in letter_text(v.html).split("\n"):
                if paragraph.strip():
                    w.line("    " + paragraph.strip(), where)

    def _notices_section(
        self, w: DraftWriter, school: str, pupil: str, names: Mapping[str, str]
    ) -> None:
        w.section("Penalty notices and notices to improve", "As the register holds them now.")
        notices = self.service.penalty_notices.notices(school, pupil)
        if not notices:
            w.line("none", "penalty notices")
        for n in notices:
            to = names.get(n.draft.parent, n.draft.parent)
            w.line(_notice_line(n, f"issued to {to}"), f"notice {n.notice}", _notice_free(n))

    def _audit_section(self, w: DraftWriter, school: str, pupil: str) -> None:
        w.section(
            "Who looked at and changed the pupil's records",
            "Entries of the staff audit log about the pupil.",
        )
        entries = self.reads.audit_about(school, pupil)
        if not entries:
            w.line("no entries", "audit log")
        for e in entries:
            where = f"audit log {e.at:%Y-%m-%d %H:%M}"
            if e.action == AUDIT_ACTION:  # its counts would tell of withheld records
                w.line(f"{e.at:%Y-%m-%d %H:%M} UTC {e.actor}: a subject access draft", where)
                continue
            if self.reads.is_safeguarding_action(e.action, e.detail):
                w.withheld(where, f"{e.at:%Y-%m-%d %H:%M} UTC {e.actor}: ")
                continue
            detail = f": {e.detail}" if e.detail else ""
            free = ("audit detail",) if e.detail else ()
            w.line(f"{e.at:%Y-%m-%d %H:%M} UTC {e.actor} {e.action}{detail}", where, free)

    # -- contact sections ------------------------------------------------------------------------

    def _contact_letters(
        self, w: DraftWriter, contact: str, children: list[tuple[str, str]]
    ) -> None:
        w.section(
            "Letters addressed to you",
            "Each letter's copy addressed to this contact, in its words.",
        )
        found = 0
        for school, pupil in children:
            tasks = self._task_roles(school, pupil)
            for v in sorted(self.reads.letters_of(school, pupil), key=lambda v: v.id):
                copies = self._copies(v.id)
                mine = [i for i, h in enumerate(copies) if contact in h]
                if not mine:
                    continue
                found += 1
                where = f"letter {v.id} ({v.prepared_at:%Y-%m-%d})"
                if tasks.get(v.task_id, False):
                    w.withheld(where, f"letter prepared {v.prepared_at:%Y-%m-%d}: ")
                    continue
                w.line(f"Letter {v.id} about {school}/{pupil}: {v.template}, {_letter_status(v)}",
                       where)  # fmt: skip
                if v.sent_at is None:
                    w.flag(Flagged.UNSENT_LETTER, where, f"it is {v.status}")
                for paragraph in self._copy_text(v, mine[0]).split("\n"):
                    if paragraph.strip():
                        w.line("    " + paragraph.strip(), where)
                if len(copies) > 1:
                    w.redacted(
                        Redacted.OTHER_HOUSEHOLD,
                        where,
                        f"    copies also went to {len(copies) - 1} other household(s): ",
                    )
        if not found:
            w.line("no letters were addressed to this contact", "letters")

    def _contact_notices(self, w: DraftWriter, contact: str) -> None:
        w.section("Penalty notices and notices to improve issued to you")
        notices = [n for n in self.service.penalty_notices.notices() if n.draft.parent == contact]
        if not notices:
            w.line("none", "penalty notices")
        for n in notices:
            line = _notice_line(n, f"about {n.draft.school}/{n.draft.pupil}")
            w.line(line, f"notice {n.notice}", _notice_free(n))

    def _children_section(
        self,
        w: DraftWriter,
        versions: list[ContactVersion],
        rosters: Mapping[tuple[str, str], PupilRecord],
    ) -> None:
        w.section(
            "Children",
            "Pupils this contact is recorded against. Their own records are not in this draft.",
        )
        for c in as_known_at(versions):
            record = rosters.get(c.pupil_key)
            who = f"{_name(record) or c.pupil} ({c.school}/{c.pupil})"
            pr = (
                "holds parental responsibility"
                if c.parental_responsibility
                else ("no parental responsibility recorded")
            )
            w.line(f"{who}: {c.relationship}, {pr}", f"child {c.school}/{c.pupil}")
            if c.parental_responsibility:
                w.flag(
                    Flagged.CHILD_DATA,
                    f"child {c.school}/{c.pupil}",
                    f"escalation-flow subject-access pupil {c.school} {c.pupil} --out DIR --by YOU",
                )

    # -- reads -----------------------------------------------------------------------------------

    def _rosters(self) -> dict[tuple[str, str], PupilRecord]:
        """Every school's roster: the names a note may mention, the subject's siblings'."""
        out: dict[tuple[str, str], PupilRecord] = {}
        for school in sorted(self.service.trust.schools):
            try:
                pupils = self.service.store.load_roster(school).pupils
            except NotFoundError:  # a school of the trust file not yet in the store
                continue
            for pupil, record in pupils.items():
                out[(school, pupil)] = record
        return out

    def _all_versions(self) -> list[ContactVersion]:
        return list(self.service.families.versions())

    def _all_contacts(self) -> list[ContactVersion]:
        """Every contact version: a third party's old address is as much theirs as a new one."""
        return self._all_versions()

    def _task_roles(self, school: str, pupil: str) -> dict[int, bool]:
        try:
            case = self.service.case(school, pupil)
        except NotFoundError:
            return {}
        with self.service.store.read() as tx:
            rows = list(tx.case_tasks(case.case_id))
        return {int(t.id): self.reads.is_safeguarding_task(str(t.role), str(t.task)) for t in rows}

    def _copies(self, letter_id: int) -> list[tuple[str, ...]]:
        from escalation_flow.letters.kept import addressees_of

        with self.service.store.read() as tx:
            row = tx.letter_row(letter_id)
        return [h.contacts for h in addressees_of(row.figures)]

    def _copy_text(self, v: LetterView, copy: int) -> str:
        """The words of the letter's copy ``copy`` (the household the contact is in)."""
        from escalation_flow.adapters.letter_rendering import render_html
        from escalation_flow.letters.kept import context_from_json
        from escalation_flow.letters.plain_text import letter_text

        if copy == 0:
            return letter_text(v.html)
        with self.service.store.read() as tx:
            row = tx.letter_row(v.id)
        flow = self.service.setup(v.school).flow.id
        ctx = context_from_json(row.figures)
        return letter_text(render_html(row.template, ctx, flow=flow, copy=copy))


# -- words -----------------------------------------------------------------------------------------


def describe(event: Mapping[str, Any]) -> str:
    """One history record in words (never called on a safeguarding record)."""
    e = event.get
    kind = str(e("type"))
    words: dict[str, Callable[[], str]] = {
        "case_opened": lambda: "case opened",
        "case_closed": lambda: "case closed",
        "stage_entered": lambda: f"entered stage {e('stage')} ({e('state')})",
        "state_entered": lambda: f"moved to {e('state')}",
        "task_created": lambda: f"task {e('task')} for {e('role')}, due {e('due')}",
        "task_completed": lambda: (
            f"task {e('task')} done: {e('outcome')}"
            + (f"; staff note: {e('note')}" if e("note") else "")
        ),
        "task_superseded": lambda: f"task {e('task')} no longer needed: {e('why')}",
        "timer_armed": lambda: f"review {e('timer')} set for {e('due')}",
        "timer_fired": lambda: f"review {e('timer')} came due",
        "timer_cancelled": lambda: f"review {e('timer')} cancelled",
        "event_recorded": lambda: (
            f"{e('event')} recorded"
            + (f": {e('outcome')}" if e("outcome") else "")
            + (f"; staff note: {e('note')}" if e("note") else "")
        ),
        "stage_overridden": lambda: (
            f"stage set to {e('stage')} by {e('by')}; reason given: {e('reason_text')}"
        ),
    }
    said = words.get(kind)
    return said() if said else kind.replace("_", " ")


#: The fields of a history record that hold what staff typed, and what the review calls them.
_FREE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "task_completed": (("outcome", "outcome"), ("note", "staff note")),
    "task_superseded": (("why", "reason"),),
    "event_recorded": (("outcome", "outcome"), ("note", "staff note")),
    "stage_overridden": (("reason_text", "reason"),),
}


def free_fields(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The free-text fields a history record holds (``describe`` writes them into its line)."""
    return tuple(
        label for key, label in _FREE_FIELDS.get(str(event.get("type")), ()) if event.get(key)
    )


def _notice_free(n: Any) -> tuple[str, ...]:
    return ("note",) if n.note else ()


def _name(record: PupilRecord | None) -> str:
    if record is None:
        return ""
    return " ".join(p for p in (record.forename, record.surname) if p)


def _contact_record(c: ContactVersion) -> str:
    """A contact row in words, with the details the writer redacts where they are not the
    requester's."""
    pr = "parental responsibility" if c.parental_responsibility else "no parental responsibility"
    lives = {True: "lives with the pupil", False: "lives elsewhere", None: ""}[c.lives_with_pupil]
    may = {True: "", False: "not to be contacted", None: ""}[c.may_be_contacted]
    parts = [f"{c.name} ({c.relationship} of {c.school}/{c.pupil}, contact {c.contact})", pr,
             lives, may]  # fmt: skip
    for label, value in (("address", c.address), ("email", c.email), ("telephone", c.telephone)):
        if value.strip():
            parts.append(f"{label} {' '.join(value.split())}")
    recorded = f"recorded {c.recorded_at:%Y-%m-%d %H:%M} UTC"
    return "; ".join(p for p in parts if p) + f" ({recorded})"


def _letter_status(v: LetterView) -> str:
    text = f"prepared {v.prepared_at:%Y-%m-%d}, {v.status}"
    if v.approved_by:
        text += f", approved by {v.approved_by}"
    if v.sent_at is not None:
        text += f", sent {v.sent_at:%Y-%m-%d}" + (f" by {v.sent_by}" if v.sent_by else "")
    return text


def _notice_line(n: Any, whom: str) -> str:
    d = n.draft
    amounts = ""
    if n.amounts is not None:
        amounts = f", {n.amounts}"
    note = f"; note: {n.note}" if n.note else ""
    return (
        f"Notice {n.notice} ({d.kind}), {whom}, issued {d.issued_on}, {len(d.sessions)} "
        f"sessions, status {n.status}{amounts}; recorded by {n.recorded_by}{note}"
    )


def _meaning(code: str) -> str:
    from escalation_flow.core.codes import CODES

    found = CODES.get(code)
    return found.meaning if found else "not a current code"
