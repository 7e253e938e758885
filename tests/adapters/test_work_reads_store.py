"""The worklist's read of many schools at once (``PageReads.work_tasks``), on SQLite and
PostgreSQL: the open tasks ``Service.tasks`` reads, with the roster's names and year groups and
the pupil's open case (as ``open_cases`` lists it) beside each."""

from __future__ import annotations

from escalation_flow.adapters.store.page_reads import SqlPageReads
from escalation_flow.service import Service
from tests.adapters import test_case_store as base
from tests.daemon_builders import SCHOOL

template, clock, service = base.template, base.clock, base.service


def test_the_worklist_reads_the_open_tasks_with_their_pupils_names(service: Service) -> None:
    reads = SqlPageReads(service.store)
    found = reads.work_tasks([SCHOOL])
    views = {v.id: v for v in service.tasks(SCHOOL)}
    assert views and sorted(w.id for w in found[SCHOOL]) == sorted(views)
    roster = service.store.load_roster(SCHOOL).pupils
    for w in found[SCHOOL]:
        v = views[w.id]
        assert (w.school, w.pupil, w.task, w.role, w.due, w.letter_id, w.letter_status) == (
            v.school, v.pupil, v.task, v.role, v.due, v.letter_id, v.letter_status
        )  # fmt: skip
        record = roster.get(w.pupil)
        if record is not None:
            assert (w.forename or "", w.surname or "") == (record.forename, record.surname)
    cases = {c.pupil: c for c in reads.open_cases(SCHOOL)}
    for w in found[SCHOOL]:
        case = cases.get(w.pupil)
        expected = (case.stage, case.state, case.flow_version) if case else (None, None, None)
        assert (w.case_stage, w.case_state, w.case_version) == expected
