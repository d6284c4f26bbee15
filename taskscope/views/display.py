"""Inline display of a dataset: a MIME bundle for the JupyterLab renderer, HTML and text.

``application/vnd.taskscope.table+json`` carries the newest rows for the extension's
renderer; ``text/html`` is the fallback where the extension is absent (nbviewer, GitHub,
classic notebook) and escapes every value, because log text is untrusted; ``text/plain``
is a compact table for terminals.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..record.columns import COLUMNS as RECORD
from ..record.vocabulary import INVISIBLE
from ..store import query
from ..store.query import COLUMNS


class Dataset(Protocol):
    """What a display reads: a dataset or view (:class:`taskscope.views.dataset.Dataset`)."""

    @property
    def filters(self) -> dict[str, Any]: ...
    @property
    def limit(self) -> int | None: ...
    def reading(self) -> AbstractContextManager[sqlite3.Connection | None]: ...


MIME_TYPE = "application/vnd.taskscope.table+json"
BUNDLE_VERSION = 1
DEFAULT_ROWS = 200
PLAIN_ROWS = 20
HTML_CELL_CHARS = 300
PLAIN_MSG_CHARS = 100
PLAIN_CELL_CHARS = 40
#: Inline output is saved in the notebook: strings longer than this are cut in the bundle
#: (the full row stays in the store, for get() and the log panel).
BUNDLE_CELL_CHARS = 10_000
#: The HTML fallback's columns: seq, then the record's grid columns, the message last.
HTML_COLUMNS: tuple[str, ...] = ("seq", *(c.name for c in RECORD if c.shown == "grid" and c.name != "msg"), "msg")
PLAIN_COLUMNS: tuple[str, ...] = ("seq", "created", "level", "logger", "msg")

# Direction overrides/isolates and other invisible controls would let log text reorder or
# hide what is shown around it: display them as visible code points instead.
_INVISIBLE = re.compile(INVISIBLE)
_LEVEL_STYLES: tuple[tuple[int, str], ...] = (
    (query.SYSTEM_LEVEL, "color:#6c3fb5"),
    (50, "color:#fff;background-color:#b00020;font-weight:bold"),
    (40, "color:#b00020;font-weight:bold"),
    (30, "color:#a05a00;font-weight:bold"),
    (20, "color:#1b6e20"),
    (0, "color:#777"),
)


@dataclass(frozen=True)
class Snapshot:
    """What one display shows: the newest rows (seq order), the match count and the context."""

    rows: list[dict[str, Any]]
    total: int
    filter: dict[str, Any]
    session_id: str | None
    has_store: bool


def snapshot(dataset: Dataset, n: int | None = None) -> Snapshot:
    """Read the newest ``n`` rows of a dataset (its own limit, else DEFAULT_ROWS)."""
    n = min(n if n is not None else (dataset.limit if dataset.limit is not None else DEFAULT_ROWS),
            query.MAX_PAGE_ROWS)
    with dataset.reading() as conn:
        if conn is None:
            return Snapshot([], 0, filter_json(dataset.filters), None, False)
        page = query.query_page(conn, dataset.filters, limit=n, newest_first=True)
        session_id = query.read_meta(conn).get("session_id")
    return Snapshot(page["rows"][::-1], page["total"], filter_json(dataset.filters), session_id, True)


def filter_json(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Filters as given, made JSON-safe and readable (datetimes as ISO text)."""
    return {key: _filter_value(value) for key, value in filters.items()}


def _filter_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    return query.json_safe(value)


