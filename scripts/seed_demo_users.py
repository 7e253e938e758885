"""Demo staff accounts for the sample trust (config/sample-trust), for trying the staff pages.

    .venv/bin/python scripts/seed_demo_users.py

Adds one account per role (skipping those that exist) on the database the settings name
(ESCALATION_FLOW_DATABASE_URL, default var/escalation-flow.sqlite) and prints the logins once.
The passwords are for the invented sample trust on your own machine only: never use them, or
this script, on a real school's data.
"""

from __future__ import annotations

import sys

from escalation_flow.core.access import Grant, ServiceRole
from escalation_flow.core.definition import Role

DEMO_PASSWORD = "sample-trust-demo"

#: (username, name, grants): school-01 follows Leigh Academy Oaks' plan, school-03 the
#: five-stage plan with a safeguarding stage. ``s.jones`` is the staff id the README's commands
#: name with ``--by`` (the service refuses a name that is not a member of staff).
DEMO_STAFF: tuple[tuple[str, str, tuple[Grant, ...]], ...] = (
    ("s.jones", "Sam Jones", (Grant(Role.ATTENDANCE_LEAD, "school-01"),)),
    ("lead", "Alex Morgan", (Grant(Role.ATTENDANCE_LEAD, "school-01"),)),
    ("office", "Sam Patel", (Grant(Role.ADMIN_STAFF, "school-01"),)),
    ("teacher", "Jo Evans", (Grant(Role.CLASS_TEACHER, "school-01", frozenset({"3"})),)),
    ("head", "Chris Taylor", (Grant(Role.HEADTEACHER, "school-01"),)),
    ("flo", "Priya Shah", (Grant(Role.FAMILY_LIAISON_OFFICER, "school-03"),)),
    ("dsl", "Morgan Lee", (Grant(Role.DESIGNATED_SAFEGUARDING_LEAD, "school-03"),)),
    ("lead3", "Robin Hughes", (Grant(Role.ATTENDANCE_LEAD, "school-03"),)),
    ("trust", "Jamie Clarke", (Grant(Role.ATTENDANCE_TEAM, None),)),
    ("auditor", "Pat Quinn", (Grant(ServiceRole.AUDITOR, None),)),
)


def main() -> int:
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.clock import SystemClock
    from escalation_flow.settings import load_settings
    from escalation_flow.web.passwords import hash_password

    settings = load_settings()
    store = Store(settings.database_url)
    try:
        store.require_current()
        store.upsert_schools(load_trust(settings.trust_file))
        staff = StaffStore(store.engine)
        now = SystemClock().now()
        password_hash = hash_password(DEMO_PASSWORD)
        print(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, name, grants in DEMO_STAFF:
            if staff.by_username(username) is None:
                staff.add_staff(username, name, password_hash, grants, now)
            print(f"  {username:<8} {name}: " + "; ".join(g.describe() for g in grants))
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
