"""How the case file says dates, times and who: words a local authority reads, never a machine
stamp or a system login."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from escalation_flow.audit.case_words import (
    clock_time,
    is_system_login,
    long_date,
    person,
    recorded_in_mis,
    session_words,
    when,
)

LONDON = ZoneInfo("Europe/London")


def test_dates_and_times_are_in_words_in_uk_local_time() -> None:
    assert long_date(date(2025, 12, 19)) == "Friday 19 December 2025"
    summer = datetime(2025, 9, 15, 10, 0, tzinfo=UTC)  # BST: 11am in London
    assert when(summer, LONDON) == "Monday 15 September 2025 at 11am"
    winter = datetime(2025, 12, 19, 16, 30, tzinfo=UTC)  # GMT
    assert when(winter, LONDON) == "Friday 19 December 2025 at 4.30pm"
    assert clock_time(datetime(2025, 12, 19, 12, 0, tzinfo=UTC), LONDON) == "12 noon"
    assert clock_time(datetime(2025, 12, 19, 0, 5, tzinfo=UTC), LONDON) == "12.05am"
    assert session_words(date(2025, 9, 10), "AM") == "the morning of Wednesday 10 September 2025"


@pytest.mark.parametrize(
    "login", ["root", "ROOT", "admin", "system", "svc-sims", "sims_sync", "mis-bot", "SA", "auto"]
)
def test_a_system_login_is_never_named_as_the_person_who_amended_a_mark(login: str) -> None:
    assert is_system_login(login)
    text = recorded_in_mis("amended", login)
    assert login.strip().lower() not in text.lower().replace("system account", "")
    assert text.startswith("amended in the MIS")


@pytest.mark.parametrize("login", ["j.bloggs", "J. Patel", "spatel", "mrs.adeyemi"])
def test_a_person_who_amended_a_mark_is_named(login: str) -> None:
    assert not is_system_login(login)
    assert recorded_in_mis("amended", login) == f"amended in the MIS by {login}"


def test_an_amendment_whose_export_names_nobody_says_so() -> None:
    assert recorded_in_mis("amended", None) == "amended in the MIS (user not named in the export)"


def test_who_in_the_service_is_a_member_of_staff_by_name_or_the_service_itself() -> None:
    staff = {"s.jones": "Sam Jones"}
    assert person("s.jones", staff) == "Sam Jones (s.jones)"
    assert person("engine", staff) == "the service"
    assert person("daemon:host:12", staff) == "the service"
    assert person("root", staff) == "a system account"  # an import run by a server's cron
    assert person("x.unknown", staff) == "x.unknown"
