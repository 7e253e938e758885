"""Staff, their grants, web sessions, login attempts, single sign-ons begun, task
acknowledgements and the audit log.

Every instant is handed in by the caller (from its ``Clock``); nothing uses a database default.
The audit log is only ever inserted into.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, RowMapping, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from escalation_flow import ports
from escalation_flow.adapters.store import records
from escalation_flow.adapters.store.models import School, table_of
from escalation_flow.adapters.store.staff_models import (
    AuditEntry,
    LoginAttempt,
    OidcSignIn,
    Staff,
    StaffRole,
    TaskAck,
    WebSession,
)
from escalation_flow.core.access import Grant, Principal, staff_role
from escalation_flow.errors import ConflictError, InputError, NotFoundError, Problem


@dataclass(frozen=True)
class StaffRecord:
    id: int
    username: str
    name: str
    active: bool
    password_hash: str
    grants: tuple[Grant, ...]
    email: str | None = None
    oidc_issuer: str | None = None
    oidc_subject: str | None = None

    def principal(self) -> Principal:
        return Principal(self.id, self.username, self.name, self.grants)


@dataclass(frozen=True)
class LoginHistory:
    """Wrong passwords as the login policy counts them (see ``StaffStore.login_history``)."""

    pair_failures: int
    last_pair_failure: dt.datetime | None
    address_failures: int
    oldest_address_failure: dt.datetime | None


@dataclass(frozen=True)
class PendingSignIn:
    """A single sign-on begun in a browser, taken (once) by the callback that finishes it."""

    browser_hash: str
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class SessionRecord:
    id: int
    staff_id: int
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class AuditRecord:
    at: dt.datetime
    actor: str
    action: str
    school: str | None
    pupil: str | None
    detail: str | None
    ip: str | None


@dataclass(frozen=True)
class Ack:
    task_id: int
    by: str
    at: dt.datetime
    note: str | None


class StaffStore:
    """The staff tables of one database (the engine is the ``Store``'s)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- people ---------------------------------------------------------------------------------

    def add_staff(
        self,
        username: str,
        name: str,
        password_hash: str,
        grants: Sequence[Grant],
        now: dt.datetime,
        *,
        email: str | None = None,
    ) -> int:
        """A new member of staff; ConflictError if the username (or the email) is taken."""
        with self.engine.begin() as conn:
            schools = _school_ids(conn, [g.school for g in grants if g.school is not None])
            _refuse_taken_email(conn, email, username)
            try:
                result = conn.execute(
                    table_of(Staff)
                    .insert()
                    .values(
                        username=username,
                        name=name,
                        password_hash=password_hash,
                        active=True,
                        created_at=now,
                        password_changed_at=now,
                        email=normal_email(email),
                    )
                )
            except IntegrityError:
                raise ConflictError(f"there is already a member of staff {username!r}") from None
            key = result.inserted_primary_key
            assert key is not None
            staff_id = int(key[0])
            for g in grants:
                conn.execute(
                    table_of(StaffRole)
                    .insert()
                    .values(
                        staff_id=staff_id,
                        school_id=None if g.school is None else schools[g.school],
                        role=g.role.value,
                        year_groups=",".join(sorted(g.year_groups)) if g.year_groups else None,
                    )
                )
        return staff_id

    def set_password(self, username: str, password_hash: str, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(Staff)
                .where(Staff.username == username)
                .values(password_hash=password_hash, password_changed_at=now)
            ).rowcount
        if not done:
            raise NotFoundError(f"no member of staff {username!r}")

    def set_email(self, username: str, email: str | None) -> None:
        """Set (or with None clear) a person's email, and unlink their sign-in subject: whoever
        next signs in with this email is linked afresh. ConflictError if another has it."""
        values = {"email": normal_email(email), "oidc_issuer": None, "oidc_subject": None}
        try:
            with self.engine.begin() as conn:
                _refuse_taken_email(conn, email, username)
                done = conn.execute(
                    update(Staff).where(Staff.username == username).values(**values)
                ).rowcount
        except IntegrityError:  # taken between the look and the write
            raise ConflictError(f"{email} is already another member of staff's email") from None
        if not done:
            raise NotFoundError(f"no member of staff {username!r}")

    def by_email(self, email: str) -> StaffRecord | None:
        """The member of staff with this email, whatever its ASCII case; None for an email that
        is not plain ASCII (never matched)."""
        if not email.strip().isascii():
            return None
        wanted = normal_email(email)
        query = select(Staff).where(func.lower(Staff.email) == wanted)
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                # the database's lower() may fold non-ASCII (PostgreSQL's does): compare here too
                if _ascii_lower(row["email"]) == wanted:
                    return _record(conn, row)
            return None

    def by_subject(self, issuer: str, subject: str) -> StaffRecord | None:
        """The member of staff linked to this identity provider's subject."""
        query = select(Staff).where(
            (Staff.oidc_issuer == issuer) & (Staff.oidc_subject == subject)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            return None if row is None else _record(conn, row)

    def link_subject(self, staff_id: int, issuer: str, subject: str) -> bool:
        """Link a provider's subject to a member of staff not yet linked; False when they were
        linked meanwhile (or the subject is another's): the caller refuses the sign-in."""
        query = (
            update(Staff)
            .where((Staff.id == staff_id) & Staff.oidc_subject.is_(None))
            .values(oidc_issuer=issuer, oidc_subject=subject)
        )
        try:
            with self.engine.begin() as conn:
                return bool(conn.execute(query).rowcount)
        except IntegrityError:
            return False

    def by_username(self, username: str) -> StaffRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(Staff).where(Staff.username == username)).mappings().first()
            return None if row is None else _record(conn, row)

    def by_id(self, staff_id: int) -> StaffRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(Staff).where(Staff.id == staff_id)).mappings().first()
            return None if row is None else _record(conn, row)

    def active_usernames(self, usernames: Iterable[str]) -> set[str]:
        """Which of ``usernames`` are active members of staff (who may be named as acting)."""
        names = sorted(set(usernames))
        if not names:
            return set()
        query = select(Staff.username).where(Staff.username.in_(names) & Staff.active.is_(True))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def all_staff(self) -> list[StaffRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Staff).order_by(Staff.username)).mappings().all()
            return [_record(conn, row) for row in rows]

    # -- logins ---------------------------------------------------------------------------------

    def record_attempt(self, username: str, ip: str, succeeded: bool, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                table_of(LoginAttempt)
                .insert()
                .values(username=username[:64], ip=ip[:64], at=now, succeeded=succeeded)
            )

    def login_history(
        self, username: str, ip: str, *, since: dt.datetime, address_since: dt.datetime
    ) -> LoginHistory:
        """What the login policy weighs (``web.security.LoginPolicy``): this account's wrong
        passwords from this address since ``since`` and since its last good login from there,
        and the address's wrong passwords (any account) since ``address_since``."""
        user, addr = username[:64], ip[:64]
        pair = (LoginAttempt.username == user) & (LoginAttempt.ip == addr)
        failed = LoginAttempt.succeeded.is_(False)
        with self.engine.connect() as conn:
            good = conn.execute(
                select(func.max(LoginAttempt.at)).where(pair & LoginAttempt.succeeded.is_(True))
            ).scalar_one()
            start = since if good is None else max(since, _aware(good))
            count, last = conn.execute(
                select(func.count(), func.max(LoginAttempt.at)).where(
                    pair & failed & (LoginAttempt.at > start)
                )
            ).one()
            from_address, oldest = conn.execute(
                select(func.count(), func.min(LoginAttempt.at)).where(
                    (LoginAttempt.ip == addr) & failed & (LoginAttempt.at >= address_since)
                )
            ).one()
        return LoginHistory(
            int(count),
            None if last is None else _aware(last),
            int(from_address),
            None if oldest is None else _aware(oldest),
        )

    def forget_failures(self, username: str) -> int:
        """An administrator's unlock: the account's wrong passwords (from every address) stop
        counting; the audit log keeps each of them. How many were forgotten."""
        query = delete(LoginAttempt).where(
            (LoginAttempt.username == username[:64]) & LoginAttempt.succeeded.is_(False)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    # -- single sign-on ---------------------------------------------------------------------------

    def begin_sign_in(
        self,
        state_hash: str,
        pending: ports.PendingSignIn,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        """Keep a sign-in begun until its callback (sign-ins long expired are dropped here)."""
        with self.engine.begin() as conn:
            conn.execute(delete(OidcSignIn).where(OidcSignIn.expires_at < now - _KEEP_EXPIRED))
            conn.execute(
                table_of(OidcSignIn)
                .insert()
                .values(
                    state_hash=state_hash,
                    browser_hash=pending.browser_hash,
                    nonce=pending.nonce,
                    code_verifier=pending.code_verifier,
                    next_path=pending.next_path,
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                )
            )

    def take_sign_in(
        self, state_hash: str, browser_hash: str, now: dt.datetime
    ) -> PendingSignIn | None:
        """The sign-in begun with this state in this browser, once: unknown, expired, already
        taken or begun in another browser: None (and a stolen redirect does not use it up)."""
        live = (
            (OidcSignIn.state_hash == state_hash)
            & (OidcSignIn.browser_hash == browser_hash)
            & OidcSignIn.used_at.is_(None)
            & (OidcSignIn.expires_at > now)
        )
        with self.engine.begin() as conn:
            # the update decides who takes it: of two callbacks at once, one changes the row
            if not conn.execute(update(OidcSignIn).where(live).values(used_at=now)).rowcount:
                return None
            row = conn.execute(
                select(OidcSignIn).where(OidcSignIn.state_hash == state_hash)
            ).mappings().one()
        return PendingSignIn(
            row["browser_hash"], row["nonce"], row["code_verifier"], row["next_path"]
        )

    # -- sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        staff_id: int,
        token_hash: str,
        csrf_token: str,
        now: dt.datetime,
        expires_at: dt.datetime,
        ip: str | None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                table_of(WebSession)
                .insert()
                .values(
                    token_hash=token_hash,
                    staff_id=staff_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=expires_at,
                    ended_at=None,
                    ip=None if ip is None else ip[:64],
                )
            )

    def live_session(self, token_hash: str, now: dt.datetime) -> SessionRecord | None:
        query = select(WebSession).where(
            (WebSession.token_hash == token_hash)
            & WebSession.ended_at.is_(None)
            & (WebSession.expires_at > now)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return SessionRecord(row["id"], row["staff_id"], row["csrf_token"], row["expires_at"])

    def end_session(self, token_hash: str, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(WebSession)
                .where((WebSession.token_hash == token_hash) & WebSession.ended_at.is_(None))
                .values(ended_at=now)
            )

    # -- acknowledgements -----------------------------------------------------------------------

    def acknowledge(
        self, task_ids: Iterable[int], staff_id: int, note: str | None, now: dt.datetime
    ) -> list[int]:
        """Acknowledge tasks not yet acknowledged; the ids newly acknowledged."""
        ids = sorted(set(task_ids))
        with self.engine.begin() as conn:
            done = set(
                conn.execute(select(TaskAck.task_id).where(TaskAck.task_id.in_(ids))).scalars()
            )
            new = [i for i in ids if i not in done]
            if new:
                conn.execute(
                    table_of(TaskAck).insert(),
                    [{"task_id": i, "staff_id": staff_id, "at": now, "note": note} for i in new],
                )
        return new

    def acks(self, task_ids: Iterable[int]) -> dict[int, Ack]:
        ids = list(set(task_ids))
        if not ids:
            return {}
        query = (
            select(TaskAck.task_id, Staff.name, TaskAck.at, TaskAck.note)
            .join(Staff, Staff.id == TaskAck.staff_id)
            .where(TaskAck.task_id.in_(ids))
        )
        with self.engine.connect() as conn:
            return {t: Ack(t, name, at, note) for t, name, at, note in conn.execute(query)}

    # -- audit ----------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        now: dt.datetime,
        *,
        school: str | None = None,
        pupil: str | None = None,
        detail: str | None = None,
        ip: str | None = None,
    ) -> None:
        values = {
            "at": now,
            "actor": actor[:64],
            "action": action,
            "school": school,
            "pupil": pupil,
            "detail": detail,
            "ip": None if ip is None else ip[:64],
        }
        for attempt in range(5):  # two entries at once on one chain (PostgreSQL): once more
            try:
                with self.engine.begin() as conn:
                    records.insert_audit(conn, values, now)
                return
            except ConflictError:
                if attempt == 4:
                    raise

    def audit_entries(
        self, *, action: str | None = None, school: str | None = None, limit: int = 200
    ) -> list[AuditRecord]:
        """The newest entries first."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if school is not None:
            query = query.where(AuditEntry.school == school)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditRecord(
                r["at"], r["actor"], r["action"], r["school"], r["pupil"], r["detail"], r["ip"]
            )
            for r in rows
        ]


#: Sign-ins begun are kept a day after they expire (what a support call may ask about), then go.
_KEEP_EXPIRED = dt.timedelta(days=1)


def normal_email(email: str | None) -> str | None:
    """How an email is kept and compared: trimmed and ASCII lower-cased (the domain is
    case-insensitive, and no school mail system tells local parts apart by case). Only plain
    ASCII is kept: Unicode lower-casing folds look-alikes onto ASCII (the Kelvin sign to ``k``),
    which would let another address pass for this one. InputError otherwise."""
    if email is None:
        return None
    text = email.strip()
    if not text.isascii():
        raise InputError(
            "an email must be plain ASCII",
            [Problem("email", None, None, f"{text!r} has a character that is not plain ASCII")],
        )
    return text.lower() or None


def _ascii_lower(email: str | None) -> str | None:
    return email.strip().lower() if email is not None and email.isascii() else None


def _refuse_taken_email(conn: Connection, email: str | None, username: str) -> None:
    """ConflictError when another member of staff has this email (whatever its case)."""
    if not normal_email(email):
        return
    query = select(Staff.username).where(
        (func.lower(Staff.email) == normal_email(email)) & (Staff.username != username)
    )
    taken = conn.execute(query).scalar()
    if taken is not None:
        raise ConflictError(f"{normal_email(email)} is already {taken}'s email")


def _aware(instant: dt.datetime) -> dt.datetime:
    """SQLite hands instants back without their offset; every instant stored here is UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)


def _school_ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    found = dict(conn.execute(select(School.key, School.id).where(School.key.in_(keys))).all())
    missing = sorted(set(keys) - set(found))
    if missing:
        raise NotFoundError(
            f"school(s) {', '.join(missing)} not in the database; import the trust first"
        )
    return found


def _record(conn: Connection, r: RowMapping) -> StaffRecord:
    query = (
        select(StaffRole.role, School.key, StaffRole.year_groups)
        .outerjoin(School, School.id == StaffRole.school_id)
        .where(StaffRole.staff_id == r["id"])
        .order_by(StaffRole.id)
    )
    grants = tuple(
        Grant(
            role=staff_role(role),
            school=school,
            year_groups=frozenset(years.split(",")) if years else None,
        )
        for role, school, years in conn.execute(query)
    )
    return StaffRecord(
        id=r["id"],
        username=r["username"],
        name=r["name"],
        active=bool(r["active"]),
        password_hash=r["password_hash"],
        grants=grants,
        email=r["email"],
        oidc_issuer=r["oidc_issuer"],
        oidc_subject=r["oidc_subject"],
    )
