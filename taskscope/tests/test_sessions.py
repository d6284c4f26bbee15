"""taskscope.sessions(): the stored sessions, also one whose writer was SIGKILLed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskscope.views import dataset as ds
from taskscope.tests._dataset_fixtures import BASE_TIME, row, session_file, write_store

FIXTURES_DIR = Path(__file__).parent
REPO_ROOT = FIXTURES_DIR.parents[1]


def test_no_sessions_is_an_empty_frame_with_columns(taskscope_home: Path) -> None:
    table = ds.sessions()
    assert table.empty and list(table.columns) == list(ds.SESSION_COLUMNS)
    assert str(table["started"].dtype).startswith("datetime64")


def test_sessions_newest_first_with_counts_and_sizes(taskscope_home: Path) -> None:
    old = write_store(session_file(taskscope_home, "20231114-221320", "aaaa"), [row(1), row(2)],
                      session_id="aaaa1111", started=BASE_TIME)
    new = write_store(session_file(taskscope_home, "20231115-090000", "bbbb"), [row(1)],
                      session_id="bbbb2222", started=BASE_TIME + 86400, kernel_id="k-42", pid=77)
    table = ds.sessions()
    assert table["session_id"].tolist() == ["bbbb2222", "aaaa1111"]
    assert table["rows"].tolist() == [1, 2]
    assert table["path"].tolist() == [str(new), str(old)]
    assert table.loc[0, "kernel_id"] == "k-42" and table.loc[0, "pid"] == 77
    assert (table["size_bytes"] >= new.stat().st_size).all()
    assert table.loc[1, "started"].timestamp() == BASE_TIME
    assert not table["current"].any()


def test_files_that_are_not_stores_are_left_out(taskscope_home: Path) -> None:
    write_store(session_file(taskscope_home, "20231114-221320", "good"), [row(1)], session_id="good")
    junk = session_file(taskscope_home, "20231114-221321", "junk")
    junk.write_bytes(b"this is not a database" * 100)
    assert ds.sessions()["session_id"].tolist() == ["good"]


def test_store_without_meta_uses_the_file_name(taskscope_home: Path) -> None:
    path = session_file(taskscope_home, "20231114-221320", "bare")
    write_store(path, [row(1)])
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta")
    conn.commit()
    conn.close()
    table = ds.sessions()
    assert table.loc[0, "session_id"] == path.stem and table.loc[0, "rows"] == 1
    assert table["started"].isna().all()


WRITER = textwrap.dedent(
    """
    import sqlite3, sys, time
    sys.path.insert(0, sys.argv[2])
    import _dataset_fixtures as fx
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # leave every committed row in the WAL
    conn.executescript(fx.SCHEMA)
    conn.execute("BEGIN")
    fx.insert_rows(conn, [fx.row(i, msg=f"committed {i}") for i in range(1, 301)])
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("session_id", "killed01"), ("started", "1700000000")])
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    fx.insert_rows(conn, [fx.row(i, msg="never committed") for i in range(301, 311)])
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_store_of_a_sigkilled_writer_is_readable(taskscope_home: Path) -> None:
    path = session_file(taskscope_home, "20231114-221320", "kill")
    path.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(FIXTURES_DIR)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        assert ds.sessions().loc[0, "rows"] == 300  # while it lives, mid-transaction
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    wal = Path(f"{path}-wal")
    assert wal.exists() and wal.stat().st_size > 0

    table = ds.sessions()
    assert table.loc[0, "session_id"] == "killed01" and table.loc[0, "rows"] == 300
    frame = ds.Dataset().open("killed01").get(text="committed")
    assert frame["seq"].tolist() == list(range(1, 301))
    assert wal.exists() and wal.stat().st_size > 0  # reading checkpointed nothing away
