"""Contacts in the store, on SQLite and PostgreSQL: every version kept, re-imports change
nothing, a contradiction at one instant is refused whole, and versions read back as written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.store import Store
from escalation_flow.core.contacts import as_known_at
from escalation_flow.errors import RegisterError
from tests.adapters import test_store as base

# the store's fixtures: a migrated SQLite database, and PostgreSQL when configured
blank, store, count = base.blank, base.store, base.count

HEAD = (
    "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,address,"
    "email,telephone,priority,may_be_contacted,recorded_at\n"
)
SEPT = datetime(2025, 9, 10, 18, tzinfo=UTC)
NOV = datetime(2025, 11, 10, 18, tzinfo=UTC)
MUM = "oaks,P1,C1,Ann Lee,mother,yes,yes,1 Oak Lane,ann@example.org,07700 900001,1,yes,"
DAD = "pines,Q1,C2,Bo Lee,father,yes,no,,,,2,no,2025-09-01T08:00:00+01:00"


def load(store: Store, tmp_path: Path, now: datetime, *rows: str) -> int:
    path = tmp_path / "contacts.csv"
    path.write_text(HEAD + "".join(r + "\n" for r in rows), encoding="utf-8")
    result = read_contacts(path, {"oaks", "pines"}, now=now)
    return store.import_contacts(result, now=now, by="test").imported


def test_contacts_are_kept_version_by_version_and_read_back_as_known_at(
    store: Store, tmp_path: Path
) -> None:
    assert load(store, tmp_path, SEPT, MUM, DAD) == 2
    assert load(store, tmp_path, NOV, MUM, DAD) == 0  # nothing new: nothing added
    moved = MUM.replace("1 Oak Lane", "9 Elm Road")
    assert load(store, tmp_path, NOV, moved, DAD) == 1
    versions = store.contact_versions()
    assert count(store, "contacts") == 3
    then = {c.contact: c for c in as_known_at(versions, SEPT)}
    now = {c.contact: c for c in as_known_at(versions, NOV)}
    assert then["C1"].address == "1 Oak Lane" and now["C1"].address == "9 Elm Road"
    dad = now["C2"]
    assert (dad.school, dad.lives_with_pupil, dad.may_be_contacted, dad.priority) == (
        "pines", False, False, 2,
    )  # fmt: skip
    assert dad.recorded_at == datetime(2025, 9, 1, 7, tzinfo=UTC)
    assert now["C1"].recorded_at == NOV and then["C1"].recorded_at == SEPT


def test_another_version_at_an_instant_already_stored_is_refused_and_nothing_is_written(
    store: Store, tmp_path: Path
) -> None:
    assert load(store, tmp_path, SEPT, DAD) == 1
    other = DAD.replace("Bo Lee", "Bob Lee")
    with pytest.raises(RegisterError) as caught:
        load(store, tmp_path, NOV, MUM, other)
    assert [(p.line, p.field) for p in caught.value.problems] == [(3, "recorded_at")]
    assert count(store, "contacts") == 1  # the good row of that file did not go in either
