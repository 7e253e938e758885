"""Who may be named as having acted: members of staff and the declared system actors only."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from escalation_flow.actors import (
    AUTO,
    ENGINE,
    Actors,
    daemon_worker,
    is_system_actor,
    new_username,
)
from escalation_flow.errors import ActionError, InputError


class Staff:
    def __init__(self, *usernames: str) -> None:
        self.usernames = set(usernames)
        self.asked: list[set[str]] = []

    def active_usernames(self, usernames: Iterable[str]) -> set[str]:
        names = set(usernames)
        self.asked.append(names)
        return names & self.usernames


@pytest.mark.parametrize("name", [ENGINE, AUTO])
def test_the_system_actors_pass_without_asking_the_staff_table(name: str) -> None:
    staff = Staff()
    assert Actors(staff).check(name) == name
    assert staff.asked == []


@pytest.mark.parametrize(
    "name", ["daemon:", "automatic", "Engine", daemon_worker("vm", 8154), "daemon:evil"]
)
def test_names_that_only_look_like_system_actors_are_not_them(name: str) -> None:
    assert not is_system_actor(name)
    with pytest.raises(ActionError, match="is not a member of staff"):
        Actors(Staff()).check(name)


def test_a_member_of_staff_passes_trimmed_and_a_stranger_is_told_how_to_be_added() -> None:
    actors = Actors(Staff("s.jones"))
    assert actors.check(" s.jones ") == "s.jones"
    with pytest.raises(ActionError) as refused:
        actors.check("s.jonse")
    assert "'s.jonse' is not a member of staff" in str(refused.value)
    assert "escalation-flow users add s.jonse --name NAME" in str(refused.value)


def test_unknown_asks_the_staff_table_once_for_every_name() -> None:
    staff = Staff("a", "b")
    assert Actors(staff).unknown(["a", "b", "c", AUTO, "c"]) == {"c"}
    assert staff.asked == [{"a", "b", "c"}]


def test_without_a_staff_table_only_the_form_of_a_name_is_checked() -> None:
    assert Actors().check("anyone") == "anyone"
    with pytest.raises(ActionError, match="is not a staff id"):
        Actors().check("two words")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("auto", "reserved"),
        ("Engine", "reserved"),
        ("daemon:x", "cannot be a staff id"),
        ("s.j\u043enes", "cannot be a staff id"),  # a Cyrillic o: looks like s.jones
        ("s.jones\u200b", "cannot be a staff id"),  # a zero-width space
        ("a b", "cannot be a staff id"),
        ("", "cannot be a staff id"),
        ("x" * 65, "cannot be a staff id"),
        ("S.Jones", "only by case"),
    ],
)
def test_a_new_staff_id_cannot_pass_for_someone_else(name: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        new_username(name, ["s.jones"])


def test_a_plain_new_staff_id_is_taken_as_it_is() -> None:
    assert new_username("r.hughes-2", ["s.jones"]) == "r.hughes-2"


def test_the_refusal_of_a_stranger_does_not_demand_a_school_a_trust_wide_role_has_none() -> None:
    with pytest.raises(ActionError) as refused:
        Actors(Staff()).check("r.khan")
    said = str(refused.value)
    assert "users add r.khan --name NAME --role ROLE [--school SCHOOL]" in said
    assert "no --school for a role over every school" in said and "data protection officer" in said
