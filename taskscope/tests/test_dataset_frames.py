"""get()'s frames, read in batches: the same contents as row by row, for every kind of stored value.

The reference is the frame as ``get()`` built it before it read in batches: every row
fetched, then each column converted by pandas and each ``extra`` parsed on its own. That is
what docs/dataset.md promises; the batched read must not differ from it in any value or dtype.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taskscope.record.columns import COLUMNS as RECORD
from taskscope.store import query
from taskscope.store.query import COLUMNS
from taskscope.tests._dataset_fixtures import BASE_TIME, row, write_store
from taskscope.views import dataset as ds

HUGE = {"blob": "x" * 3_000_000, "numbers": list(range(20_000)), "nested": {"deep": [{"k": "v"}] * 100}}
#: Values stored as JSON (json.dumps), from seq 2 on.
VALUES: list[Any] = [
    {"user": "ann", "n": [1, 2]},
    {"clef": "𝄞", "combining": "e\u0301", "rtl": "\u202eevil", "数据": "température"},
    HUGE, [1, 2, 3], 42, "a JSON string", True, {}, [], None,
    {"big": 123456789012345678901234567890, "float": 1.5e300},
]
#: Texts stored as they are, then what get() makes of each. None of the first eight is JSON
#: alone (the row keeps it as text), but joined with its neighbours by commas some would
#: parse into other values: "1, 2" is two, "[3" and "4]" one, '"a", "b' and 'c"' the
#: strings "a" and "b,c".
TEXTS: list[tuple[str, Any]] = [
    *((text, text) for text in ["not json {", "1, 2", "[3", "4]", '"a", "b', 'c"', "{'single': 'quotes'}", ""]),
    ("NaN", float("nan")),  # Python's json reads it, SQLite's does not
    ('{"nul": "a\\u0000b"}', {"nul": "a\x00b"}),  # an escaped NUL: JSON
    ('{"nul": "a\x00b"}', '{"nul": "a\x00b"}'),  # a raw NUL in a string: not JSON
    (' {"padded": 1} ', {"padded": 1}),
    ('{"dup": 1, "dup": 2}', {"dup": 2}),
]


def mixed_rows() -> list[dict[str, Any]]:
    """Rows with every kind of value the store may hold, JSON and not, NULL and not."""
    extras = [None, *(json.dumps(value, ensure_ascii=False) for value in VALUES), *(text for text, _ in TEXTS)]
    rows = [row(i, extra=extra, logger=["app", "app.db", "数据.log"][i % 3], level=["INFO", "WARNING", "ERROR"][i % 3],
                msg=f"message {i} \u202e Straße 𝄞" + ("\x00after the NUL" if i % 4 == 0 else ""))
            for i, extra in enumerate(extras, start=1)]
    rows[2].update(text=None, pid=None, levelno=None, worker=None, task=None, created=int(BASE_TIME) + 2)
    rows[5].update(pid=None)
    return rows


def reference(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The frame as get() built it row by row (the contract docs/dataset.md describes)."""
    text = ds._text_dtype()
    columns = list(zip(*rows)) if rows else [()] * len(RECORD)
    data: dict[str, pd.Series] = {}
    for column, values in zip(RECORD, columns):
        if column.dtype == "datetime":
            data[column.name] = ds.local_times(values)
        elif column.dtype == "json":
            data[column.name] = pd.Series([query.parse_extra(v) for v in values], dtype=object)
        else:
            data[column.name] = pd.Series(values, dtype=text if column.dtype == "text" else column.dtype)
    return pd.DataFrame(data, columns=list(COLUMNS))


def expected(path: Path, filters: dict[str, Any] | None = None, limit: int | None = None) -> pd.DataFrame:
    with query.connection(path) as conn:
        return reference(query.select_rows(conn, filters or {}, limit))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = write_store(tmp_path / "mixed.sqlite", mixed_rows())
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO rows(created, level, levelno, msg, extra) VALUES (?, 'INFO', 20, 'blob', X'7b7d')",
                 (BASE_TIME + 100,))  # a blob where text belongs: bytes, parsed as before
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
@pytest.mark.parametrize("filters, limit", [
    ({}, None), ({}, 5), ({"text": "after the nul"}, None), ({"logger": "app*", "level": "WARNING"}, 3),
    ({"text": "\x00"}, None),
])
def test_batched_frame_equals_the_row_by_row_frame(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, size: int | None, filters: dict[str, Any], limit: int | None
) -> None:
    if size is not None:
        monkeypatch.setattr(query, "BATCH_ROWS", size)
    got = ds.Dataset(mixed).get(limit=limit, **filters)
    want = expected(mixed, filters, limit)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)


