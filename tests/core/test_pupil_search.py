"""Finding a pupil by what a member of staff types: a prefix of the id or of any name, any case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.marks import PupilRecord
from escalation_flow.core.pupil_search import Named, full_name, matches, search

PUPILS = [
    Named("S01-P0001", "Ava Wood"),
    Named("S01-P0010", "Amira Khan"),
    Named("S01-P0011", "Noah Smith-Jones"),
    Named("S01-P0012", "Zoë Öztürk"),
    Named("S01-P0100", ""),  # not on the roster
]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("kha", ["S01-P0010"]),  # a surname's start
        ("AVA", ["S01-P0001"]),  # any case
        ("ava w", ["S01-P0001"]),  # the whole name's start
        ("jones", ["S01-P0011"]),  # a hyphenated surname's second part
        ("smith-j", ["S01-P0011"]),
        ("s01-p001", ["S01-P0010", "S01-P0011", "S01-P0012"]),  # an id's start
        ("S01-P0001", ["S01-P0001"]),  # an exact id alone, not also S01-P00010...
        ("  amira   KHAN ", ["S01-P0010"]),  # spaces as typed
        ("wood ava", []),  # the words in another order are not the name's start
        ("oah", []),  # inside a word is not a start
        ("zoe", ["S01-P0012"]),  # without the accent typed
        ("ZOË", ["S01-P0012"]),
    ],
)
def test_a_query_finds_the_pupils_whose_id_or_a_name_starts_with_it(
    query: str, found: list[str]
) -> None:
    assert [p.pupil for p in search(query, PUPILS)] == found


def test_an_empty_query_finds_everyone() -> None:
    assert search("", PUPILS) == PUPILS


def test_a_name_is_forename_then_surname_and_empty_without_a_roster_row() -> None:
    assert full_name(PupilRecord("s", "P1", forename=" Ava ", surname="Wood")) == "Ava Wood"
    assert full_name(None) == ""


_word = st.text(st.characters(whitelist_categories=("Lu", "Ll")), min_size=1, max_size=8)


@given(forename=_word, surname=_word, pupil=st.from_regex(r"[A-Z0-9-]{1,10}", fullmatch=True),
       data=st.data())  # fmt: skip
def test_any_start_of_a_pupils_names_or_id_in_any_case_finds_them(
    forename: str, surname: str, pupil: str, data: st.DataObject
) -> None:
    name = f"{forename} {surname}"
    for whole in (forename, surname, name, pupil):
        cut = data.draw(st.integers(1, len(whole)))
        typed = whole[:cut]
        typed = typed.swapcase() if data.draw(st.booleans()) else typed
        assert matches(typed, pupil, name), (typed, pupil, name)
