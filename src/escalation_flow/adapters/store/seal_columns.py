"""Seals computed from columns: one import's rows of one school, never read back row by row.

The digest is the one ``seals.mark_digest`` gives (SHA-256 over the rows' texts, sorted, each
followed by a newline): the texts are built by Arrow, sorted by their bytes (which is the order
of their code points, Python's string order) and hashed as one buffer.

The fingerprints are of format 2 (``seals.SEAL_FORMAT``): 4 bytes of the row's session (cell)
and 4 of the whole row, as format 1, but mixed from a SHA-256 of each distinct field value
(a school has a few thousand distinct pupils, days and codes) with a 64-bit mixer over the
numbers, in numpy, instead of two SHA-256 per row (2 µs a row in Python: 15 s for a trust's
year). They only locate a changed row; what proves a change is the digest and the seal's hash,
both SHA-256 as before. A format-2 blob starts with ``FORMAT2_TAG``, inside what the seal
hashes, so the format of every seal is known from the seal itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.signedinteger[Any]]
U64 = npt.NDArray[np.uint64]

#: The first bytes of a format-2 fingerprint blob (a format-1 blob is 8 bytes a row, exactly).
FORMAT2_TAG = b"EFseal\x00\x02"
_SEED = np.uint64(0x243F6A8885A308D3)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)
_NO_NAME = "\x00none"  # hashed for a row without recorded_by: no name can be this


@dataclass(frozen=True)
class Field:
    """A text column as the distinct values and, per row, an index into them."""

    values: Sequence[str]
    index: IntArray

    @classmethod
    def of(cls, texts: Sequence[str]) -> Field:
        position: dict[str, int] = {}
        index = np.fromiter(
            (position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts)
        )
        return cls(list(position), index)

    def decoded(self) -> pa.Array:
        values = pa.array(list(self.values), pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(self.index, pa.int32()), values).cast(
            pa.string()
        )


@dataclass(frozen=True)
class SealColumns:
    """The rows an import stored for one school, as ``seals.MarkRow`` holds them, in columns."""

    pupil: Field
    day: Field  # ISO dates
    session: Field  # "AM" / "PM"
    code: Field
    recorded_at: IntArray  # UTC microseconds, as stored
    minutes_late: IntArray  # -1: none
    imported_at: IntArray  # UTC microseconds
    recorded_by: Field | None = None  # index -1: no name; None: no row names anyone

    def __len__(self) -> int:
        return len(self.recorded_at)


@dataclass(frozen=True)
class Sealed:
    """What a seal holds of its rows: how many, their digest and their fingerprints.

    The digest and fingerprints are worked out on the sealing thread (``sealed``): reading
    either waits for them, and raises what their computation raised."""

    rows: int
    parts: Future[tuple[str, bytes]]

    @property
    def digest(self) -> str:
        return self.parts.result()[0]

    @property
    def fingerprints(self) -> bytes:
        return self.parts.result()[1]


def sealed(cols: SealColumns) -> Sealed:
    """The seal's parts of ``cols`` (small: the columns themselves need not be kept), worked
    out on a thread of their own: an import goes on writing the next school's rows meanwhile
    (Arrow and numpy let go of the GIL, and SQLite does while it writes), so on two cores the
    seal costs an import almost no time. Only the columns, never a connection, cross over."""
    return Sealed(len(cols), _sealing_thread().submit(_parts, cols))


def _parts(cols: SealColumns) -> tuple[str, bytes]:
    return digest(cols), fingerprints(cols)


_SEALING: tuple[int, ThreadPoolExecutor] | None = None


def _sealing_thread() -> ThreadPoolExecutor:
    """One worker, so seals are worked out in the order asked; made again in a forked child
    (a fork copies the pool but not its thread). No lock: two threads racing here at most make
    a second pool, and a lock held across a fork would stay held in the child."""
    global _SEALING
    if _SEALING is None or _SEALING[0] != os.getpid():
        _SEALING = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="seal"))
    return _SEALING[1]


def texts(cols: SealColumns) -> pa.Array:
    """``MarkRow.text()`` of every row, as an Arrow string array."""
    late = np.asarray(cols.minutes_late, dtype=np.int64)
    # a row's minutes late are few distinct numbers (-1: none, blank): each made text once
    shown = np.maximum(late, -1) + 1
    late_text = Field(["", *(str(m) for m in range(int(shown.max(initial=0))))], shown).decoded()
    text = pc.binary_join_element_wise(
        cols.pupil.decoded(),
        cols.day.decoded(),
        cols.session.decoded(),
        cols.code.decoded(),
        pa.array(np.asarray(cols.recorded_at, dtype=np.int64)).cast(pa.string()),
        late_text,
        _texts_of(np.asarray(cols.imported_at, dtype=np.int64)),
        "|",
    )
    if cols.recorded_by is None:
        return text
    by = cols.recorded_by
    named = Field(
        [*(f"|by={v}" for v in by.values), ""], np.where(by.index < 0, len(by.values), by.index)
    )
    return pc.binary_join_element_wise(text, named.decoded(), "")


def _texts_of(numbers: IntArray) -> pa.Array | pa.Scalar:
    """The numbers as text; one text (broadcast by the join) when every row has the same, as
    an import's rows share their ``imported_at``."""
    if len(numbers) and (numbers == numbers[0]).all():
        return pa.scalar(str(int(numbers[0])), pa.string())
    return pa.array(numbers).cast(pa.string())


