"""What single sign-on keeps, on SQLite and PostgreSQL: staff emails unique whatever their case,
a subject linked once, sign-ins begun taken once by their own browser, and migration 0016
undone and redone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.schema import current_revision, upgrade
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.errors import ConflictError, InputError
from tests.adapters.test_staff_store import LEAD, T0, store  # noqa: F401 - the fixture

ISSUER = "https://id.trust.example"


@dataclass(frozen=True)
class Pending:
    browser_hash: str = "b" * 64
    nonce: str = "n"
    code_verifier: str = "v" * 43
    next_path: str = "/tasks"


@pytest.fixture
def staff(store: Store) -> StaffStore:  # noqa: F811 - the fixture above
    return StaffStore(store.engine)


def test_an_email_belongs_to_one_member_of_staff_whatever_its_case(staff: StaffStore) -> None:
    staff.add_staff("lead", "Lee Lead", "!", LEAD, T0, email=" Lee.Lead@Oaks.example ")
    assert staff.by_email("LEE.LEAD@oaks.example").username == "lead"  # type: ignore[union-attr]
    assert staff.by_username("lead").email == "lee.lead@oaks.example"  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="already lead's email"):
        staff.add_staff("other", "O", "!", LEAD, T0, email="lee.lead@OAKS.example")
    staff.add_staff("other", "O", "!", LEAD, T0)
    with pytest.raises(ConflictError, match="already lead's email"):
        staff.set_email("other", "LEE.lead@oaks.example")


def test_a_look_alike_email_finds_nobody_and_is_never_kept(staff: StaffStore) -> None:
    """The Kelvin sign lower-cases to "k" in Python (and in PostgreSQL's lower()): only plain
    ASCII is kept or looked up."""
    staff.add_staff("kate", "Kate", "!", LEAD, T0, email="Kate@Trust.example")
    assert staff.by_email("\u212aate@trust.example") is None
    assert staff.by_email("KATE@trust.example").username == "kate"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="ASCII"):
        staff.add_staff("other", "O", "!", LEAD, T0, email="\u212aate@trust.example")
    assert staff.by_username("other") is None, "nothing half-done"
    with pytest.raises(InputError, match="ASCII"):
        staff.set_email("kate", "\u212aate@trust.example")
    assert staff.by_username("kate").email == "kate@trust.example"  # type: ignore[union-attr]


def test_the_database_itself_refuses_an_email_twice_in_another_case(store: Store) -> None:  # noqa: F811
    """The unique index is on lower(email): a row written by hand cannot slip past it."""
    StaffStore(store.engine).add_staff("lead", "L", "!", LEAD, T0, email="a@oaks.example")
    row = {"username": "hand", "name": "H", "password_hash": "!", "active": True,
           "created_at": T0, "password_changed_at": T0, "email": "A@Oaks.example"}  # fmt: skip
    from escalation_flow.adapters.store.models import table_of
    from escalation_flow.adapters.store.staff_models import Staff

    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(table_of(Staff).insert().values(**row))


def test_a_subject_is_linked_once_and_a_new_email_unlinks_it(staff: StaffStore) -> None:
    sid = staff.add_staff("lead", "L", "!", LEAD, T0, email="a@oaks.example")
    assert staff.link_subject(sid, ISSUER, "sub-1")
    assert not staff.link_subject(sid, ISSUER, "sub-2")  # linked already
    assert staff.by_subject(ISSUER, "sub-1").username == "lead"  # type: ignore[union-attr]
    other = staff.add_staff("other", "O", "!", LEAD, T0, email="b@oaks.example")
    assert not staff.link_subject(other, ISSUER, "sub-1")  # another's subject
    staff.set_email("lead", "new@oaks.example")
    assert staff.by_subject(ISSUER, "sub-1") is None
    assert staff.by_username("lead").oidc_subject is None  # type: ignore[union-attr]


def test_a_sign_in_begun_is_taken_once_by_its_own_browser_before_it_expires(
    staff: StaffStore,
) -> None:
    pending = Pending()
    staff.begin_sign_in("s1", pending, T0, T0 + timedelta(minutes=10))
    assert staff.take_sign_in("s1", "another browser", T0) is None  # not used up by that
    taken = staff.take_sign_in("s1", pending.browser_hash, T0 + timedelta(minutes=1))
    assert taken is not None and taken.code_verifier == pending.code_verifier
    assert staff.take_sign_in("s1", pending.browser_hash, T0 + timedelta(minutes=2)) is None
    staff.begin_sign_in("s2", pending, T0, T0 + timedelta(minutes=10))
    assert staff.take_sign_in("s2", pending.browser_hash, T0 + timedelta(minutes=10)) is None


def test_the_sign_in_migration_goes_down_and_up_again_keeping_the_staff(store: Store) -> None:  # noqa: F811
    from alembic import command

    from escalation_flow.adapters.store.schema import alembic_config

    StaffStore(store.engine).add_staff("lead", "L", "!", LEAD, T0, email="a@oaks.example")
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
    assert current_revision(store.engine) == "0015"
    assert "oidc_sign_ins" not in sa.inspect(store.engine).get_table_names()
    upgrade(store.engine)
    again = StaffStore(store.engine).by_username("lead")
    assert again is not None and again.email is None
