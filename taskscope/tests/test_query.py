"""Filters become SQL in taskscope.query: semantics, escaping, time parsing, keyset paging."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from taskscope import query
from taskscope.tests._dataset_fixtures import BASE_TIME, local_timezone, row, write_store


@pytest.fixture
def new_york() -> Iterator[None]:
    with local_timezone("America/New_York"):
        yield


@pytest.fixture
def store(tmp_path: Path) -> Path:
    rows = [
        row(1, logger="app", level="DEBUG", msg="starting up"),
        row(2, logger="app.db", level="INFO", msg="Connected to DB"),
        row(3, logger="app.db", level="WARNING", msg="slow query 100% cpu", task="work-1", worker="tcp://w1"),
        row(4, logger="lib_x", level="ERROR", msg="under_score and [bracket]", source="library", task="work-2",
            worker="tcp://w2", hostname="host-b"),
        row(5, logger="stdout", level="INFO", msg="printed Straße ÄRGER", source="print", task="load-1"),
        row(6, logger="taskscope", level="SYSTEM", msg="3 rows dropped", source="system", worker=None, task=None),
        row(7, logger="app[1]", level="CRITICAL", msg="back\\slash", task="work-10", extra={"n": 1}),
    ]
    return write_store(tmp_path / "s.sqlite", rows)


def seqs(path: Path, **filters: object) -> list[int]:
    with query.connection(path) as conn:
        return [r[0] for r in query.select_rows(conn, filters)]


# ---------------------------------------------------------------- filters


def test_no_filter_returns_all_in_seq_order(store: Path) -> None:
    assert seqs(store) == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("level", "expected"),
    [("warning", [3, 4, 6, 7]), ("WARN", [3, 4, 6, 7]), (40, [4, 6, 7]), ("system", [6]),
     ("Info", [2, 3, 4, 5, 6, 7]), ("50", [6, 7]), (0, [1, 2, 3, 4, 5, 6, 7])],
)
def test_level_is_this_level_or_above(store: Path, level: object, expected: list[int]) -> None:
    assert seqs(store, level=level) == expected


@pytest.mark.parametrize(
    ("level", "error"),
    [("LOUD", ValueError), (-1, ValueError), (True, TypeError), (2.5, TypeError)],
)
def test_bad_level_names_the_argument(store: Path, level: object, error: type) -> None:
    with pytest.raises(error, match="level"):
        seqs(store, level=level)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("app", [1]), ("app*", [1, 2, 3, 7]), ("app.*", [2, 3]), ("app.d?", [2, 3]),
     (["lib_x", "stdout"], [4, 5]), ("app[1]", [7]), ("app[*", [7]), ("lib%", []), ("lib_*", [4]),
     ("APP", [])],
)
def test_logger_glob_only_star_and_question_are_special(store: Path, pattern: object, expected: list[int]) -> None:
    assert seqs(store, logger=pattern) == expected


def test_task_glob(store: Path) -> None:
    assert seqs(store, task="work-*") == [3, 4, 7]
    assert seqs(store, task="work-?") == [3, 4]
    assert seqs(store, task=["load-*", "work-10"]) == [5, 7]


def test_source_exact_or_list_and_validated(store: Path) -> None:
    assert seqs(store, source="print") == [5]
    assert seqs(store, source=["library", "SYSTEM"]) == [4, 6]
    with pytest.raises(ValueError, match="source.*'prints'"):
        seqs(store, source="prints")
    with pytest.raises(ValueError, match="source: an empty list"):
        seqs(store, source=[])
    with pytest.raises(TypeError, match="source"):
        seqs(store, source=3)


def test_worker_and_hostname_exact_empty_matches_missing(store: Path) -> None:
    assert seqs(store, worker="tcp://w1") == [3]
    assert seqs(store, worker=["tcp://w1", "tcp://w2"]) == [3, 4]
    assert seqs(store, worker="") == [1, 2, 5, 6, 7]
    assert seqs(store, worker="tcp://w*") == []  # exact, not a glob
    assert seqs(store, hostname="host-b") == [4]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [("connected", [2]), ("100%", [3]), ("%", [3]), ("_", [4]), ("[bracket]", [4]),
     ("\\", [7]), ("ärger", [5]), ("straße", [5]), ("APP.DB", [2, 3])],
)
def test_text_is_case_insensitive_substring_with_wildcards_escaped(
    store: Path, needle: str, expected: list[int]
) -> None:
    assert seqs(store, text=needle) == expected


def test_text_searches_the_full_text_column_too(tmp_path: Path) -> None:
    path = write_store(tmp_path / "t.sqlite", [row(1, msg="boom", text="Traceback...\nKeyError: 'needle'")])
    assert seqs(path, text="keyerror") == [1]


def test_filters_combine_with_and(store: Path) -> None:
    assert seqs(store, logger="app*", level="WARNING", task="work-*") == [3, 7]


def test_unknown_filter_is_a_type_error_naming_it(store: Path) -> None:
    with pytest.raises(TypeError, match="'lvl'"):
        seqs(store, lvl="INFO")


def test_values_are_parameters_not_sql(store: Path) -> None:
    evil = "x'); DROP TABLE rows; --"
    assert seqs(store, logger=evil, text=evil, worker=evil) == []
    assert seqs(store) == [1, 2, 3, 4, 5, 6, 7]


def test_none_values_mean_no_filter(store: Path) -> None:
    assert seqs(store, level=None, logger=None) == [1, 2, 3, 4, 5, 6, 7]


# ---------------------------------------------------------------- time


def test_since_until_epoch_half_open(store: Path) -> None:
    assert seqs(store, since=BASE_TIME + 3, until=BASE_TIME + 5) == [3, 4]


def test_aware_and_naive_datetimes(store: Path, new_york: None) -> None:
    aware = datetime.fromtimestamp(BASE_TIME + 6, timezone.utc)
    assert seqs(store, since=aware) == [6, 7]
    naive_local = datetime.fromtimestamp(BASE_TIME + 6)  # local wall time in New York
    assert naive_local.hour != aware.hour
    assert seqs(store, since=naive_local) == [6, 7]


def test_pandas_timestamps_naive_mean_local(store: Path, new_york: None) -> None:
    naive = pd.Timestamp(datetime.fromtimestamp(BASE_TIME + 6))
    assert seqs(store, since=naive) == [6, 7]
    aware = pd.Timestamp(BASE_TIME + 6, unit="s", tz="UTC").tz_convert("Asia/Tokyo")
    assert seqs(store, until=aware) == [1, 2, 3, 4, 5]


def test_iso_strings_with_and_without_zone(store: Path, new_york: None) -> None:
    utc_text = datetime.fromtimestamp(BASE_TIME + 6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert seqs(store, since=utc_text) == [6, 7]
    local_text = datetime.fromtimestamp(BASE_TIME + 6).strftime("%Y-%m-%d %H:%M:%S")
    assert seqs(store, since=local_text) == [6, 7]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10min", 600), ("2h", 7200), ("30s", 30), ("1d", 86400), ("1.5 hours", 5400), ("500ms", 0.5),
     ("2w", 1_209_600), ("10m", 600), (" 3 MIN ", 180)],
)
def test_durations_mean_that_long_ago(text: str, seconds: float) -> None:
    assert query.to_epoch(text, "since", now=1000.0) == pytest.approx(1000.0 - seconds)


def test_other_time_forms() -> None:
    assert query.to_epoch("now", now=5.0) == 5.0
    assert query.to_epoch(timedelta(minutes=1), now=100.0) == 40.0
    assert query.to_epoch(1234, "until") == 1234.0
    assert query.to_epoch(date(2024, 5, 1)) == datetime(2024, 5, 1).timestamp()


def test_relative_since_is_measured_from_now(tmp_path: Path) -> None:
    now = time.time()
    path = write_store(tmp_path / "r.sqlite", [row(1, created=now - 3600), row(2, created=now - 60)])
    assert seqs(path, since="10min") == [2]
    assert seqs(path, since="2h") == [1, 2]
    assert seqs(path, until="30min") == [1]


@pytest.mark.parametrize(
    ("value", "error"),
    [("yesterday-ish", ValueError), ("-5min", ValueError), (float("nan"), ValueError),
     (True, TypeError), ([1], TypeError)],
)
def test_bad_times_name_the_argument(value: object, error: type) -> None:
    with pytest.raises(error, match="until"):
        query.where({"until": value})


# ---------------------------------------------------------------- rows, counts, paging


def test_limit_keeps_newest_in_seq_order(store: Path) -> None:
    with query.connection(store) as conn:
        assert [r[0] for r in query.select_rows(conn, {}, limit=3)] == [5, 6, 7]
        assert [r[0] for r in query.select_rows(conn, {"level": "ERROR"}, limit=2)] == [6, 7]
        assert query.select_rows(conn, {}, limit=0) == []
        with pytest.raises(ValueError, match="limit"):
            query.select_rows(conn, {}, limit=-1)
        with pytest.raises(TypeError, match="limit"):
            query.select_rows(conn, {}, limit="3")


def test_count_matches_select(store: Path) -> None:
    with query.connection(store) as conn:
        assert query.count(conn, {}) == 7
        assert query.count(conn, {"logger": "app*", "level": "INFO"}) == 3


def test_query_page_ascending_walks_everything_by_keyset(store: Path) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = query.query_page(store, {}, after_seq=cursor, limit=3)
        assert page["total"] == 7
        if not page["rows"]:
            break
        assert page["first_seq"] == page["rows"][0]["seq"]
        seen += [r["seq"] for r in page["rows"]]
        cursor = page["last_seq"]
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert page == {"rows": [], "total": 7, "first_seq": None, "last_seq": None}


def test_query_page_newest_first_with_filter(store: Path) -> None:
    first = query.query_page(store, {"level": "WARNING"}, limit=2, newest_first=True)
    assert [r["seq"] for r in first["rows"]] == [7, 6]
    assert (first["first_seq"], first["last_seq"], first["total"]) == (7, 6, 4)
    second = query.query_page(store, {"level": "WARNING"}, before_seq=first["last_seq"], limit=2, newest_first=True)
    assert [r["seq"] for r in second["rows"]] == [4, 3]
    window = query.query_page(store, {}, after_seq=2, before_seq=6)
    assert [r["seq"] for r in window["rows"]] == [3, 4, 5]


def test_query_page_rows_are_json_safe_dicts(tmp_path: Path) -> None:
    path = write_store(tmp_path / "j.sqlite", [row(1, extra='{"x": NaN, "y": [Infinity, 1.5]}'),
                                                row(2, extra="not json"), row(3, extra={"a": {"b": 2}})])
    page = query.query_page(path, {})
    json.dumps(page, allow_nan=False)
    assert list(page["rows"][0]) == list(query.COLUMNS)
    assert [r["extra"] for r in page["rows"]] == [{"x": None, "y": [None, 1.5]}, "not json", {"a": {"b": 2}}]
    assert page["rows"][0]["created"] == BASE_TIME + 1


def test_query_page_never_uses_offset_and_takes_a_connection(store: Path) -> None:
    statements: list[str] = []
    conn = query.connect(store)
    conn.set_trace_callback(statements.append)
    page = query.query_page(conn, {"text": "a"}, after_seq=1, limit=2, with_total=False)
    conn.close()
    assert page["total"] is None and len(page["rows"]) == 2
    assert statements and not any("OFFSET" in s.upper() for s in statements)
    assert not any("count(" in s for s in statements)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [({"limit": 0}, None, None), ({"limit": query.MAX_PAGE_ROWS + 1}, ValueError, "limit"),
     ({"after_seq": "3"}, TypeError, "after_seq"), ({"before_seq": 1.5}, TypeError, "before_seq")],
)
def test_query_page_argument_checks(store: Path, kwargs: dict, error: type | None, name: str | None) -> None:
    if error is None:
        assert query.query_page(store, {}, **kwargs)["rows"] == []
        return
    with pytest.raises(error, match=name):
        query.query_page(store, {}, **kwargs)


def index_by_scan(path: Path, filters: dict, every: int, after_seq: int | None = None, skip: int = 0) -> list[int]:
    """What seq_index's seqs must be: every every-th matching seq, read the slow way."""
    matching = [s for s in seqs(path, **filters) if after_seq is None or s > after_seq]
    return matching[skip::every]


