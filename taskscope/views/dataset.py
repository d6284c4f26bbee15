"""The rows of a session as pandas: ``taskscope.logger.dataset`` and ``taskscope.sessions()``.

A :class:`Dataset` holds no rows. It names a store (the current session, looked up at each
call, or a past session's file) and a filter, and asks SQLite afresh every time, so a
dataset or a filtered view displayed twice shows what is there now.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import pandas as pd

from ..record.columns import ACTION_COLUMNS, ACTION_NAMES, COLUMNS as RECORD, Column
from ..session.session import last as last_session
from ..store import action_query, query
from ..store.query import COLUMNS
from ..store.sqlite import home
from . import display
from .actions import MAX_NODES, ActionTree, action_dicts



def _pandas() -> Any:
    """pandas, imported on first use so that ``import taskscope`` (every kernel) stays light."""
    import pandas

    return pandas


def _numpy() -> Any:
    """NumPy (pandas' own), imported on first use like pandas."""
    import numpy

    return numpy


@lru_cache(maxsize=None)
def _text_dtype() -> Any:
    return "str" if int(_pandas().__version__.split(".")[0]) >= 3 else object


SESSION_COLUMNS: tuple[str, ...] = (
    "session_id", "started", "kernel_id", "hostname", "pid", "rows", "size_bytes", "path", "current",
)


# ---------------------------------------------------------------- time zone


def local_zone() -> tzinfo:
    """This machine's time zone, as a ZoneInfo when it can be named (right across DST)."""
    now = datetime.now().astimezone()
    for key in _zone_keys():
        try:
            zone = ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
        if now.replace(tzinfo=zone).utcoffset() == now.utcoffset():
            return zone
    return now.tzinfo or timezone.utc


def _zone_keys() -> Iterator[str]:
    """Candidate IANA names: $TZ, then where /etc/localtime points, then /etc/timezone."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        yield tz.split("zoneinfo/", 1)[-1]
        return  # $TZ rules: a name we cannot use must not fall through to the system's
    target = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in target:
        yield target.split("zoneinfo/", 1)[1]
    try:
        yield Path("/etc/timezone").read_text().strip()
    except OSError:
        pass


def local_times(epochs: Any) -> pd.Series:
    """Epoch seconds as a tz-aware local datetime Series (microseconds, like Python)."""
    pd = _pandas()
    seconds = pd.Series(epochs, dtype="float64")
    utc = pd.to_datetime((seconds * 1e6).round(), unit="us", utc=True).astype("datetime64[us, UTC]")
    return utc.dt.tz_convert(local_zone())


# ---------------------------------------------------------------- frames


def frame(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """Stored rows (tuples in COLUMNS order) as a DataFrame with the record's columns and
    their declared dtypes (:mod:`taskscope.record.columns`), also when empty."""
    return _frame([list(rows)])


def actions_frame(actions: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """Stored actions (tuples in ACTION_NAMES order) as a DataFrame with the actions
    table's columns and their declared dtypes (:data:`ACTION_COLUMNS`), also when empty."""
    return _frame([list(actions)], ACTION_COLUMNS)


def _frame(batches: Iterable[Sequence[tuple[Any, ...]]], columns: Sequence[Column] = RECORD) -> pd.DataFrame:
    """Batches of stored rows (see :func:`query.read_batches`; a row without its extra kind
    is read as if its extra were not known to be JSON) as :func:`frame`'s DataFrame
    (or, with ``columns``, of other stored tuples: the actions').

    Each batch becomes one 2-D object array (one pass over its values, in C) and, at once,
    NumPy arrays for its numbers and parsed extras, so no row outlives its batch as a
    tuple; each text column is joined from the batches' arrays at the end. Python's cyclic
    garbage collector is paused meanwhile: the values are freed by their reference counts,
    and its full passes over the growing number of parsed extras cost more than the read.
    """
    pd = _pandas()
    width = len(columns)
    blocks: list[Any] = []
    native: list[list[Any]] = [[] for _ in columns]
    with _collector_paused():
        for batch in batches:
            if not batch:
                continue
            block = _numpy().array(batch, dtype=object)
            del batch
            for i, column in enumerate(columns):
                if column.dtype == "json":
                    native[i].append(_extras(block[:, i], block[:, width] if block.shape[1] > width else None))
                elif column.dtype in _NATIVE:
                    native[i].append(_numbers(column.dtype, block[:, i]))
                else:
                    continue
                block[:, i] = None  # its objects go now, while they are in the cache
            blocks.append(block[:, :width])
        data = {
            column.name: _series(column.dtype, _joined(
                [block[:, i] for block in blocks] if column.dtype == "text" else native[i]))
            for i, column in enumerate(columns)
        }
        del blocks
        return pd.DataFrame(data, columns=[column.name for column in columns], copy=False)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """``gc`` disabled for the block, enabled after it if it was before."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


#: For each numeric dtype, the NumPy dtype a batch is taken in, by what pandas infers of its
#: values; any other mix (a NULL, a text in a number column) stays objects, converted by
#: pandas as before (e.g. ints with NULLs to Int64 with NA).
_NATIVE: dict[str, dict[str, str]] = {
    "int64": {"integer": "int64"},
    "Int64": {"integer": "int64"},
    "datetime": {"floating": "float64", "integer": "float64", "mixed-integer-float": "float64"},
    "float64": {"floating": "float64", "integer": "float64", "mixed-integer-float": "float64"},
}


def _numbers(dtype: str, values: Any) -> Any:
    """One batch of a numeric column (an object array): a NumPy array where every value is a
    number of the column's kind (no NULL), else a copy of the objects."""
    target = _NATIVE[dtype].get(_pandas().api.types.infer_dtype(values, skipna=False))
    if target is not None:
        try:
            return values.astype(target)
        except OverflowError:  # an int beyond int64: pandas says what it makes of it
            pass
    return values.copy()


def _objects(values: Sequence[Any]) -> Any:
    """The values as a 1-D object array (never nested, whatever they hold)."""
    return _numpy().fromiter(values, dtype=object, count=len(values))


def _extras(values: Any, kinds: Any) -> Any:
    """One batch of ``extra`` (an object array) as parsed values: the JSON ones by a single
    parse, the rest one by one (:func:`query.parse_extra`), NULL as None."""
    np = _numpy()
    out = np.array(values, dtype=object)
    is_json = kinds == query.EXTRA_JSON if kinds is not None else np.zeros(len(out), dtype=bool)
    at = np.flatnonzero(is_json)
    parsed = query.parse_extras(out[at].tolist()) if len(at) else []
    if parsed is None:
        is_json[:] = False
    elif len(at):
        out[at] = _objects(parsed)
    for i in np.flatnonzero(~is_json & (out != None)):  # noqa: E711 - elementwise
        out[i] = query.parse_extra(out[i])
    return out


def _joined(parts: list[Any]) -> Any:
    """A column's batches as one array (object, if their kinds differ); empty: no values."""
    np = _numpy()
    if not parts:
        return np.empty(0, dtype=object)
    return np.ascontiguousarray(parts[0]) if len(parts) == 1 else np.concatenate(parts)


def _series(dtype: str, values: Any) -> pd.Series:
    """A column's values as a Series of its declared dtype."""
    pd = _pandas()
    if dtype == "datetime":
        return local_times(values)
    if dtype == "json":
        return pd.Series(values, dtype=object, copy=False)
    if dtype == "Int64" and values.dtype.name == "int64":
        return pd.Series(pd.arrays.IntegerArray(values, _numpy().zeros(len(values), dtype=bool)), copy=False)
    return pd.Series(values, dtype=_text_dtype() if dtype == "text" else dtype, copy=False)


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes``; a None value removes that filter."""
    merged = {**base, **changes}
    return {key: value for key, value in merged.items() if value is not None}


# ---------------------------------------------------------------- Dataset


class Dataset:
    """Rows of one taskscope session, narrowed by a filter, read with pandas.

    ``taskscope.logger.dataset`` follows the current session; :meth:`open` binds a past
    one (read-only); :meth:`filter` returns a view with the same API and inline display.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._filters = _merged({}, filters or {})
        query.where(self._filters)  # bad filters fail here, where they were written
        self._limit = query.check_limit(limit)

    # -- what it is bound to

    @property
    def filters(self) -> dict[str, Any]:
        """This view's filters, as given (relative times are resolved at each query)."""
        return dict(self._filters)

    @property
    def limit(self) -> int | None:
        """This view's row limit: get() returns at most the newest ``limit`` rows."""
        return self._limit

    @property
    def readonly(self) -> bool:
        """True for a past session opened with :meth:`open`."""
        return self._path is not None

    @property
    def path(self) -> Path | None:
        """The store file read now; None while no session was ever started here."""
        if self._path is not None:
            return self._path
        session = last_session()
        return session.path if session is not None else None

    @property
    def session_id(self) -> str | None:
        """The bound session's id, from its store."""
        with self.reading() as conn:
            return None if conn is None else query.read_meta(conn).get("session_id")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection to the bound store, or None when there is none yet.

        The current session is flushed first, so rows logged just before are visible.
        """
        path = self.path
        session = last_session()
        if session is not None and path is not None and (self._path is None or _is_current(path)):
            session.flush()
        if path is None or (self._path is None and not path.exists()):
            yield None
            return
        with query.connection(path) as conn:
            yield conn

    # -- queries

    def get(self, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        """Matching rows as a DataFrame in seq order; ``limit`` keeps the newest N.

        Filters: logger, level, source, task, worker, hostname, text, since, until, and
        action (the rows of that action and of every action inside it) and cell (``3``,
        ``"3:<cell id>"`` or a cell id); see :mod:`taskscope.query`. They refine this
        view's own filters.
        """
        view = self.filter(limit=limit, **filters) if (filters or limit is not None) else self
        with view.reading() as conn:
            if conn is None:
                return frame(())
            return query.read_batches(conn, view._filters, view._limit, _frame)

    def actions(self, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        """Matching actions (docs/actions.md), one row each by start, columns
        ``ACTION_NAMES`` with their declared dtypes; ``limit`` keeps the newest N.

        Filters: get()'s (``logger`` matches the type; level, source and text the action's
        start row), and type (a glob), status, parent, min_duration (seconds or ``"10ms"``),
        action (it and every action inside it), cell. This view's filters apply too.
        A session written before actions has none: an empty frame.
        """
        merged = self._action_filters(filters)
        with self.reading() as conn:
            return actions_frame(() if conn is None else action_query.select_actions(conn, merged, limit))

    def tree(self, **filters: Any) -> ActionTree:
        """The matching actions with every action inside them and the chain above them up
        to its root, as an :class:`ActionTree` (displays as an interactive tree; its text is
        eliot-tree-like). At most :data:`MAX_NODES` actions, the first started: beyond, it
        says it was truncated. Filters as :meth:`actions`."""
        return self._tree(self._action_filters(filters), MAX_NODES, with_rows=False)

    def to_eliot(self, path: str | os.PathLike[str] | Any, **filters: Any) -> int:
        """Write the tree of the matching actions (all of them, as :meth:`tree` selects them,
        uncut) and the log rows inside them as Eliot JSON lines, so that ``eliot-tree path``
        renders them; ``path`` a file name or an open text file. Returns the number of
        messages written."""
        return self._tree(self._action_filters(filters), None, with_rows=True).write_eliot(path)

    def _action_filters(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """This view's filters refined by ``filters``, checked as action filters."""
        action_query.check_keys(filters, "actions() filter")
        merged = _merged(self._filters, filters)
        action_query.action_where(merged)  # bad values fail before the store is read
        return merged

    def _tree(self, filters: Mapping[str, Any], cap: int | None, with_rows: bool) -> ActionTree:
        with self.reading() as conn:
            if conn is None:
                return ActionTree(())
            found, total = action_query.select_tree(conn, filters, cap)
            actions = action_dicts(found, ACTION_NAMES)
            for action in actions:
                action["fields"] = query.parse_extra(action["fields"])
                action["result"] = query.parse_extra(action["result"])
            rows = action_dicts(action_query.select_action_rows(conn, filters), action_query.ACTION_ROW_NAMES) \
                if with_rows else ()
            children = action_query.children_counts(conn, [a["action"] for a in actions]) if total > len(actions) \
                else None
        return ActionTree(actions, total, rows, children)

    def tail(self, n: int = 10, **filters: Any) -> pd.DataFrame:
        """The newest ``n`` matching rows, oldest of them first."""
        return self.get(limit=query.check_limit(n, "n"), **filters)

    def count(self, **filters: Any) -> int:
        """How many rows match (counted in SQLite; the view's limit does not apply)."""
        view = self.filter(**filters) if filters else self
        with view.reading() as conn:
            return 0 if conn is None else query.count(conn, view._filters)

    def page(
        self,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 500,
        newest_first: bool = False,
    ) -> dict[str, Any]:
        """One keyset page of this view as JSON-safe dicts: see :func:`query.query_page`."""
        with self.reading() as conn:
            if conn is None:
                return query.empty_page()
            return query.query_page(conn, self._filters, after_seq, before_seq, limit, newest_first)

    # -- derived datasets

    def filter(self, limit: int | None = None, **filters: Any) -> Dataset:
        """A lazy view narrowed further: same get/tail/count API and inline display."""
        query.check_keys(filters, "filter")
        return Dataset(self._path, _merged(self._filters, filters), limit if limit is not None else self._limit)

    def open(self, session: Any) -> Dataset:
        """A read-only dataset of a past session: a session id, a store path or a sessions() row."""
        return Dataset(find_session(session), self._filters, self._limit)

    # -- changes

    def clear(self) -> None:
        """Delete every row of the current session (seq keeps counting up).

        Refused on a view (it would delete more than the view shows) and on a past session.
        """
        if self.readonly:
            raise RuntimeError(f"{self._path} was opened read-only; clear() only empties the current session")
        if self._filters:
            raise RuntimeError(
                "clear() deletes the whole session, not just this view's rows; "
                "call taskscope.logger.dataset.clear() to mean that"
            )
        session = last_session()
        if session is not None and not session.clear():
            raise TimeoutError("taskscope's writer did not clear the session in time; nothing was lost, try again")

    # -- display

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """IPython's rich display: the newest rows as taskscope table, HTML and text."""
        return display.mime_bundle(self, include, exclude)

    def __repr__(self) -> str:
        where = f"session file {self._path}" if self._path is not None else "current session"
        shown = ", ".join(f"{key}={value!r}" for key, value in self._filters.items())
        limit = f", limit={self._limit}" if self._limit is not None else ""
        return f"<taskscope Dataset: {where}{', ' + shown if shown else ''}{limit}>"


