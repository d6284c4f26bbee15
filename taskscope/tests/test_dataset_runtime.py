"""End to end in this process: start() the real runtime, log through getLogger, read it back."""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import pytest

import taskscope as ts
from taskscope.session.session import last as last_session
from taskscope.record import sources
from taskscope.views import display
from taskscope.views.dataset import Dataset


@pytest.fixture
def recording(fresh_runtime: Any) -> Iterator[Any]:
    """The real runtime recording into this test's TASKSCOPE_HOME, stopped after."""
    ts.start()
    yield fresh_runtime
    ts.stop()


def test_get_logger_is_the_ordinary_logger_and_marked_as_user() -> None:
    log = ts.logger.getLogger("e2e.plain")
    assert log is logging.getLogger("e2e.plain")
    assert "e2e.plain" in sources.user_logger_names()
    with pytest.raises(TypeError, match="name"):
        ts.logger.getLogger(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        ts.logger.getLogger("")


def test_logged_rows_are_visible_at_once(recording: Any) -> None:
    log = ts.logger.getLogger("e2e.user")
    log.debug("debug %s", "one")
    log.warning("with extra", extra={"user": "ann", "n": 3})
    frame = ts.logger.dataset.get(logger="e2e.user")  # no sleep: get() flushes first
    assert frame["msg"].tolist() == ["debug one", "with extra"]
    assert frame["source"].tolist() == ["user", "user"]
    assert frame["level"].tolist() == ["DEBUG", "WARNING"]
    assert frame["extra"].iloc[1]["user"] == "ann" and frame["extra"].iloc[1]["n"] == 3
    assert (frame["created"].astype("int64") / 1e6).between(time.time() - 60, time.time() + 1).all()


def test_filters_count_tail_since_on_a_live_session(recording: Any) -> None:
    log = ts.logger.getLogger("e2e.filters")
    for i in range(30):
        log.log(logging.ERROR if i % 10 == 0 else logging.INFO, "item %d", i)
    data = ts.logger.dataset
    assert data.count(logger="e2e.filters") == 30
    assert data.count(logger="e2e.*", level="ERROR") == 3
    assert data.tail(2, logger="e2e.filters")["msg"].tolist() == ["item 28", "item 29"]
    assert data.count(logger="e2e.filters", since="1min") == 30
    assert data.count(logger="e2e.filters", until="1min") == 0
    assert data.count(text="ITEM 2", logger="e2e.filters") == 11  # 2, 20..29


def test_system_rows_from_the_runtime(recording: Any) -> None:
    system = ts.logger.dataset.get(level="SYSTEM")
    assert "taskscope started" in system["msg"].tolist()
    assert set(system["source"]) == {"system"}


def test_clear_keeps_seq_counting(recording: Any) -> None:
    log = ts.logger.getLogger("e2e.clear")
    log.info("before")
    last = int(ts.logger.dataset.tail(1)["seq"].iloc[0])
    ts.logger.dataset.clear()
    assert ts.logger.dataset.count(logger="e2e.clear") == 0
    log.info("after")
    after = ts.logger.dataset.get(logger="e2e.clear")
    assert after["msg"].tolist() == ["after"] and int(after["seq"].iloc[0]) > last


def test_the_dataset_follows_the_session_and_reads_after_stop(fresh_runtime: Any) -> None:
    assert ts.logger.dataset.path is None
    assert ts.logger.dataset.get().empty and ts.logger.dataset.count() == 0
    assert not display.snapshot(ts.logger.dataset).has_store
    ts.start()
    ts.logger.getLogger("e2e.follow").info("kept")
    ts.stop()
    assert ts.logger.dataset.path == fresh_runtime.store_path()
    assert ts.logger.dataset.get(logger="e2e.follow")["msg"].tolist() == ["kept"]


def test_sessions_marks_the_current_one_and_open_reads_it(recording: Any) -> None:
    ts.logger.getLogger("e2e.sessions").info("listed")
    table = ts.sessions()
    assert len(table) == 1 and bool(table.loc[0, "current"])
    assert table.loc[0, "session_id"] == ts.status()["session_id"]
    assert table.loc[0, "path"] == str(recording.store_path())
    opened = ts.logger.dataset.open(table.loc[0, "session_id"])
    assert opened.readonly and opened.count(logger="e2e.sessions") == 1  # current: flushed too
    with pytest.raises(RuntimeError, match="read-only"):
        opened.clear()


def test_the_inline_bundle_of_the_live_session(recording: Any) -> None:
    ts.logger.getLogger("e2e.display").error("<script>alert(1)</script>")
    view = ts.logger.dataset.filter(logger="e2e.display")
    bundle = view._repr_mimebundle_()
    payload = bundle[display.MIME_TYPE]
    assert payload["total"] == 1 and payload["session_id"] == ts.status()["session_id"]
    assert payload["rows"][0][payload["columns"].index("msg")] == "<script>alert(1)</script>"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bundle["text/html"]
    assert "<script>" not in bundle["text/html"]


def test_page_is_query_page_of_the_view(recording: Any) -> None:
    log = ts.logger.getLogger("e2e.page")
    for i in range(5):
        log.info("row %d", i)
    view: Dataset = ts.logger.dataset.filter(logger="e2e.page")
    first = view.page(limit=2)
    second = view.page(after_seq=first["last_seq"], limit=2)
    assert [r["msg"] for r in first["rows"] + second["rows"]] == ["row 0", "row 1", "row 2", "row 3"]
    assert first["total"] == second["total"] == 5


def test_clear_is_refused_on_a_view_and_reports_a_writer_timeout(
    recording: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ts.logger.getLogger("e2e.refuse").info("stays")
    with pytest.raises(RuntimeError, match="whole session"):
        ts.logger.dataset.filter(logger="e2e.refuse").clear()
    assert ts.logger.dataset.count(logger="e2e.refuse") == 1
    session = last_session()
    monkeypatch.setattr(session, "clear", lambda timeout=5.0: False)  # a writer that timed out
    with pytest.raises(TimeoutError, match="did not clear"):
        ts.logger.dataset.clear()
