"""One row of the log table as it is built: a plain tuple in :data:`columns.FIELDS` order.

Tuples are what ``sqlite3.executemany`` binds fastest and what the writer builds
cheapest; :func:`make_row` is where a row is put together from named fields, and
``row[AT[name]]`` reads one (:mod:`taskscope.record.columns`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Mapping

from . import safe
from .columns import AT
from .context import NOWHERE
from .sources import SYSTEM_LOGGER, SYSTEM_SOURCE, source_of
from .vocabulary import START_OPTIONS, SYSTEM

Row = tuple[Any, ...]

HOSTNAME = socket.gethostname()


@dataclass(frozen=True)
class Caps:
    """How long a field may be before it is cut with a marker (characters)."""

    msg: int = START_OPTIONS["msg_cap"]
    text: int = START_OPTIONS["text_cap"]
    extra: int = START_OPTIONS["extra_cap"]
    #: Rows are built to leave this process (a Dask worker, a pool child): see
    #: :data:`WireRow`. The kernel finishes them (:func:`head_text`).
    wire: bool = False


#: A row as a remote process (a Dask worker, a pool child) builds it when its caps say
#: ``wire``: ``(context, created, msg, text, extra)``, the context being
#: ``(level, levelno, source, logger, thread, task, action, cell, run_id)``: what most rows of a batch
#: share, sent once per batch. ``text`` is None where it would be just the line (no
#: traceback): the kernel writes it. hostname, pid and worker are the sender's, sent
#: once per message.
WireRow = tuple[tuple[Any, ...], float, str, "str | None", "str | None"]


_stamp_cache: list[Any] = [None, ""]


def stamp(created: float) -> str:
    """``created`` as a log file shows it, local time to the millisecond.

    The seconds part is cached: rows come in bursts within the same second.
    """
    whole = int(created)
    if _stamp_cache[0] != whole:
        _stamp_cache[1] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(whole))
        _stamp_cache[0] = whole
    return f"{_stamp_cache[1]}.{int((created - whole) * 1000):03d}"


def line_text(created: float, level: str, logger: str, msg: str, detail: str = "") -> str:
    """The full line as a log file would show it, the traceback (``detail``) below it."""
    head = f"{stamp(created)} {level} {logger}: {msg}"
    return f"{head}\n{detail}" if detail else head


def head_text(created: float, level: str, logger: str, msg: str, caps: Caps) -> str:
    """The ``text`` of a row without a traceback, as :func:`make_row` writes it."""
    return safe.cut(line_text(created, level, logger, msg), caps.text)


def make_row(
    created: float,
    levelno: int,
    source: str,
    logger: str,
    msg: str,
    caps: Caps,
    *,
    thread: str = "",
    detail: str = "",
    extra: str | None = None,
    level: str | None = None,
    hostname: str = HOSTNAME,
    pid: int | None = None,
    worker: str = "",
    task: str = "",
    where: tuple[str, str] = NOWHERE,
    dropped: int = 0,
) -> Row:
    """A row in :data:`~taskscope.record.columns.FIELDS` order, message and text cut to
    ``caps``: the one place a row tuple is put together field by field.

    Strings may hold lone surrogates: the store escapes them only in a batch that has one.
    ``where`` is ``(action, cell)`` (:func:`taskscope.record.context.where` at the call).
    ``dropped`` counts characters already cut off the end of ``msg``. With ``caps.wire``
    the row is a :data:`WireRow` instead.
    """
    name = level if level is not None else logging.getLevelName(levelno)
    if dropped or len(msg) > caps.msg:  # the checks inlined: this runs for every row
        msg = safe.cut(msg, caps.msg, dropped)
    if caps.wire:
        text = safe.cut(line_text(created, name, logger, msg, detail), caps.text) if detail else None
        return ((name, levelno, source, logger, thread, task, *where, None), created, msg, text, extra)
    text = line_text(created, name, logger, msg, detail)
    if len(text) > caps.text:
        text = safe.cut(text, caps.text)
    return (
        created, name, levelno, source, logger, msg, text,
        hostname, os.getpid() if pid is None else pid, thread, worker, task, extra, *where,
    )


def system_row(msg: str, caps: Caps, extra: Mapping[str, Any] | None = None) -> Row:
    """A SYSTEM row: taskscope telling what it did (started, stopped, N rows dropped)."""
    return make_row(
        time.time(), SYSTEM, SYSTEM_SOURCE, SYSTEM_LOGGER, msg, caps,
        thread="taskscope", extra=safe.to_json(dict(extra), caps.extra) if extra else None,
    )


def row_from_dict(data: Mapping[str, Any], caps: Caps) -> Row:
    """A ready-made row (from a Dask worker, a pool child, ...) made safe, in FIELDS order.

    Missing fields get defaults; every value is coerced to its column's type, so one bad
    field never costs the row.
    """
    levelno = _int(data.get("levelno"), logging.INFO)
    level = data.get("level")
    logger = safe.safe_str(data.get("logger") or "")
    msg = safe.safe_str(data.get("msg", ""))
    text = data.get("text")
    extra = data.get("extra")
    created = _float(data.get("created"), time.time())
    row = make_row(
        created, levelno,
        safe.safe_str(data.get("source") or source_of(logger)),
        logger, msg, caps,
        level=safe.safe_str(level) if level else None,
        thread=safe.safe_str(data.get("thread") or ""),
        extra=_extra_json(extra, caps),
        hostname=safe.safe_str(data.get("hostname") or HOSTNAME),
        pid=_int(data.get("pid"), os.getpid()),
        worker=safe.safe_str(data.get("worker") or ""),
        task=safe.safe_str(data.get("task") or ""),
        where=(safe.safe_str(data.get("action") or ""), safe.safe_str(data.get("cell") or "")),
    )
    if isinstance(text, str) and text:
        row = replace(row, text=safe.cut(text, caps.text))
    return row


def replace(row: Row, **fields: Any) -> Row:
    """``row`` with the named fields replaced (the slow path: a few rows, not every row)."""
    values = list(row)
    for name, value in fields.items():
        values[AT[name]] = value
    return tuple(values)


def _extra_json(extra: object, caps: Caps) -> str | None:
    """``extra`` of a ready-made row: JSON text kept if it is text, else encoded."""
    if extra is None or extra == "":
        return None
    if isinstance(extra, str):
        return safe.cut(extra, caps.extra)
    return safe.to_json(extra, caps.extra)


def _int(value: object, default: int) -> int:
    """``value`` as an int column, ``default`` when it is not a number."""
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default


def _float(value: object, default: float) -> float:
    """``value`` as a float column, ``default`` when it is not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number == number and abs(number) != float("inf") else default
