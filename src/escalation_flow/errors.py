"""One exception tree for the whole service.

::

    EscalationFlowError            anything this service raises on purpose
    ├── InputError                 a file or argument a user gave us is wrong
    │   ├── CalendarError          a calendar file is malformed, or a date is outside it
    │   ├── RegisterError          a marks or roster file has bad rows (carries every Problem)
    │   ├── FlowError              a flow file fails its checks (carries every Problem)
    │   ├── TrustConfigError       the trust file names a school, flow or calendar we cannot use
    │   ├── ActionError            a staff action names no open task or event, or a bad outcome
    │   └── PenaltyNoticeError     a penalty notice the national rules or the register refuse
    │       ├── ThirdNoticeError            a third to one parent for one child in three years
    │       ├── SessionsAlreadyUsedError    sessions that already found this parent's notice
    │       ├── SessionsNotAbsenceError     sessions not marked as the offence needs
    │       ├── NotAResponsibleParentError  not a contact with parental responsibility
    │       └── StatusChangeError           a status a notice cannot move to from where it is
    ├── StoreError                 the database cannot be reached or is not migrated
    ├── ConflictError              someone else changed the thing first (task done twice, ...)
    ├── SenderUnavailableError     the mail server cannot be reached, or refuses our login
    ├── SignInError                a single sign-on the identity provider or its token fails
    │   └── SignInProviderDownError  the identity provider cannot be reached (remembered briefly)
    ├── AccessRefusedError         a member of staff asked for what their role does not allow
    ├── MetricsPortError           the metrics port cannot be listened on
    └── NotFoundError              a school, pupil, case, task or timer that does not exist

Every ``InputError`` can carry a list of ``Problem`` so that a user sees all that is wrong with a
file at once, each naming the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering


@total_ordering
@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in one input file; sorted by file, line, field and
    message, a missing line or field first (compared as a tuple, None against a number or a
    name was a TypeError: found by fuzzing the flow reader)."""

    file: str
    line: int | None
    field: str | None
    message: str

    def _key(self) -> tuple[str, bool, int, bool, str, str]:
        line, field = self.line, self.field
        return (
            self.file, line is not None, line or 0, field is not None, field or "", self.message
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class EscalationFlowError(Exception):
    """The root of every error this service raises on purpose."""

    exit_code = 1


class InputError(EscalationFlowError):
    """Something the user handed us is wrong; nothing was changed because of it."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems: list[Problem] = sorted(problems or [])
        detail = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{message}\n{detail}" if detail else message)
        self.summary = message

    def __reduce__(self) -> tuple[type[InputError], tuple[str, list[Problem]]]:
        # so that an error raised in a worker process arrives whole, problems and all
        return (type(self), (self.summary, self.problems))


class CalendarError(InputError):
    """A calendar file is malformed, or a date falls outside the calendar."""


class RegisterError(InputError):
    """A register marks or roster file has rows that cannot be imported."""


class FlowError(InputError):
    """A flow file fails to load or fails its checks."""


class TrustConfigError(InputError):
    """The trust configuration names something that cannot be used."""


class StoreError(EscalationFlowError):
    """The database cannot be reached, or its schema is not the one we expect."""

    exit_code = 3


class ConflictError(EscalationFlowError):
    """Someone else changed the thing first; the caller's change was not applied."""

    exit_code = 4


class NotFoundError(EscalationFlowError):
    """A school, pupil, case, task or timer that does not exist."""

    exit_code = 2


class ActionError(InputError):
    """A staff action names a task or event that is not open or not in the flow, or a bad outcome."""


class PenaltyNoticeError(InputError):
    """A penalty notice (or notice to improve) the register refuses to record or change."""


class ThirdNoticeError(PenaltyNoticeError):
    """A third penalty notice to one parent for one child within a rolling three years."""


class SessionsAlreadyUsedError(PenaltyNoticeError):
    """Sessions that already found a notice to the same parent for the same child."""


class SessionsNotAbsenceError(PenaltyNoticeError):
    """Sessions whose marks (as known when recording) are not what the offence rests on."""


class NotAResponsibleParentError(PenaltyNoticeError):
    """The parent named is not a contact of the pupil with parental responsibility."""


class StatusChangeError(PenaltyNoticeError):
    """A status change the notice's lifecycle does not allow."""


class NotOfCompulsorySchoolAgeError(PenaltyNoticeError):
    """A notice for a child who was not of compulsory school age on a session or the issue day."""


class BelowThresholdError(PenaltyNoticeError):
    """Sessions that do not meet the national threshold (10 in a rolling 10 school weeks)."""


class IssuedInFutureError(PenaltyNoticeError):
    """A notice dated after today."""


class BackDatedNoticeError(PenaltyNoticeError):
    """A penalty notice dated before one already recorded to the same parent for the child."""


class SenderUnavailableError(EscalationFlowError):
    """A letter sender (the SMTP server) cannot be reached, or refuses the connection, TLS or
    login: no letter was tried, and the outbox keeps them all for the next round."""

    exit_code = 3


class SignInError(EscalationFlowError):
    """A single sign-on cannot finish: the identity provider cannot be reached or answers
    wrongly, or its ID token fails a check (signature, issuer, audience, expiry, nonce). The
    message is for the audit log; the person signing in reads a page that shows no token."""


class AccessRefusedError(EscalationFlowError):
    """A member of staff asked for what their role does not allow (a subject access request
    run by anyone but the data protection officer): nothing was read out or written."""

    exit_code = 2


class MetricsPortError(EscalationFlowError):
    """The metrics' port cannot be listened on (taken, or not ours to bind): nothing started."""

    exit_code = 3


class SignInProviderDownError(SignInError):
    """The identity provider's discovery failed moments ago and is not asked again yet: the
    same failure, answered from memory (``oidc_client.DISCOVERY_RETRY_SECONDS``)."""
