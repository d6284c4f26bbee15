"""The wire between a remote process and the kernel: one message, encoded and checked.

Wire format of one message (:func:`encode`): a zlib-compressed msgpack map (ASCII JSON
where msgpack is not installed), plain data only, no pickle::

    {"v": 1, "k": kind, "w": worker, "h": hostname, "p": pid, "n": message number,
     "f": final?, "d": rows the sender dropped so far, "dr": {why: rows so far, ...}, "cs": {"stdout": kernel fd, ...} (only from a process sharing the
     kernel's console, see :func:`taskscope.remote.console.shared_streams`),
     "ctx": [[level, levelno, source, logger, thread, task, run_id], ...],
     "c": [context index per row], "t": [created per row], "m": [msg per row],
     "x": [[row index, text], ...], "e": [[row index, extra JSON], ...],
     "l": [[kernel fd, line], ...] (only when there are some: lines this process's logging
          handlers wrote to the kernel's console, see ``emitter.ConsoleEcho``)}

The record's declaration (:mod:`taskscope.record.columns`) says which column travels
where: ``origin`` columns (hostname, pid, worker) once per message as ``h``, ``p``,
``w``; ``context`` columns once per distinct context, in :data:`~taskscope.record.columns.CONTEXT`
order, then the task's ``run_id``; ``row`` columns per row (created, msg, and text and
extra only where a row has one).

Columns, and what rows share (their context) once per message: the emitting process
builds no row tuple per record and formats each message once; the kernel turns the
columns into rows with ``zip``. ``text`` is sent only where it is more than the line (a
traceback); the kernel writes the rest. A task's ``run_id`` is Dask's number for one
dispatch of it (the kernel turns it into an attempt 1, 2, ...).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..record.rows import WireRow

try:  # a dependency of distributed; pool children without it send JSON
    import msgpack as _msgpack
except ImportError:  # pragma: no cover - depends on the environment
    _msgpack = None  # type: ignore[assignment]

#: Protocol version of :func:`encode`'s messages.
VERSION = 1

#: A message (one compressed batch) is at most this many bytes; bigger batches are split.
MAX_MESSAGE = 8 * 1024 * 1024

#: The kernel inflates a message to at most this many bytes (a zip bomb gets no further).
MAX_INFLATED = 64 * 1024 * 1024

#: The first frame of every ZeroMQ message (the batch follows, in one frame or several).
MAGIC = b"taskscope/2"

#: The most bytes one ZeroMQ frame may hold; a larger batch is sent in several frames of one
#: message. The kernel's socket refuses larger frames (``MAXMSGSIZE``), also in the handshake,
#: where libzmq would otherwise take a command of any size from a peer not yet authenticated.
MAX_FRAME = 64 * 1024


def frames(payload: bytes) -> list[Any]:
    """One message's ZeroMQ frames: :data:`MAGIC`, then ``payload`` in pieces of at most
    :data:`MAX_FRAME` bytes (views, not copies)."""
    if len(payload) <= MAX_FRAME:
        return [MAGIC, payload]
    view = memoryview(payload)
    return [MAGIC, *(view[at:at + MAX_FRAME] for at in range(0, len(payload), MAX_FRAME))]


class Columns:
    """A batch of :data:`~taskscope.record.rows.WireRow` as a message carries it: each distinct
    context once (``ctx``), per row its context index (``c``), created (``t``) and msg
    (``m``); texts (``x``) and extras (``e``) only where a row has one, by row index.

    The remote writer fills the columns straight from queue items (no row tuple per
    record); :meth:`append` takes a finished row for the rarer kinds.
    """

    __slots__ = ("index", "c", "t", "m", "x", "e", "l")

    def __init__(self) -> None:
        self.index: dict[tuple[Any, ...], int] = {}
        self.c: list[int] = []
        self.t: list[float] = []
        self.m: list[str] = []
        self.x: list[tuple[int, str]] = []
        self.e: list[tuple[int, str]] = []
        self.l: list[tuple[int, str]] = []  # (kernel fd, line): console echoes, not rows

    @classmethod
    def of(cls, rows: Iterable[WireRow]) -> Columns:
        columns = cls()
        for row in rows:
            columns.append(row)
        return columns

    def __len__(self) -> int:
        return len(self.t)

    def append(self, row: WireRow) -> None:
        context, created, msg, text, extra = row
        at = len(self.t)
        number = self.index.get(context)
        if number is None:
            number = self.index[context] = len(self.index)
        self.c.append(number)
        self.t.append(created)
        self.m.append(msg)
        if text is not None:
            self.x.append((at, text))
        if extra is not None:
            self.e.append((at, extra))

    def rows(self) -> list[WireRow]:
        """The rows again (to split a batch, or make its values plain)."""
        contexts = list(self.index)
        texts, extras = dict(self.x), dict(self.e)
        return [(contexts[c], t, m, texts.get(i), extras.get(i))
                for i, (c, t, m) in enumerate(zip(self.c, self.t, self.m))]

    def fields(self) -> dict[str, Any]:
        fields = {"ctx": list(self.index), "c": self.c, "t": self.t, "m": self.m, "x": self.x, "e": self.e}
        if self.l:
            fields["l"] = self.l
        return fields


def encode(header: Mapping[str, Any], rows: Columns | Sequence[WireRow]) -> bytes:
    """One message: ``header`` plus ``rows`` in columns, packed with msgpack (ASCII JSON
    where msgpack is not installed, or a string holds a lone surrogate), compressed
    with zlib level 1.

    Neither format runs code on the other side, unlike pickle; JSON's ASCII escapes keep
    lone surrogates (the store shows them).
    """
    columns = rows if isinstance(rows, Columns) else Columns.of(rows)
    message = {**header, **columns.fields()}
    if _msgpack is not None:
        try:
            return zlib.compress(_msgpack.packb(message), 1)
        except (UnicodeEncodeError, OverflowError):
            pass
    text = json.dumps(message, ensure_ascii=True, separators=(",", ":"))
    return zlib.compress(text.encode("ascii"), 1)


class MessageError(ValueError):
    """A message that is not one of ours: too large, not zlib, not msgpack/JSON, wrong shape."""


def decode(payload: bytes, max_inflated: int = MAX_INFLATED) -> dict[str, Any]:
    """The header and columns of a message; :class:`MessageError` when it is not a valid one."""
    return decode_sized(payload, max_inflated)[0]


#: What one unpacked value costs the kernel beyond its bytes, at most: an object header
#: (a float 24 bytes, a short str 49 to 60) and its list slot (8).
VALUE_COST = 64


def decode_sized(payload: bytes, max_inflated: int = MAX_INFLATED) -> tuple[dict[str, Any], int]:
    """:func:`decode`, and what the message costs the kernel while it waits for the writer:
    its inflated bytes plus :data:`VALUE_COST` per value, an upper estimate of its objects."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise MessageError(f"a message is bytes, not {type(payload).__name__}")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(payload, max_inflated)
    except zlib.error as exc:
        raise MessageError(f"not a zlib stream: {exc}") from None
    if inflater.unconsumed_tail:
        raise MessageError(f"inflates to more than {max_inflated} bytes")
    message, values = _unpack(data)
    if type(message) is not dict or message.get("v") != VERSION:
        raise MessageError("not a taskscope batch (no version)")
    columns = [message.get(name) for name in ("ctx", "c", "t", "m", "x", "e")]
    if not all(type(column) is list for column in columns) or not len(columns[1]) == len(columns[2]) == len(columns[3]):
        raise MessageError("not a taskscope batch (columns missing or of different lengths)")
    return message, len(data) + VALUE_COST * values