@pytest.mark.parametrize("filters", [{"level": "WARNING"}, {"logger": "app*"}, {"text": "e"}, {"source": "system"}])
@pytest.mark.parametrize(("every", "after_seq", "skip"), [(1, None, 0), (2, None, 0), (3, 2, 1), (2, 0, 5), (10, None, 0)])
def test_seq_index_names_every_nth_matching_seq(
    store: Path, filters: dict, every: int, after_seq: int | None, skip: int
) -> None:
    answer = query.seq_index(store, filters, every, after_seq=after_seq, skip=skip)
    matching = [s for s in seqs(store, **filters) if after_seq is None or s > after_seq]
    assert answer["dense"] is False
    assert answer["seqs"] == index_by_scan(store, filters, every, after_seq, skip)
    assert answer["count"] == len(matching)
    assert (answer["first_seq"], answer["last_seq"]) == ((matching[0], matching[-1]) if matching else (None, None))


def test_seq_index_unfiltered_is_dense_without_a_scan(tmp_path: Path) -> None:
    # rows 1..3 then cleared, 4..9 stored: the stored seqs run without a gap
    path = write_store(tmp_path / "d.sqlite", [row(s) for s in range(4, 10)])
    statements: list[str] = []
    conn = query.connect(path)
    conn.set_trace_callback(statements.append)
    answer = query.seq_index(conn, {}, 4)
    after = query.seq_index(conn, {}, 4, after_seq=6)
    conn.close()
    assert answer == {"count": 6, "first_seq": 4, "last_seq": 9, "dense": True, "seqs": []}
    assert after == {"count": 3, "first_seq": 7, "last_seq": 9, "dense": True, "seqs": []}
    assert all("LIMIT" in s for s in statements if s.lstrip().upper().startswith("SELECT SEQ"))
    assert not any("OFFSET" in s.upper() or "count(" in s for s in statements)