def digest(cols: SealColumns) -> str:
    """``seals.mark_digest`` of the rows: SHA-256 over the sorted texts, a newline after each."""
    text = texts(cols)
    ordered = text.take(pc.sort_indices(text)) if len(text) > 1 else text
    lined = pc.binary_join_element_wise(ordered, pa.scalar("\n"), "")
    h = hashlib.sha256()
    if len(lined):
        offsets = np.frombuffer(lined.buffers()[1], dtype=np.int32, count=len(lined) + 1)
        data = memoryview(lined.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
        h.update(data)
    return h.hexdigest()


def _hashed(label: str, values: Sequence[str]) -> U64:
    """A 64-bit number per distinct value: the first 8 bytes of SHA-256 of label and value."""
    return np.array(
        [
            int.from_bytes(hashlib.sha256(f"{label}\x00{v}".encode()).digest()[:8], "big")
            for v in values
        ],
        dtype=np.uint64,
    )


def _mix(acc: U64, value: U64) -> U64:
    """Fold one value into each row's running number (splitmix64's finaliser; wraps)."""
    z = (acc ^ value) * _K1
    z ^= z >> np.uint64(30)
    z *= _K2
    z ^= z >> np.uint64(27)
    z *= _K3
    result: U64 = z ^ (z >> np.uint64(31))
    return result


def _take(label: str, f: Field) -> U64:
    table = _hashed(label, f.values)
    return table[f.index] if len(table) else np.zeros(len(f.index), dtype=np.uint64)


def cell_numbers(pupil: Field, day: Field, session: Field) -> U64:
    """A 64-bit number per (pupil, day, session): its top 32 bits are the cell's fingerprint."""
    acc = np.full(len(pupil.index), _SEED, dtype=np.uint64)
    acc = _mix(acc, _take("pupil", pupil))
    acc = _mix(acc, _take("day", day))
    return _mix(acc, _take("session", session))


def row_numbers(cols: SealColumns) -> U64:
    """Each row's 8-byte fingerprint as a number: 4 bytes of its cell, then 4 of the row."""
    with np.errstate(over="ignore"):
        cell = cell_numbers(cols.pupil, cols.day, cols.session)
        acc = _mix(cell, _take("code", cols.code))
        for column in (cols.recorded_at, cols.minutes_late, cols.imported_at):
            acc = _mix(acc, np.asarray(column, dtype=np.int64).view(np.uint64))
        if cols.recorded_by is not None:
            by = cols.recorded_by
            names = Field([*by.values, _NO_NAME], np.where(by.index < 0, len(by.values), by.index))
            acc = _mix(acc, _take("by", names))
        else:
            acc = _mix(acc, _hashed("by", [_NO_NAME])[np.zeros(len(cell), dtype=np.int64)])
    high = np.uint64(0xFFFFFFFF00000000)
    result: U64 = (cell & high) | (acc >> np.uint64(32))
    return result


def fingerprints(cols: SealColumns) -> bytes:
    """The format-2 blob: the tag, then each row's 8 bytes, sorted."""
    return FORMAT2_TAG + np.sort(row_numbers(cols)).astype(">u8").tobytes()


def split(blob: bytes) -> set[bytes]:
    """A format-2 blob's 8-byte fingerprints."""
    body = blob[len(FORMAT2_TAG) :]
    return {body[i : i + 8] for i in range(0, len(body), 8)}


def as_bytes(numbers: U64) -> list[bytes]:
    raw = np.asarray(numbers, dtype=np.uint64).astype(">u8").tobytes()
    return [raw[i : i + 8] for i in range(0, len(raw), 8)]
