"""What a staff id is, where a person is named as the one who acted (the command line, an actions
file, a recorded migration): one place, so the service and the auditors' tools agree."""

from __future__ import annotations

from escalation_flow.errors import ActionError


def staff_id(by: str | None) -> str:
    """Any non-blank word of at most 100 characters (the staff table's logins are one kind)."""
    text = (by or "").strip()
    if not text or len(text) > 100 or any(ch.isspace() for ch in text):
        raise ActionError(
            f"{by!r} is not a staff id (one word, e.g. s.jones, at most 100 characters)"
        )
    return text