def test_seq_index_block_start_reads_the_block_as_one_keyset_page(store: Path) -> None:
    # what the panel does for block b: a page from seqs[b] - 1 holds rows b*every ...
    matching = seqs(store, level="INFO")
    starts = query.seq_index(store, {"level": "INFO"}, 2)["seqs"]
    for b, start in enumerate(starts):
        page = query.query_page(store, {"level": "INFO"}, after_seq=start - 1, limit=2, with_total=False)
        assert [r["seq"] for r in page["rows"]] == matching[2 * b:2 * b + 2]


@pytest.mark.parametrize(("kwargs", "error"), [({"every": 0}, "every"), ({"every": 2, "skip": -1}, "skip"),
                                                ({"every": True}, "every"), ({"every": 2, "after_seq": "1"}, "after_seq")])
def test_seq_index_argument_checks(store: Path, kwargs: dict, error: str) -> None:
    every = kwargs.pop("every")
    with pytest.raises((TypeError, ValueError), match=error):
        query.seq_index(store, {}, every, **kwargs)


def test_seq_index_of_nothing(tmp_path: Path) -> None:
    blank = tmp_path / "blank.sqlite"
    sqlite3.connect(blank).close()
    nothing = {"count": 0, "first_seq": None, "last_seq": None, "seqs": []}
    assert query.seq_index(blank, {}, 5) == {**nothing, "dense": True}
    assert query.seq_index(None, {"level": "INFO"}, 5) == {**nothing, "dense": False}
    empty = write_store(tmp_path / "e.sqlite", [])
    assert query.seq_index(empty, {}, 5) == {**nothing, "dense": True}


