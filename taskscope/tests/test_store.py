"""The SQLite store: the contract's schema and meta, seq from a counter, WAL, bad text."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import platformdirs
import pytest

from taskscope.record import columns
from taskscope.record import rows as record
from taskscope.store import sqlite as store
from taskscope.record.rows import Caps
from taskscope.tests.conftest import read_meta, read_rows

META = {"session_id": "s-1", "kernel_id": "", "started": "1700000000.0", "hostname": "h",
        "pid": "1", "taskscope_version": "0.1.0"}


def rows(n: int, msg: str = "m") -> list[record.Row]:
    return [record.make_row(time.time(), 20, "user", "lg", f"{msg}{i}", Caps()) for i in range(n)]


def opened(path: Path, **kwargs: object) -> store.Store:
    s = store.Store(path, META, **kwargs)  # type: ignore[arg-type]
    s.open()
    return s


def test_schema_is_the_contract(tmp_path: Path) -> None:
    s = opened(tmp_path / "a.sqlite")
    s.close()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    found = [(r[1], r[2], r[5]) for r in conn.execute("PRAGMA table_info(rows)")]
    # the declaration's columns, in its order, with its SQLite types; seq is the rowid
    assert found == [(c.name, c.sql.split()[0], int(c.name == "seq")) for c in columns.COLUMNS]
    assert found[:3] == [("seq", "INTEGER", 1), ("created", "REAL", 0), ("level", "TEXT", 0)]
    assert [r[1] for r in conn.execute("PRAGMA table_info(meta)")] == ["key", "value"]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_writer_connection_is_wal_with_synchronous_normal(tmp_path: Path) -> None:
    s = opened(tmp_path / "a.sqlite")
    conn = s._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA page_size").fetchone()[0] == store.PAGE_SIZE
    s.close()


def test_meta_holds_session_facts_and_next_seq(tmp_path: Path) -> None:
    s = opened(tmp_path / "a.sqlite")
    s.write(rows(3))
    s.close()
    meta = read_meta(tmp_path / "a.sqlite")
    assert {k: meta[k] for k in META} == META
    assert meta["next_seq"] == "4"


def test_seq_is_strictly_increasing_from_one(tmp_path: Path) -> None:
    s = opened(tmp_path / "a.sqlite")
    assert s.write(rows(3)) == (1, 3)
    assert s.write(rows(2)) == (4, 5)
    s.close()
    assert [r["seq"] for r in read_rows(tmp_path / "a.sqlite")] == [1, 2, 3, 4, 5]


def test_seq_is_never_reused_after_clear_nor_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    s = opened(path)
    s.write(rows(5))
    s.clear()
    assert read_rows(path) == []
    assert s.write(rows(1)) == (6, 6)
    s.clear()
    s.close()
    again = opened(path)  # a reopened store continues from meta, though no row is left
    assert again.write(rows(2)) == (7, 8)
    again.close()
    assert [r["seq"] for r in read_rows(path)] == [7, 8]


def test_meta_is_kept_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    opened(path).close()
    later = store.Store(path, {**META, "started": "9"})
    later.open()
    later.close()
    assert read_meta(path)["started"] == META["started"]


def test_lone_surrogate_in_a_batch_costs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    s = opened(path)
    batch = rows(3)
    batch[1] = record.make_row(time.time(), 20, "user", "lg\udc80", "bad \udcff text", Caps())
    assert s.write(batch) == (1, 3)
    s.close()
    stored = read_rows(path)
    assert [r["msg"] for r in stored] == ["m0", "bad \\udcff text", "m2"]
    assert stored[1]["logger"] == "lg\\udc80"


def test_session_files_live_under_taskscope_home(taskscope_home: Path) -> None:
    session_id = store.new_session_id()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", session_id)
    assert store.session_path(session_id) == taskscope_home / "sessions" / f"{session_id}.sqlite"


def test_home_defaults_to_the_platform_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKSCOPE_HOME")
    assert store.home() == Path(platformdirs.user_data_dir("taskscope"))


def test_indexes_are_created_when_asked(tmp_path: Path) -> None:
    s = opened(tmp_path / "a.sqlite", indexes=("rows_levelno", "rows_logger"))
    names = {r[0] for r in s._connection().execute("SELECT name FROM sqlite_master WHERE type='index'")}
    s.close()
    assert {"rows_levelno", "rows_logger"} <= names


def test_readers_see_committed_batches_while_the_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    s = opened(path)
    s.write(rows(2))
    assert len(read_rows(path)) == 2  # another connection, writer still open
    s.write(rows(1))
    assert len(read_rows(path)) == 3
    s.close()


def test_a_batch_after_clear_continues_the_numbering_row_by_row(tmp_path: Path) -> None:
    """Only a batch's first row is given its seq; SQLite numbers the rest one past it."""
    path = tmp_path / "a.sqlite"
    s = opened(path)
    s.write(rows(5))
    s.clear()
    assert s.write(rows(4, "after")) == (6, 9)
    s.close()
    assert [(r["seq"], r["msg"]) for r in read_rows(path)] == [(6, "after0"), (7, "after1"), (8, "after2"), (9, "after3")]


def test_a_session_file_is_for_the_user_alone(tmp_path: Path) -> None:
    """Logs often hold secrets: the store and its WAL are 0600 in a 0700 folder, whatever
    the umask, also when the folder was there already with a wider mode."""
    import os
    import stat

    folder = tmp_path / "sessions"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    previous = os.umask(0o002)
    try:
        s = opened(folder / "a.sqlite")
        s.write(rows(3))
    finally:
        os.umask(previous)
    try:
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}
    finally:
        s.close()
    assert modes["sessions"] == 0o700
    assert modes["a.sqlite"] == 0o600 and modes["a.sqlite-wal"] == 0o600


def test_a_file_from_before_the_action_columns_gets_them_and_takes_new_rows(tmp_path: Path) -> None:
    """A store written before a column existed is reopened: the column is added (NULL in
    the old rows), new rows and their actions are written."""
    path = tmp_path / "old.sqlite"
    old = [c for c in columns.COLUMNS if c.name not in ("action", "cell")]
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE rows({', '.join(f'{c.name} {c.sql}' for c in old)})")
    conn.execute("INSERT INTO rows(created, level, levelno, source, logger, msg) VALUES (1, 'INFO', 20, 'user', 'lg', 'old')")
    conn.commit()
    conn.close()
    s = opened(path)
    start = record.make_row(time.time(), 20, "action", "load", "load started", Caps(), where=("a-1", "3"),
                            extra='{"action_status": "started", "action_parent": "", "fields": {"p": 1}}')
    assert s.write([start]) == (2, 2)
    s.close()
    got = read_rows(path)
    assert [(r["msg"], r["action"], r["cell"]) for r in got] == [("old", None, None), ("load started", "a-1", "3")]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT action, type, status, fields, cell, seq FROM actions").fetchall() == [
        ("a-1", "load", "started", '{"p": 1}', "3", 2)]
    conn.close()
