"""Tables of the staff pages: people, their roles per school, sessions, logins and the audit log.

- ``staff``: one row per person who logs in; the password is an argon2id hash, never the text.
- ``staff_roles``: what a person is at a school (``school_id`` NULL: at every school of the
  trust, for the trust's attendance team and trust-wide auditors). A class teacher's role names
  the year groups they teach (``year_groups``, comma-separated); NULL means the whole school.
- ``web_sessions``: a logged-in browser. The cookie holds a random token; only its sha256 is
  stored, so a copy of the database cannot be used to log in. Each session has its own CSRF
  token, checked on every form.
- ``login_attempts``: every try, good or bad, for the rate limit.
- ``task_acks``: a member of staff saying "seen, I have it" about an open task (an alert's
  lifecycle is open, acknowledged, done; done is the service's ``complete_task``).
- ``oidc_sign_ins``: a single sign-on begun and not yet finished (state, nonce, PKCE verifier),
  taken once by the callback (``web/oidc_flow.py``).
- ``audit_log``: append-only, never updated or deleted: logins, views of safeguarding records,
  and what staff did through the pages.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (
        Index("uq_staff_email_lower", func.lower("email"), unique=True),
        Index("uq_staff_oidc_issuer_oidc_subject", "oidc_issuer", "oidc_subject", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]
    password_changed_at: Mapped[dt.datetime]
    email: Mapped[str | None] = mapped_column(
        String(254), comment="lower-cased; NULL: passwords only"
    )
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(
        String(255), comment="the provider's stable id, linked at first sign-in"
    )


class StaffRole(Base):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "school_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id"), comment="NULL: every school of the trust"
    )
    role: Mapped[str] = mapped_column(String(40))
    year_groups: Mapped[str | None] = mapped_column(
        String(200), comment="class teachers: comma-separated year groups; NULL: whole school"
    )


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class OidcSignIn(Base):
    __tablename__ = "oidc_sign_ins"
    __table_args__ = (Index(None, "expires_at"),)

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index(None, "username", "at"), Index(None, "ip", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)


class TaskAck(Base):
    __tablename__ = "task_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[dt.datetime]
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "school", "pupil"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(64), comment="staff username, or the name tried")
    action: Mapped[str] = mapped_column(String(40))
    school: Mapped[str | None] = mapped_column(String(64), comment="school key")
    pupil: Mapped[str | None] = mapped_column(String(64), comment="pupil MIS id")
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
