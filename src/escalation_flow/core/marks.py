"""Register marks held as columns (numpy arrays), the shape every fact is computed from.

A school's marks are bitemporal: each row is one version of one session's mark, with the
instant it was recorded. Nothing is ever overwritten: an amendment is a later row for the same
pupil and session. "As known at T" picks, for each pupil and session, the latest row recorded at
or before T (ties: the later row wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

#: ``recorded_at`` value meaning "the file did not say"; the caller chooses the default.
UNKNOWN_RECORDED_AT = np.iinfo(np.int64).min


def to_micros(instant: datetime) -> int:
    """A timezone-aware instant as integer microseconds since the epoch, UTC."""
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    delta = instant.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


@dataclass(frozen=True)
class MarkTable:
    """All mark versions of one school, columnar. Row order is the order of the source."""

    school: str
    pupils: tuple[str, ...]  # pupil ids; ``pupil`` below indexes into this
    pupil: npt.NDArray[np.int32]
    session: npt.NDArray[np.int32]  # 2 * school-day index + (0 AM, 1 PM) on the school's calendar
    code: npt.NDArray[np.int8]  # ids from ``core.codes``
    recorded_at: npt.NDArray[np.int64]  # microseconds since the epoch, UTC
    minutes_late: npt.NDArray[np.int16]  # -1 where not given
    #: Who recorded or amended each row in the MIS: an index into ``recorders``, -1 unknown.
    #: None when no row names anyone (most files): nothing is allocated for a column not given.
    recorded_by: npt.NDArray[np.int32] | None = None
    recorders: tuple[str, ...] = ()  # the MIS users ``recorded_by`` indexes into

    def __len__(self) -> int:
        return int(self.pupil.shape[0])

    def recorder(self, row: int) -> str | None:
        """Who recorded row ``row`` in the MIS, where the source said."""
        if self.recorded_by is None or self.recorded_by[row] < 0:
            return None
        return self.recorders[int(self.recorded_by[row])]

    def take(self, rows: npt.NDArray[Any]) -> MarkTable:
        """The rows ``rows`` selects (indices or a mask), every column with them; the pupil
        and recorder names stay whole, so indices into them still hold."""
        return replace(
            self,
            pupil=self.pupil[rows],
            session=self.session[rows],
            code=self.code[rows],
            recorded_at=self.recorded_at[rows],
            minutes_late=self.minutes_late[rows],
            recorded_by=None if self.recorded_by is None else self.recorded_by[rows],
        )

    @classmethod
    def empty(cls, school: str, pupils: tuple[str, ...] = ()) -> MarkTable:
        return cls(
            school=school,
            pupils=pupils,
            pupil=np.empty(0, np.int32),
            session=np.empty(0, np.int32),
            code=np.empty(0, np.int8),
            recorded_at=np.empty(0, np.int64),
            minutes_late=np.empty(0, np.int16),
        )


@dataclass(frozen=True)
class PupilRecord:
    """One pupil from the optional roster file."""

    school: str
    pupil: str
    forename: str = ""
    surname: str = ""
    year_group: str = ""
    date_of_birth: date | None = None
    admitted: date | None = None
    left: date | None = None


@dataclass(frozen=True)
class Roster:
    """The pupils of one school, keyed by pupil id."""

    school: str
    pupils: dict[str, PupilRecord] = field(default_factory=dict)
