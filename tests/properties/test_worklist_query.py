"""The worklist's query string and its pages, as properties: a link made from a query reads back
as the same query, and the pages of any selection cover it once each, in order."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qsl, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.pupil_search import Named, fold, search
from escalation_flow.ports import WorkTask
from escalation_flow.web.search import Pupil, build_index
from escalation_flow.web.task_query import PAGE_SIZES, SORTS, TaskQuery
from escalation_flow.web.work_rows import Scope, WorkRow, facets, select, work_page

_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)

queries = st.builds(
    TaskQuery,
    school=st.one_of(st.just(""), _WORD),
    year=st.sampled_from(["", "R", "1", "6", "11"]),
    stage=st.sampled_from(["", "1", "2", "5"]),
    role=st.sampled_from(["", "mine", "class_teacher", "attendance_lead"]),
    kind=st.sampled_from(["", "call", "letter"]),
    overdue=st.booleans(),
    sort=st.sampled_from(sorted(SORTS)),
    desc=st.booleans(),
    page=st.integers(1, 500),
    size=st.sampled_from(PAGE_SIZES),
)


@given(queries)
def test_a_link_reads_back_as_the_query_it_was_made_from(query: TaskQuery) -> None:
    link = query.link(page=query.page)
    assert TaskQuery.parse(dict(parse_qsl(urlsplit(link).query))) == query


@given(queries, st.sampled_from(["school", "sort", "overdue"]))
def test_changing_a_filter_or_the_order_goes_back_to_page_one(query: TaskQuery, what: str) -> None:
    change = {"school": "elsewhere", "sort": "pupil", "overdue": not query.overdue}[what]
    link = query.link(**{what: change})
    assert TaskQuery.parse(dict(parse_qsl(urlsplit(link).query))).page == 1


def _row(i: int, school: str, year: str, overdue: int, role: str) -> WorkRow:
    task = WorkTask(
        id=i, school=school, pupil=f"P{i:04}", task="call_home", role=role, kind="call",
        due=date(2025, 10, 1) + timedelta(days=i % 9), status="open", approval=False,
        created_on=date(2025, 9, 1), case_id=i, key=f"call_home#{i}", template=None,
        completed_by=None, completed_at=None, outcome=None, note=None, letter_id=None,
        letter_status=None, covers=None, forename=None, surname=None, year_group=year,
        case_stage=None, case_state=None, case_version=None,
    )  # fmt: skip
    return WorkRow(
        task=task, overdue_days=overdue, school_name=school, pupil_name=f"Pupil {i}", sort_name=f"pupil {i:04}",
        year_group=year, stage=1 + i % 3, stage_label="case at Stage 1", case_version="",
        title="Call home", mine=role == "class_teacher", hidden=False,
    )  # fmt: skip


rows = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["1", "2"]),
        st.integers(0, 3),
        st.sampled_from(["class_teacher", "attendance_lead"]),
    ),
    max_size=120,
).map(lambda specs: [_row(i, *spec) for i, spec in enumerate(specs)])


@given(rows, queries)
def test_the_pages_of_a_selection_cover_it_once_each_in_order(
    everything: list[WorkRow], query: TaskQuery
) -> None:
    whole = Scope(everything, facets(everything))
    chosen = select(everything, query)
    pages = work_page(whole, TaskQuery(**{**query.__dict__, "page": 1})).pages
    seen: list[int] = []
    for n in range(1, pages + 1):
        page = work_page(whole, TaskQuery(**{**query.__dict__, "page": n}))
        assert page.matched == len(chosen)
        assert len(page.rows) <= query.size
        seen += [r.view.id for r in page.rows]
    assert seen == [r.view.id for r in chosen]
    assert all(r.view.school == query.school for r in chosen) or not query.school
    assert all(r.view.overdue_days > 0 for r in chosen) or not query.overdue


names = st.text(alphabet="abcdeGül- ", min_size=0, max_size=10)


@given(
    st.lists(st.tuples(names, names), max_size=40),
    st.text("abcdeGül-p0", min_size=1, max_size=3),
)
def test_the_pages_find_the_pupils_the_command_lines_rule_finds(
    people: list[tuple[str, str]], typed: str
) -> None:
    """The index answers what ``core.pupil_search.search`` answers, only faster."""
    pupils = [Pupil("s1", f"p{i}", f, s, "3") for i, (f, s) in enumerate(people)]
    found = {p.pupil for p in build_index(pupils).find(typed)}
    named = [Named(p.pupil, p.name if p.name != p.pupil else "") for p in pupils]
    expected = {n.pupil for n in search(typed, named)} if fold(typed) else set()
    assert found == expected