def mime_bundle(dataset: Dataset, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """IPython's ``_repr_mimebundle_`` for a dataset or view (honours include/exclude)."""
    snap = snapshot(dataset)
    renderers = {MIME_TYPE: table_json, "text/html": table_html, "text/plain": table_text}
    wanted = [m for m in renderers if (not include or m in include) and not (exclude and m in exclude)]
    return {mime: renderers[mime](snap) for mime in wanted}


def table_json(snap: Snapshot) -> dict[str, Any]:
    """The custom MIME payload: rows as lists in ``columns`` order, created in epoch seconds."""
    return {
        "version": BUNDLE_VERSION,
        "columns": list(COLUMNS),
        "rows": [[bundle_value(row[name]) for name in COLUMNS] for row in snap.rows],
        "total": snap.total,
        "filter": snap.filter,
        "session_id": snap.session_id,
    }


def bundle_value(value: Any) -> Any:
    """A JSON-safe row value, long strings cut with a marker saying how much is left out."""
    if isinstance(value, str) and len(value) > BUNDLE_CELL_CHARS:
        return f"{value[:BUNDLE_CELL_CHARS]}… [{len(value) - BUNDLE_CELL_CHARS} more characters]"
    return value


# ---------------------------------------------------------------- shared text helpers


def visible(value: Any) -> str:
    """A value as display text with invisible and direction-changing controls spelled out."""
    text = "" if value is None else str(value)
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(epoch: Any, with_date: bool = True) -> str:
    """Epoch seconds as local time text, to the millisecond."""
    if not isinstance(epoch, (int, float)):
        return ""
    try:
        stamp = datetime.fromtimestamp(epoch)
    except (OverflowError, OSError, ValueError):
        return str(epoch)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f")[:-3]


def summary(snap: Snapshot) -> str:
    """One line: which session, how many rows of how many, under which filter."""
    if not snap.has_store:
        return "taskscope: no session yet; run taskscope.start() or %taskscope start"
    shown = ", ".join(f"{key}={value!r}" for key, value in snap.filter.items())
    where = f" matching {shown}" if shown else ""
    return f"taskscope session {snap.session_id}: showing {len(snap.rows)} of {snap.total} rows{where}"


def _cell_text(row: Mapping[str, Any], name: str) -> str:
    if name == "created":
        return clock(row.get("created"))
    return visible(row.get(name))


# ---------------------------------------------------------------- HTML


def table_html(snap: Snapshot) -> str:
    """An escaped HTML table: no character of log text reaches the markup unescaped."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in HTML_COLUMNS)
    body = "".join(_html_row(row) for row in snap.rows)
    if not snap.rows:
        body = f'<tr><td colspan="{len(HTML_COLUMNS)}">no matching rows</td></tr>'
    return (
        '<div class="taskscope-table"><table>'
        f'<caption style="text-align:left">{html.escape(summary(snap))}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _html_row(row: Mapping[str, Any]) -> str:
    cells = []
    for name in HTML_COLUMNS:
        text = html.escape(cut(_cell_text(row, name), HTML_CELL_CHARS), quote=True)
        style = _cell_style(row, name)
        cells.append(f'<td style="{style}">{text}</td>' if style else f"<td>{text}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _cell_style(row: Mapping[str, Any], name: str) -> str:
    """Fixed styles chosen by column and level number, never built from log text."""
    if name == "level":
        return level_style(row.get("levelno"))
    if name == "msg":
        return "text-align:left;white-space:pre-wrap"
    return ""


def level_style(levelno: Any) -> str:
    """The inline colour for a level number."""
    number = levelno if isinstance(levelno, int) else 0
    return next(style for floor, style in _LEVEL_STYLES if number >= floor)


# ---------------------------------------------------------------- plain text


def table_text(snap: Snapshot) -> str:
    """A compact fixed-width table of the newest PLAIN_ROWS rows."""
    rows = snap.rows[-PLAIN_ROWS:]
    lines = [summary(snap)]
    if len(rows) < len(snap.rows):
        lines[0] += f" (last {len(rows)} below)"
    if not rows:
        return lines[0]
    cells = [list(PLAIN_COLUMNS)] + [[_plain_cell(row, name) for name in PLAIN_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(PLAIN_COLUMNS) - 1)]
    for line in cells:
        padded = [text.ljust(width) for text, width in zip(line, widths)]
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    return "\n".join(lines)


def _plain_cell(row: Mapping[str, Any], name: str) -> str:
    if name == "created":
        return clock(row.get("created"), with_date=False)
    text = _cell_text(row, name)
    if name == "msg":
        return cut(text.split("\n", 1)[0], PLAIN_MSG_CHARS)
    return cut(text.replace("\n", "\\n"), PLAIN_CELL_CHARS)