def _is_current(path: Path) -> bool:
    """Is this the file the running (or last) session of this process writes?"""
    session = last_session()
    return session is not None and _same_file(session.path, path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


# ---------------------------------------------------------------- sessions


def session_files() -> list[Path]:
    """Every stored session's SQLite file."""
    folder = home() / "sessions"
    return sorted(folder.glob("*.sqlite")) if folder.is_dir() else []


def _session_info(path: Path) -> dict[str, Any] | None:
    """One sessions() row; None for a file SQLite cannot read as a store."""
    try:
        with query.connection(path) as conn:
            meta = query.read_meta(conn)
            rows = query.count(conn, {})
    except (sqlite3.Error, OSError):
        return None
    return {
        "session_id": meta.get("session_id") or path.stem,
        "started": _number(meta.get("started"), float),
        "kernel_id": meta.get("kernel_id"),
        "hostname": meta.get("hostname"),
        "pid": _number(meta.get("pid"), int),
        "rows": rows,
        "size_bytes": sum(_size(Path(f"{path}{suffix}")) for suffix in ("", "-wal")),
        "path": str(path),
        "current": _is_current(path),
    }


def _number(text: Any, kind: type[int] | type[float]) -> Any:
    """A meta value as a number; None where it is missing or not a number."""
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def sessions() -> pd.DataFrame:
    """Stored sessions, newest first: id, start time, kernel, rows, size and file.

    Reads stores read-only, also those whose writer was killed; files that are not a
    taskscope store are left out.
    """
    infos = [info for info in map(_session_info, session_files()) if info is not None]
    infos.sort(key=lambda info: (info["started"] or 0.0, info["path"]), reverse=True)
    columns = {name: [info[name] for info in infos] for name in SESSION_COLUMNS}
    pd, text = _pandas(), _text_dtype()
    return pd.DataFrame({
        "session_id": pd.Series(columns["session_id"], dtype=text),
        "started": local_times(columns["started"]),
        "kernel_id": pd.Series(columns["kernel_id"], dtype=text),
        "hostname": pd.Series(columns["hostname"], dtype=text),
        "pid": pd.Series(columns["pid"], dtype="Int64"),
        "rows": pd.Series(columns["rows"], dtype="int64"),
        "size_bytes": pd.Series(columns["size_bytes"], dtype="int64"),
        "path": pd.Series(columns["path"], dtype=text),
        "current": pd.Series(columns["current"], dtype=bool),
    })


def find_session(session: Any) -> Path:
    """The store file named by a session id, a path, a sessions() row or a Dataset."""
    if isinstance(session, Dataset):
        found = session.path
        if found is None:
            raise ValueError("session: that dataset has no store yet")
        return found
    pd = sys.modules.get("pandas")  # not loaded: session cannot be a pandas object
    if pd is not None and isinstance(session, pd.DataFrame):
        if len(session) != 1:
            raise ValueError(f"session: pass one row of sessions(), not {len(session)}")
        session = session.iloc[0]
    if isinstance(session, Mapping) or (pd is not None and isinstance(session, pd.Series)):
        if "path" not in session:
            raise ValueError("session: a row of sessions() needs its 'path'")
        return _existing(Path(str(session["path"])))
    if isinstance(session, os.PathLike) or (isinstance(session, str) and os.sep in session):
        return _existing(Path(session))
    if isinstance(session, str):
        return _session_by_id(session)
    raise TypeError(f"session must be a session id, a path or a sessions() row, not {type(session).__name__}")


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"session: no store file at {path}")
    return path


def _session_by_id(key: str) -> Path:
    """Match a session id, a file name (stem) or a unique id prefix of 4+ characters."""
    if Path(key).is_file():
        return Path(key)
    candidates = [(path, _stored_id(path)) for path in session_files()]
    exact = [p for p, sid in candidates if key in (sid, p.stem) or p.stem.endswith(f"-{key}")]
    if not exact and len(key) >= 4:
        exact = [p for p, sid in candidates if sid is not None and sid.startswith(key)]
    if len(exact) == 1:
        return exact[0]
    if not exact:
        raise ValueError(f"session: no stored session {key!r} under {home() / 'sessions'}")
    raise ValueError(f"session: {key!r} matches {len(exact)} sessions; use more of the id or the path")


def _stored_id(path: Path) -> str | None:
    try:
        with query.connection(path) as conn:
            return query.read_meta(conn).get("session_id")
    except (sqlite3.Error, OSError):
        return None