# ---------------------------------------------------------------- stores in odd states


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        query.connect(tmp_path / "nope.sqlite")


def test_store_without_schema_yet_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.sqlite"
    sqlite3.connect(path).close()
    with query.connection(path) as conn:
        assert query.select_rows(conn, {}) == [] and query.count(conn, {}) == 0
        assert query.read_meta(conn) == {}
    assert query.query_page(path, {})["total"] == 0


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = write_store(tmp_path / "u.sqlite", [row(1)])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE rows SET msg = CAST(X'6869FF' AS TEXT)")
    conn.commit()
    conn.close()
    page = query.query_page(path, {})
    assert page["rows"][0]["msg"] == "hi\ufffd"


def test_reading_never_writes(store: Path) -> None:
    before = store.stat().st_mtime_ns, store.read_bytes()
    with query.connection(store) as conn:
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM rows")
    assert (store.stat().st_mtime_ns, store.read_bytes()) == before


def test_filters_must_be_a_mapping(store: Path) -> None:
    with pytest.raises(TypeError, match="filters must be a mapping"):
        query.query_page(store, ["level", "INFO"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown filter 'limit'"):
        query.query_page(store, {"limit": 3})


def test_numpy_numbers_are_accepted(store: Path) -> None:
    import numpy as np

    with query.connection(store) as conn:
        rows = query.select_rows(conn, {"level": np.int64(40), "since": np.float64(BASE_TIME + 4)}, limit=np.int32(2))
    assert [r[0] for r in rows] == [6, 7]
    assert query.to_epoch(np.int64(5)) == 5.0
    page = query.query_page(store, {}, after_seq=np.int64(5), limit=np.int64(10))
    assert [r["seq"] for r in page["rows"]] == [6, 7]
    with pytest.raises(TypeError, match="level"):
        query.where({"level": np.float64(30)})


def test_json_safe_plain_types_only() -> None:
    import numpy as np

    value = {"a": np.int64(3), "b": np.float32(1.5), "c": float("inf"), "d": b"\xff", 1: (1, object)}
    safe = query.json_safe(value)
    assert safe["a"] == 3 and type(safe["a"]) is int and safe["b"] == 1.5 and safe["c"] is None
    assert safe["d"] == "\ufffd" and safe["1"][1] == "<class 'object'>"
    json.dumps(safe, allow_nan=False)


def test_a_nul_in_a_filter_or_in_a_stored_value_is_matched_as_written(tmp_path: Path) -> None:
    """SQLite's LIKE and GLOB stop at a NUL (in the pattern and in the value): a NUL in
    the filter must not widen it, and text after a NUL in a row must still be found."""
    path = write_store(tmp_path / "nul.sqlite", [
        row(1, logger="alpha", msg="plain"),
        row(2, logger="alpha\x00beta", msg="before\x00after the NUL"),
        row(3, logger="gamma", msg="nothing here"),
    ])
    assert seqs(path, text="\x00") == [2]  # was every row
    assert seqs(path, text="after the") == [2]  # was none: LIKE ended at the NUL
    assert seqs(path, text="AFTER THE") == [2]  # still case-insensitive
    assert seqs(path, text="before") == [2]
    assert seqs(path, logger="alpha\x00*") == [2]  # was row 1: GLOB ended the pattern at the NUL
    assert seqs(path, logger="alpha\x00beta") == [2]
    assert seqs(path, logger="*beta") == [2]  # a value holding a NUL is matched whole
    assert seqs(path, logger="alpha") == [1]
    assert seqs(path, logger="al*") == [1, 2]
