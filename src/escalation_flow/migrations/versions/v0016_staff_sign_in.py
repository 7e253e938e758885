"""Single sign-on: a member of staff's email, and the identity provider's subject once linked.

- ``staff.email``: the school email address the trust's identity provider vouches for; unique
  whatever its case (stored lower-cased, and a unique index on ``lower(email)`` holds even for a
  row written by hand). NULL: this person signs in with a password only.
- ``staff.oidc_issuer``, ``staff.oidc_subject``: the provider and its stable id for the person,
  written at their first sign-in; later sign-ins must carry the same subject (an email can be
  renamed or reissued, the subject is not). Unique together.
- ``oidc_sign_ins``: a sign-in begun and not yet finished: the state's sha256 (the state itself
  only travels in the redirect), a hash of the browser's cookie it is bound to, the nonce and the
  PKCE verifier (which never leave the server), where to go after, and when it expires. Taken
  once: ``used_at`` is set by the callback that finishes it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.add_column("staff", sa.Column("email", sa.String(254), nullable=True,
                                     comment="lower-cased; NULL: passwords only"))
    op.add_column("staff", sa.Column("oidc_issuer", sa.String(255), nullable=True))
    op.add_column("staff", sa.Column("oidc_subject", sa.String(255), nullable=True,
                                     comment="the provider's stable id, linked at first sign-in"))
    op.create_index("uq_staff_email_lower", "staff", [sa.text("lower(email)")], unique=True)
    op.create_index("uq_staff_oidc_issuer_oidc_subject", "staff",
                    ["oidc_issuer", "oidc_subject"], unique=True)
    op.create_table(
        "oidc_sign_ins",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("next_path", sa.String(2000), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("used_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oidc_sign_ins"),
    )  # fmt: skip
    op.create_index("ix_oidc_sign_ins_expires_at", "oidc_sign_ins", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_sign_ins_expires_at", table_name="oidc_sign_ins")
    op.drop_table("oidc_sign_ins")
    op.drop_index("uq_staff_oidc_issuer_oidc_subject", table_name="staff")
    op.drop_index("uq_staff_email_lower", table_name="staff")
    # not batch mode: rebuilding ``staff`` on SQLite would break its references; SQLite 3.35+
    # drops a column in place
    op.drop_column("staff", "oidc_subject")
    op.drop_column("staff", "oidc_issuer")
    op.drop_column("staff", "email")
