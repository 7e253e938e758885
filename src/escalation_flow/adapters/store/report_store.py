"""``ReportRecords`` in SQL: the termly meeting's agreed actions and the monthly notifications
recorded as sent, each written with its staff audit log entry in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Engine, select

from escalation_flow.adapters.store.models import table_of
from escalation_flow.adapters.store.records import insert_audit
from escalation_flow.adapters.store.report_models import LaNotification, MeetingAction
from escalation_flow.report_ports import (
    ACTION_AGREED,
    NOTIFICATION_SENT,
    AgreedAction,
    NotificationSent,
)


class SqlReportRecords:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def agreed_actions(self, school: str, terms: Collection[str]) -> list[AgreedAction]:
        query = (
            select(MeetingAction)
            .where(MeetingAction.school == school, MeetingAction.term.in_(list(terms)))
            .order_by(MeetingAction.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AgreedAction(
                r["school"], r["term"], r["pupil"], r["action"], r["recorded_by"],
                _aware(r["recorded_at"]),
            )
            for r in rows
        ]  # fmt: skip

    def record_action(self, action: AgreedAction) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                table_of(MeetingAction)
                .insert()
                .values(
                    school=action.school,
                    term=action.term,
                    pupil=action.pupil,
                    action=action.action,
                    recorded_by=action.by,
                    recorded_at=action.at,
                )
            )
            insert_audit(
                conn,
                {
                    "at": action.at,
                    "actor": action.by,
                    "action": ACTION_AGREED,
                    "school": action.school,
                    "pupil": action.pupil,
                    "detail": f"{action.term}: {action.action}",
                },
                action.at,
            )

    def notifications_sent(self, school: str, month: str) -> list[NotificationSent]:
        query = (
            select(LaNotification)
            .where(LaNotification.school == school, LaNotification.month == month)
            .order_by(LaNotification.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            NotificationSent(
                r["school"], r["month"], tuple(p for p in r["pupils"].split("\n") if p),
                r["digest"], r["sent_by"], _aware(r["sent_at"]),
            )
            for r in rows
        ]  # fmt: skip

    def record_sent(self, sent: NotificationSent) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                table_of(LaNotification)
                .insert()
                .values(
                    school=sent.school,
                    month=sent.month,
                    pupils="\n".join(sent.pupils),
                    digest=sent.digest,
                    sent_by=sent.by,
                    sent_at=sent.at,
                )
            )
            insert_audit(
                conn,
                {
                    "at": sent.at,
                    "actor": sent.by,
                    "action": NOTIFICATION_SENT,
                    "school": sent.school,
                    "detail": f"{sent.month}: {len(sent.pupils)} pupils, sha256 {sent.digest}",
                },
                sent.at,
            )


def _aware(instant: dt.datetime) -> dt.datetime:
    """SQLite hands instants back without their offset; every instant stored here is UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)
