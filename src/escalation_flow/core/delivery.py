"""What happens to an outbox row after one attempt to send it: pure, from the attempt's result,
how many attempts it has had, and the time.

- accepted: ``sent``;
- refused for good (an SMTP 5xx reply): ``failed``, never tried again;
- refused for now (4xx), timed out or cut off: ``queued`` again after an exponential back-off
  (``BACKOFF_BASE`` doubling, at most ``BACKOFF_CAP``), until ``MAX_ATTEMPTS`` attempts, then
  ``failed`` for good (a letter that cannot be emailed in about a day goes to a person, not on
  being tried for ever).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

#: outbox row states
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
#: a household without an email address: its letter is printed and posted
FOR_POST, PRINTED = "for_post", "printed"
#: a letter superseded or erased before it went, or a copy naming a contact who may no longer
#: be contacted: never sent
CANCELLED = "cancelled"
#: a household with neither email nor postal address: a person must find one
NO_ADDRESS = "no_address"
#: a copy whose household's names, address or emails changed since the letter was prepared:
#: never sent as addressed; staff prepare the letter again (``letters/readdressing.py``)
NEEDS_READDRESSING = "needs_readdressing"
#: letters approved before the outbox existed: never sent by it (staff sent them by hand)
BEFORE_OUTBOX = "before_outbox"

EMAIL, POST = "email", "post"

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=4)
#: a row claimed longer ago than this by a sender that never recorded the result (a crash, a
#: kill -9) is claimed again; far longer than any SMTP exchange (``Settings.smtp_timeout``)
SENDING_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Accepted:
    """The server took the message for delivery."""

    code: int
    reply: str


@dataclass(frozen=True)
class Refused:
    """The server (or the wire) did not take the message. ``code`` is the server's reply code
    (None: no reply, e.g. a timeout); ``permanent``: trying again cannot help."""

    code: int | None
    reply: str
    permanent: bool


Result = Accepted | Refused


def refused(code: int | None, reply: str) -> Refused:
    """An SMTP refusal: 5xx is for good, anything else (4xx, no reply) is for now."""
    return Refused(code, reply, permanent=code is not None and 500 <= code < 600)


@dataclass(frozen=True)
class Next:
    """Where a row goes after an attempt."""

    status: str
    next_attempt_at: datetime | None  # when it is tried again (``queued`` only)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, ... minutes, at most the cap."""
    factor: int = 2 ** min(max(attempts - 1, 0), 30)
    return min(BACKOFF_BASE * factor, BACKOFF_CAP)


def after_attempt(result: Result, attempts: int, now: datetime) -> Next:
    """The row's next state after its ``attempts``-th attempt ended with ``result`` at ``now``."""
    if isinstance(result, Accepted):
        return Next(SENT, None)
    if result.permanent or attempts >= MAX_ATTEMPTS:
        return Next(FAILED, None)
    return Next(QUEUED, now + backoff(attempts))


def recipients_digest(
    names: str, emails: str, postal_address: str, channel: str, household: str, message_id: str
) -> str:
    """The digest of an outbox row's recipients as stored (the JSON texts as written): chained
    when the row is queued, so that a row edited outside the service is refused before it is
    sent and named by ``audit verify``."""
    text = json.dumps([names, emails, postal_address, channel, household, message_id])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