#: The most values (list items and map entries) one message may unpack into, and the most
#: one list may hold. A message carries at most a batch (1,000 rows by default) with a few
#: values per row; without a bound, a small message of tiny values would make the kernel
#: build many times its size in objects (each an 8-byte slot or more for a 1-byte value).
MAX_VALUES = 2_000_000
MAX_LIST = 200_000


def _unpack(data: bytes) -> tuple[Any, int]:
    """JSON (a ``{``) or msgpack (a map), plain data only (no extension types), at most
    :data:`MAX_VALUES` values; and how many values it holds (lists, maps and their items)."""
    if data[:1] == b"{":
        # every JSON value past the first follows a comma (or opens a list): counted in C
        values = data.count(b",") + data.count(b"[") + 1
        if values > MAX_VALUES:
            raise MessageError(f"more than {MAX_VALUES} values")
        try:
            return json.loads(data), values
        except ValueError as exc:
            raise MessageError(f"not JSON: {exc}") from None
    if _msgpack is None:
        raise MessageError("not JSON (and msgpack is not installed)")
    budget = _Budget()
    try:
        value = _msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext, list_hook=budget.list,
                                 object_hook=budget.map, max_array_len=MAX_LIST, max_map_len=64, max_bin_len=0,
                                 max_ext_len=0)
    except _TooMany:
        raise MessageError(f"more than {MAX_VALUES} values") from None
    except Exception as exc:  # noqa: BLE001 - any malformed input
        raise MessageError(f"neither JSON nor msgpack: {type(exc).__name__}") from None
    return value, MAX_VALUES - budget.left


class _TooMany(Exception):
    pass


class _Budget:
    """msgpack's list and map hooks: count the values unpacked into lists and maps, stop
    past MAX_VALUES. A list is built before the hook sees it, so at most MAX_LIST values
    pass the bound (a map: 64 entries)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_VALUES

    def list(self, values: list[Any]) -> list[Any]:
        self.left -= len(values) + 1
        if self.left < 0:
            raise _TooMany
        return values

    def map(self, entries: dict[str, Any]) -> dict[str, Any]:
        self.left -= 2 * len(entries) + 1
        if self.left < 0:
            raise _TooMany
        return entries


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not accepted")