def test_extras_are_parsed_one_value_per_row(mixed: Path) -> None:
    frame = ds.Dataset(mixed).get()
    extra = frame["extra"].tolist()
    assert extra[0] is None
    assert extra[1:1 + len(VALUES)] == VALUES
    texts = extra[1 + len(VALUES):-1]
    assert pd.isna(texts[8]) and texts[:8] + texts[9:] == [want for _, want in TEXTS[:8] + TEXTS[9:]]
    assert extra[-1] == {}  # the blob b'{}'
    assert frame["msg"].iloc[3].endswith("𝄞\x00after the NUL")


def test_nulls_and_numbers_of_other_kinds_keep_their_dtypes(mixed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "BATCH_ROWS", 2)  # NULLs in some batches only
    frame = ds.Dataset(mixed).get().set_index("seq")
    assert frame["pid"].dtype == "Int64" and frame["levelno"].dtype == "Int64"
    assert frame["pid"].isna().tolist()[:7] == [False, False, True, False, False, True, False]
    assert pd.isna(frame.loc[3, "text"]) and pd.isna(frame.loc[3, "task"]) and frame.loc[4, "task"] == ""
    assert frame.loc[3, "created"].timestamp() == int(BASE_TIME) + 2  # an integer epoch
    assert str(frame["created"].dtype).startswith("datetime64[us,")


def test_a_store_of_an_older_schema_reads_its_missing_columns_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    kept = [name for name in COLUMNS if name not in ("thread", "task", "extra")]
    conn.execute(f"CREATE TABLE rows({', '.join(kept)})")
    conn.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(kept))})",
                     [[r[name] for name in kept] for r in (row(i) for i in range(1, 6))])
    conn.commit()
    conn.close()
    frame = ds.Dataset(path).get()
    pd.testing.assert_frame_equal(frame, expected(path))
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 5
    assert frame["task"].isna().all() and frame["extra"].isna().all() and frame["msg"].iloc[0] == "message 1"


def test_invalid_utf8_in_a_later_batch_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_store(tmp_path / "u.sqlite", [row(i, extra={"i": i}) for i in range(1, 8)])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE rows SET msg = CAST(X'6869FF' AS TEXT) WHERE seq = 6")
    conn.commit()
    conn.close()
    monkeypatch.setattr(query, "BATCH_ROWS", 2)
    frame = ds.Dataset(path).get()
    assert frame["msg"].tolist()[4:6] == ["message 5", "hi\ufffd"] and frame["extra"].iloc[6] == {"i": 7}
    pd.testing.assert_frame_equal(frame, expected(path))


def test_frame_of_rows_without_their_extra_kind(mixed: Path) -> None:
    """frame() of rows as select_rows gives them (no kinds): each extra parsed on its own."""
    with query.connection(mixed) as conn:
        rows = query.select_rows(conn, {})
    pd.testing.assert_frame_equal(ds.frame(rows), reference(rows))
    pd.testing.assert_frame_equal(ds.frame([]), reference([]))


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(mixed: Path, enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        ds.Dataset(mixed).get()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_reading_takes_at_most_twice_the_frames_memory(tmp_path: Path) -> None:
    """The batches, not every row as a tuple, are held besides the frame while it is built."""
    rows = [row(i, msg=f"processed item {i} of the batch with some detail", task=f"work-{i % 50}",
                extra={"table": "sales", "rows": i} if i % 5 == 0 else None) for i in range(1, 30_001)]
    dataset = ds.Dataset(write_store(tmp_path / "big.sqlite", rows))
    dataset.get(limit=10)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        frame = dataset.get()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(frame) == 30_000
    assert peak <= 2 * frame.memory_usage(deep=True).sum()
