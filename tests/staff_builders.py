"""Members of staff for tests that name who acted: the service refuses anyone else.

Rows are added straight to the staff table with a hash no password matches (these people act
on the command line, they never log in to the pages), as the trust's attendance team.
"""

from __future__ import annotations

from datetime import UTC, datetime

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role

#: Not an argon2 hash: no password verifies against it.
NO_LOGIN = "!no-login"


def add_staff(url: str, *usernames: str) -> None:
    """Each of ``usernames`` as an active member of the trust's attendance team."""
    store = Store(url)
    try:
        staff = StaffStore(store.engine)
        now = datetime(2025, 9, 1, tzinfo=UTC)
        for name in usernames:
            if staff.by_username(name) is None:
                grant = Grant(Role.ATTENDANCE_TEAM, None)
                staff.add_staff(name, name, NO_LOGIN, [grant], now)
    finally:
        store.dispose()
