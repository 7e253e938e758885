"""Letters prepared when a letter task is created: the pupil's own figures, the school's details.

A letter is prepared as HTML in the transaction that creates its task, and its whole context is
kept (``letters.figures``, JSON) so that the PDF, rendered later (``render_pdf``: about 50 ms a
letter, too slow to do for every letter inside a school day's evaluation), says exactly what the
HTML says. Nothing is ever sent: staff approve a letter and record it sent.

What a letter prints about the school comes from the trust file, which the loader has checked
gives every detail for a school whose flow sends letters (``adapters.trust_files``); nothing
stands in for a missing one. A school with ``letters: draft-only`` has its letters prepared as
DRAFT, with every missing detail shown as missing ("[telephone: not in the trust file]"), for
staff to read; they cannot be approved (``LetterDesk.approve``). A pupil without a name in the
roster gets no letter (the problem is logged and the task stands).

Each letter has a copy per household of the pupil's contacts with parental responsibility as
known at preparation (``letters.addressing``), kept in its context; a pupil with no such
contact gets one copy "To the parent or carer of <pupil>", flagged for the office to address.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from escalation_flow.adapters.letter_rendering import render_html, render_pdf
from escalation_flow.adapters.trust_files import SchoolConfig
from escalation_flow.core.contacts import as_known_at
from escalation_flow.core.definition import TaskKind
from escalation_flow.core.facts import FactTable
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.errors import Problem
from escalation_flow.letters.addressing import Household, households
from escalation_flow.letters.context import (
    CaseHistory,
    Contact,
    LetterContext,
    LetterContextError,
    LetterError,
    PenaltyNotices,
    Pupil,
    School,
    figures_from_facts,
)
from escalation_flow.letters.kept import context_from_json, context_to_json
from escalation_flow.ports import LETTER_PREPARED, CaseTransaction, CreatedTask, HistoryRow
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup, year_start

#: How a draft-only school's letter shows a detail its trust file does not give.
MISSING = "[{what}: not in the trust file]"


@dataclass(frozen=True)
class Prepared:
    task: CreatedTask
    letter_id: int | None  # None: the letter could not be prepared
    problem: str | None = None


def prepare_letters(
    tx: CaseTransaction,
    setup: SchoolSetup,
    register: RegisterAsKnown,
    facts: FactTable,
    created: Sequence[CreatedTask],
    now: datetime,
) -> list[Prepared]:
    """A ``letters`` row for each new letter task; a letter that cannot be prepared is left out
    (its task stands, and the problem is returned for the log)."""
    letters = [
        t for t in created if t.decision.kind == TaskKind.LETTER.value and t.decision.template
    ]
    if not letters:
        return []
    raw_pct = register.derived(
        "raw_attendance_pct", facts.day_index, lambda: _attendance_pct(register.counts, facts)
    )
    out: list[Prepared] = []
    rows: list[dict[str, Any]] = []
    # one read for the day's letters, not one a letter (a third of the letters' time), of
    # only the records ``case_history`` reads (half of a history's rows)
    histories = tx.histories({t.case_id for t in letters}, _TASK_RECORDS)
    known = as_known_at(tx.contacts_of(setup.school, {t.pupil for t in letters}), now)
    for task in letters:
        try:
            history = case_history(histories.get(task.case_id, []))
            addressees = tuple(households(c for c in known if c.pupil == task.pupil))
            ctx = letter_context(setup, register, facts, raw_pct, task, history, addressees)
            html = render_html(str(task.decision.template), ctx, flow=setup.flow.id)
        except LetterError as exc:
            # the summary and where in the template: the messages may quote the pupil's name,
            # which logs never hold
            places = ", ".join(f"{p.file}:{p.line}" if p.line else p.file for p in exc.problems)
            out.append(Prepared(task, None, f"{exc.summary} ({places})" if places else exc.summary))
            continue
        rows.append(
            {
                "task_id": task.id,
                "case_id": task.case_id,
                "template": task.decision.template,
                "status": LETTER_PREPARED,
                "html": html,
                "pdf": None,
                "figures": context_to_json(ctx),
                "prepared_at": now,
            }
        )
    if rows:
        ids = tx.insert_letters(rows)
        by_task = dict(zip((r["task_id"] for r in rows), ids, strict=True))
        out += [Prepared(t, by_task[t.id]) for t in letters if t.id in by_task]
    return out


def letter_context(
    setup: SchoolSetup,
    register: RegisterAsKnown,
    facts: FactTable,
    raw_pct: np.ndarray[Any, np.dtype[np.float64]],
    task: CreatedTask,
    history: CaseHistory | None = None,
    addressees: tuple[Household, ...] = (),
) -> LetterContext:
    cfg, case, decision = setup.config, task.after, task.decision
    i = facts.index(task.pupil)
    row = facts.row(task.pupil)
    if not math.isfinite(row.get("attendance_pct", math.nan)):
        # Too few sessions for the flow's percentages, yet a letter states the figure as it is.
        row["attendance_pct"] = float(raw_pct[i])
    record = register.roster.pupils.get(task.pupil)
    if record is None or not record.forename.strip() or not record.surname.strip():
        raise LetterContextError(
            "the roster gives no name for the pupil",
            [Problem("roster", None, "forename/surname", "a letter names the pupil")],
        )
    stage = case.stage if case.is_open else 0
    try:
        stage_name = setup.flow.stage(stage).name
    except KeyError:
        stage_name = ""
    reviews = [t.due for t in case.timers if t.due >= decision.on]
    return LetterContext(
        school=_school(cfg),
        pupil=Pupil(
            forename=record.forename.strip(),
            surname=record.surname.strip(),
            year_group=_year_group(record.year_group, draft=cfg.letters_draft_only),
            compulsory_school_age=row.get("compulsory_school_age", 1.0) == 1.0,
        ),
        figures=figures_from_facts(
            row,
            period_from=year_start(setup.calendar, facts.day_index),
            period_to=facts.as_of,
        ),
        stage=stage,
        stage_name=stage_name,
        letter_date=decision.on,
        contact=_person(cfg.attendance_contact, "attendance contact", cfg),
        signatory=_person(cfg.signatory, "signatory", cfg),
        addressees=addressees,
        draft=cfg.letters_draft_only,
        next_review=min(reviews) if reviews else None,
        history=history or CaseHistory(),
        penalty_notices=PenaltyNotices(**(cfg.penalty_notices or {})),
    )


#: the records ``case_history`` reads
_TASK_RECORDS = frozenset(("task_created", "task_completed"))


def case_history(rows: Sequence[HistoryRow]) -> CaseHistory:
    """The tasks completed and the letters sent in a case, from its history (oldest first)."""
    templates: dict[str, str] = {}
    letters: list[str] = []
    tasks: list[str] = []
    for row in rows:
        if row.type not in _TASK_RECORDS:
            # (the row's type is its body's: both are written from the decision, and its hash
            # covers both) a day's letters read thousands of records, and parsing each body
            # was half the price
            continue
        event = row.event
        if event.get("type") == "task_created" and event.get("template"):
            templates[str(event["task_key"])] = str(event["template"])
        elif event.get("type") == "task_completed":
            tasks.append(str(event["task"]))
            template = templates.get(str(event.get("task_key")))
            if template is not None:
                letters.append(template)
    return CaseHistory(letters_sent=tuple(letters), tasks_done=tuple(tasks))


def _school(cfg: SchoolConfig) -> School:
    return School(
        name=cfg.name,
        address_lines=cfg.address or (_missing("address", cfg),),
        phone=cfg.phone or _missing("telephone", cfg),
        email=cfg.email or _missing("email", cfg),
    )


def _person(value: dict[str, str] | None, what: str, cfg: SchoolConfig) -> Contact:
    if value:
        return Contact(name=value["name"], role=value["role"])
    return Contact(name=_missing(what, cfg), role=_missing(f"{what}'s role", cfg))


def _year_group(value: str, *, draft: bool) -> str:
    if value.strip():
        return value.strip()
    if draft:
        return "[year group: not in the roster]"
    raise LetterContextError(
        "the roster gives no year group for the pupil",
        [Problem("roster", None, "year_group", "a letter names the pupil's year group")],
    )


def _missing(what: str, cfg: SchoolConfig) -> str:
    """A draft's visible gap; any other school without the detail is a broken trust file."""
    if cfg.letters_draft_only:
        return MISSING.format(what=what)
    raise LetterContextError(
        f"the trust file gives school {cfg.id} no {what}",
        [Problem("trust file", None, what, "needed by every letter the school sends")],
    )


def _attendance_pct(
    counts: CumulativeCounts, facts: FactTable
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Year-to-date attendance without the flow's minimum of possible sessions (NaN: none)."""
    cal = counts.calendar
    first = 2 * cal.year_of(facts.day_index).first
    window = counts.counts_between(first, 2 * facts.day_index + 1)
    return window.attendance_pct(min_possible_sessions=1)


def pdf_of(template: str, figures_json: str, flow: str, copy: int | None = None) -> bytes:
    """The PDF of a prepared letter, from the context kept with it: every household's copy, or
    the one ``copy`` (its index in ``letters.kept.addressees_of``), e.g. for its email."""
    return render_pdf(template, context_from_json(figures_json), flow=flow, copy=copy)
