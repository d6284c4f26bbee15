"""Capture in a plain process: logging through one root handler, stdout/stderr lines, bad input.

pytest puts its own handlers on the root logger during a test; tests of what reaches the
root take them off for a moment (:func:`bare_root`), so they run as in a fresh process.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from taskscope.capture import hooks as capture
from taskscope.record import sources
from taskscope import runtime
from taskscope.tests.conftest import read_rows


@contextmanager
def bare_root(level: int = logging.WARNING) -> Iterator[logging.Logger]:
    """The root logger as a fresh process has it (no handlers, WARNING), restored after."""
    root = logging.root
    saved, saved_level = root.handlers[:], root.level
    root.handlers[:] = []
    root.setLevel(level)
    try:
        yield root
    finally:
        root.handlers[:] = saved
        root.setLevel(saved_level)


@contextmanager
def fresh_logger(name: str) -> Iterator[logging.Logger]:
    """A logger with no handlers, level NOTSET, propagating; put back as found after."""
    logger = logging.getLogger(name)
    saved = (logger.handlers[:], logger.level, logger.propagate, logger.filters[:])
    logger.handlers[:], logger.level, logger.propagate = [], logging.NOTSET, True
    try:
        yield logger
    finally:
        logger.handlers[:], logger.level, logger.propagate, logger.filters[:] = saved


def stored(rt: Any, **where: Any) -> list[dict[str, Any]]:
    """The session's rows (after a flush), optionally only those matching ``where``."""
    assert rt.flush()
    rows = read_rows(rt.store_path())
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def user_logger(name: str) -> logging.Logger:
    """A logger registered as the user's (what taskscope.logger.getLogger does)."""
    sources.mark_user_logger(name)
    return logging.getLogger(name)


# --- logging -------------------------------------------------------------------------------


def test_one_handler_on_root_and_the_users_setup_untouched(fresh_runtime: Any) -> None:
    mine = logging.getLogger("app.own")
    own_handler = logging.StreamHandler(io.StringIO())
    own_handler.setLevel(logging.ERROR)
    mine.addHandler(own_handler)
    mine.setLevel(logging.WARNING)
    mine.propagate = False
    try:
        root_handlers = logging.root.handlers[:]
        runtime.start()
        ours = [h for h in logging.root.handlers if isinstance(h, capture.CaptureHandler)]
        assert len(ours) == 1 and logging.root.handlers[0] is ours[0]
        assert logging.root.handlers[1:] == root_handlers
        assert mine.handlers == [own_handler] and own_handler.level == logging.ERROR
        assert mine.level == logging.WARNING and mine.propagate is False
        runtime.stop()
        assert logging.root.handlers == root_handlers
    finally:
        mine.removeHandler(own_handler)
        mine.setLevel(logging.NOTSET)
        mine.propagate = True


def test_user_debug_and_library_info_are_captured_library_debug_is_not(fresh_runtime: Any) -> None:
    with bare_root(), fresh_logger("lib.thing") as lib, fresh_logger("myapp") as _:
        log = user_logger("myapp")
        runtime.start()
        log.debug("user debug %d", 1)
        log.getChild("sub").debug("child debug")
        lib.info("library info")
        lib.debug("library debug")
        logging.getLogger("distributed.worker").info("runtime info")
        rows = stored(fresh_runtime)
        runtime.stop()
    got = {(r["source"], r["logger"], r["level"], r["msg"]) for r in rows if r["source"] != "system"}
    assert got == {
        ("user", "myapp", "DEBUG", "user debug 1"),
        ("user", "myapp.sub", "DEBUG", "child debug"),
        ("library", "lib.thing", "INFO", "library info"),
        ("runtime", "distributed.worker", "INFO", "runtime info"),
    }


def test_levels_we_lowered_are_put_back_at_stop(fresh_runtime: Any) -> None:
    with bare_root() as root, fresh_logger("myapp2"):
        log = user_logger("myapp2")
        runtime.start()
        assert (root.level, log.level) == (logging.INFO, logging.DEBUG)
        runtime.stop()
        assert (root.level, log.level) == (logging.WARNING, logging.NOTSET)
        assert log.filters == []


def test_a_level_the_user_set_while_recording_stays(fresh_runtime: Any) -> None:
    with bare_root(), fresh_logger("myapp3"):
        log = user_logger("myapp3")
        runtime.start()
        log.setLevel(logging.ERROR)
        runtime.stop()
        assert log.level == logging.ERROR


def test_a_handler_shows_exactly_what_it_showed_before(fresh_runtime: Any) -> None:
    """Lowered levels make more records; every other handler still sees only the old ones."""
    console, lib_file = io.StringIO(), io.StringIO()
    with bare_root() as root, fresh_logger("myapp4"), fresh_logger("lib.x") as lib:
        handler = logging.StreamHandler(console)  # as logging.basicConfig() makes it: level NOTSET
        root.addHandler(handler)
        lib_handler = logging.StreamHandler(lib_file)  # like ipykernel's handler on "tornado"
        lib.addHandler(lib_handler)
        log = user_logger("myapp4")
        runtime.start()
        assert (root.level, log.level) == (logging.INFO, logging.DEBUG)
        log.debug("hidden debug")
        log.info("hidden info")
        log.warning("shown warning")
        lib.info("library info stays unseen")
        lib.getChild("made.later").info("so does a new logger's")
        lib.error("library error shown")
        rows = stored(fresh_runtime)
        runtime.stop()
        assert handler.filters == [] and lib_handler.filters == []
        root.removeHandler(handler)
    assert console.getvalue() == "shown warning\nlibrary error shown\n"
    assert lib_file.getvalue() == "library error shown\n"
    assert [r["msg"] for r in rows if r["source"] != "system"] == [
        "hidden debug", "hidden info", "shown warning", "library info stays unseen",
        "so does a new logger's", "library error shown"]


def test_a_handler_added_while_recording_is_guarded_too(fresh_runtime: Any) -> None:
    console = io.StringIO()
    with bare_root() as root, fresh_logger("lib.y") as lib:
        runtime.start(flush_interval=0.01)
        handler = logging.StreamHandler(console)
        root.addHandler(handler)
        assert fresh_runtime.flush() and fresh_runtime.flush()  # the second waits for a tick after the first
        lib.info("not on the console")
        lib.warning("on the console")
        runtime.stop()
        root.removeHandler(handler)
    assert console.getvalue() == "on the console\n"


def test_no_last_resort_print_for_records_that_exist_only_because_of_us(
        fresh_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root(logging.ERROR), fresh_logger("lib.z") as lib:
        runtime.start()
        lib.warning("captured, but Python would not have made this record")
        lib.error("printed by the last resort, as always")
        rows = stored(fresh_runtime, logger="lib.z")
        runtime.stop()
    assert capsys.readouterr().err == "printed by the last resort, as always\n"
    assert len(rows) == 2


def test_last_resort_output_stays_when_ours_is_the_only_handler(fresh_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root(), fresh_logger("lib.lonely") as lib:
        runtime.start()
        lib.warning("printed by logging's last resort")
        lib.info("not printed")
        rows = stored(fresh_runtime)
        runtime.stop()
    assert capsys.readouterr().err == "printed by logging's last resort\n"
    assert [r["msg"] for r in rows if r["logger"] == "lib.lonely"] == ["printed by logging's last resort", "not printed"]
    assert not [r for r in rows if r["source"] == "print"]  # the last-resort line is not a print row too


def test_basic_config_after_start_works_as_without_taskscope(fresh_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    original = logging.basicConfig
    with bare_root() as root, fresh_logger("lib.cfg") as lib:
        runtime.start()
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        made = [h for h in root.handlers if not isinstance(h, capture.CaptureHandler)]
        assert len(made) == 1 and made[0].stream is sys.stderr.inner  # type: ignore[attr-defined]
        lib.info("configured line")
        rows = stored(fresh_runtime)
        runtime.stop()
        assert root.handlers == made and root.level == logging.INFO
    assert logging.basicConfig is original
    assert capsys.readouterr().err == "INFO configured line\n"
    assert [(r["source"], r["msg"]) for r in rows if r["source"] != "system"] == [("library", "configured line")]


def test_exception_traceback_and_extra_fields_are_stored(fresh_runtime: Any) -> None:
    log = user_logger("myapp5")
    runtime.start()
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("failed", extra={"job": 7, "tags": ["a", "b"]})
    row = stored(fresh_runtime, logger="myapp5")[0]
    runtime.stop()
    assert row["level"] == "ERROR" and row["msg"] == "failed"
    assert row["text"].splitlines()[0].endswith("ERROR myapp5: failed")
    assert "Traceback (most recent call last)" in row["text"] and "KeyError: 'missing'" in row["text"]
    assert row["extra"] == '{"job": 7, "tags": ["a", "b"]}'
    assert row["thread"] == "MainThread" and row["worker"] == "" and row["task"] == ""


def test_mutable_arguments_are_stored_as_they_were_at_the_call(fresh_runtime: Any) -> None:
    log = user_logger("myapp6")
    runtime.start()
    items = [1, 2]
    log.info("items %s", items)
    items.append(3)
    row = stored(fresh_runtime, logger="myapp6")[0]
    runtime.stop()
    assert row["msg"] == "items [1, 2]"


# --- bad input: each stores its row with a marker, raises nothing, loses nothing else ---------


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr broke")

    __str__ = __repr__


class RecursiveRepr:
    def __repr__(self) -> str:
        return f"<{self!r}>"

    __str__ = __repr__


def test_bad_values_each_cost_only_their_own_field(fresh_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    log = user_logger("bad.values")
    runtime.start(msg_cap=1000)
    log.info("raising %s", RaisingRepr())
    log.info("recursing %r", RecursiveRepr())
    log.info("two %s %s", 1)  # %-format mismatch
    log.info("bytes %s", b"\xff\xfe")
    log.info("lone \udcff surrogate")
    log.info("x" * (50 * 1024 * 1024))
    log.info("numpy", extra={"scalar": np.float64(2.5), "small": np.arange(3), "big": np.zeros(20_000)})
    log.info("after them all")
    rows = stored(fresh_runtime, logger="bad.values")
    runtime.stop()
    assert "--- Logging error ---" not in capsys.readouterr().err
    msgs = [r["msg"] for r in rows]
    assert len(msgs) == 8
    assert msgs[0].startswith("raising %s <taskscope: message not formatted: RuntimeError")
    assert msgs[1].startswith("recursing %r <taskscope: message not formatted: RecursionError")
    assert msgs[2].startswith("two %s %s <taskscope: message not formatted: TypeError") and "args=(1,)" in msgs[2]
    assert msgs[3] == "bytes b'\\xff\\xfe'"
    assert msgs[4] == "lone \\udcff surrogate"
    assert msgs[5].startswith("x" * 1000) and msgs[5].endswith("…[taskscope: cut 52427800 of 52428800 characters]")
    assert rows[6]["extra"] == (
        '{"big": {"ndarray": "summary", "shape": [20000], "dtype": "float64", "size": 20000}, '
        '"scalar": 2.5, "small": [0, 1, 2]}'
    )
    assert msgs[7] == "after them all"


def test_a_handler_that_raises_does_not_cost_our_row(fresh_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    class Raising(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handler broke")

    broken_stream = io.StringIO()
    broken_stream.close()
    log = user_logger("myapp7")
    failing = logging.StreamHandler(broken_stream)  # logging reports its error and goes on
    raising = Raising()
    log.addHandler(failing)
    try:
        runtime.start()
        log.warning("through a failing handler")
        logging.root.addHandler(raising)  # after ours: it raises into the caller, as without us
        with pytest.raises(RuntimeError, match="handler broke"):
            log.warning("through a raising handler")
        logging.root.removeHandler(raising)
        rows = stored(fresh_runtime, logger="myapp7")
        runtime.stop()
    finally:
        log.removeHandler(failing)
        logging.root.removeHandler(raising)
    assert [r["msg"] for r in rows] == ["through a failing handler", "through a raising handler"]
    assert "--- Logging error ---" in capsys.readouterr().err  # logging's report for their handler


def test_our_handler_never_logs_through_itself(fresh_runtime: Any) -> None:
    log = user_logger("myapp8")

    class Chatty:
        def __str__(self) -> str:
            log.info("logged from __str__ %s", self)  # would recurse through our handler
            print("printed from __str__")
            return "chatty"

    runtime.start()
    log.info("value %s", Chatty())
    rows = stored(fresh_runtime)
    runtime.stop()
    assert [r["msg"] for r in rows if r["source"] != "system"] == ["value chatty"]


# --- stdout / stderr -----------------------------------------------------------------------


class Sink(io.StringIO):
    """A stream with the extras ipykernel's OutStream has."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: list[Any] = []
        self.custom = "custom attribute"

    def set_parent(self, parent: Any) -> None:
        self.parents.append(parent)

    def fileno(self) -> int:
        return 42

    def isatty(self) -> bool:
        return True


@contextmanager
def sinks() -> Iterator[tuple[Sink, Sink]]:
    """sys.stdout/sys.stderr as fresh sinks before capture starts (the tee wraps them)."""
    out, err = Sink(), Sink()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved


def test_each_complete_line_is_a_row_and_output_is_unchanged(fresh_runtime: Any) -> None:
    with sinks() as (out, err):
        runtime.start()
        print("hello", "world")
        print("two\nlines")
        sys.stdout.write("partial ")
        sys.stdout.write("line\n")
        print("an error line", file=sys.stderr)
        sys.stdout.write("progress 10%\rprogress 50%\rprogress 100%\n")
        sys.stdout.write("crlf line\r\n")
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    assert out.getvalue() == ("hello world\ntwo\nlines\npartial line\n"
                              "progress 10%\rprogress 50%\rprogress 100%\ncrlf line\r\n")
    assert err.getvalue() == "an error line\n"
    assert [(r["logger"], r["level"], r["msg"]) for r in rows] == [
        ("stdout", "INFO", "hello world"), ("stdout", "INFO", "two"), ("stdout", "INFO", "lines"),
        ("stdout", "INFO", "partial line"), ("stderr", "WARNING", "an error line"),
        ("stdout", "INFO", "progress 100%"), ("stdout", "INFO", "crlf line"),
    ]


def test_a_progress_bar_without_line_ends_keeps_only_its_last_state(fresh_runtime: Any) -> None:
    with sinks():
        runtime.start()
        for i in range(10_000):
            sys.stdout.write(f"\r{i:5d}")
        assert sum(len(p) for ps in sys.stdout._partial.values() for p in ps) < 100  # type: ignore[attr-defined]
        sys.stdout.write("\n")
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    assert [r["msg"] for r in rows] == [" 9999"]


def test_a_long_line_without_line_end_is_cut_not_hoarded(fresh_runtime: Any) -> None:
    with sinks():
        runtime.start(msg_cap=1000)
        for _ in range(300):
            sys.stdout.write("y" * 10)
        assert sum(len(p) for ps in sys.stdout._partial.values() for p in ps) <= 1000 + 2560  # type: ignore[attr-defined]
        sys.stdout.write("\n")
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    assert [r["msg"][990:] for r in rows] == ["y" * 10 + "…[taskscope: cut 2000 of 3000 characters]"]


def test_threads_partial_lines_do_not_interleave(fresh_runtime: Any) -> None:
    barrier = threading.Barrier(2)

    def writer(name: str) -> None:
        for i in range(50):
            barrier.wait()
            sys.stdout.write(f"{name}-")
            barrier.wait()
            sys.stdout.write(f"{i}\n")

    with sinks():
        runtime.start()
        threads = [threading.Thread(target=writer, args=(n,), name=n) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    for name in ("A", "B"):
        assert [r["msg"] for r in rows if r["thread"] == name] == [f"{name}-{i}" for i in range(50)]


def test_a_pending_partial_line_is_stored_at_stop(fresh_runtime: Any) -> None:
    with sinks():
        runtime.start()
        sys.stdout.write("no line end yet")
        runtime.stop()
        rows = read_rows(runtime.store_path(), "source = 'print'")
    assert [r["msg"] for r in rows] == ["no line end yet"]


def test_the_wrapper_passes_every_other_attribute_through(fresh_runtime: Any) -> None:
    with sinks() as (out, _):
        runtime.start()
        tee = sys.stdout
        assert tee is not out
        tee.set_parent({"msg_id": "abc"})  # type: ignore[attr-defined]
        assert out.parents == [{"msg_id": "abc"}]
        assert (tee.fileno(), tee.isatty(), tee.encoding, tee.custom) == (42, True, out.encoding, out.custom)  # type: ignore[attr-defined]
        tee.custom = "changed"  # type: ignore[attr-defined]
        assert out.custom == "changed"
        tee.flush()
        runtime.stop()
        assert sys.stdout is out


def test_a_patch_of_write_stays_on_the_wrapper(fresh_runtime: Any) -> None:
    """IPython's run_cell patches ``sys.stdout.write`` for the cell's history, then restores it."""
    with sinks() as (out, _):
        runtime.start()
        stream = sys.stdout
        original_write = stream.write
        seen: list[str] = []

        def write(data: str) -> Any:
            seen.append(data)
            return original_write(data)

        stream.write = write  # type: ignore[method-assign]
        print("patched")
        stream.write = original_write  # type: ignore[method-assign]
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    assert out.getvalue() == "patched\n" and seen == ["patched", "\n"]
    assert [r["msg"] for r in rows] == ["patched"]


def test_bytes_through_buffer_are_decoded_incrementally(fresh_runtime: Any) -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    saved = sys.stdout
    sys.stdout = text
    try:
        runtime.start()
        data = "café ✓\n".encode()
        for i in range(len(data)):  # every character split across writes
            sys.stdout.buffer.write(data[i:i + 1])
        sys.stdout.buffer.write(b"bad \xff byte\n")
        rows = stored(fresh_runtime, source="print")
        runtime.stop()
    finally:
        sys.stdout = saved
    assert raw.getvalue() == "café ✓\n".encode() + b"bad \xff byte\n"
    assert [r["msg"] for r in rows] == ["café ✓", "bad \\xff byte"]


def test_a_stream_replaced_on_top_of_ours_stays_and_ours_passes_through(fresh_runtime: Any) -> None:
    with sinks() as (out, _):
        runtime.start()
        tee = sys.stdout
        later = io.StringIO()
        sys.stdout = later
        runtime.stop()
        assert sys.stdout is later
        tee.write("written through the kept tee\n")
        rows = read_rows(runtime.store_path(), "source = 'print'")
        sys.stdout = out
    assert out.getvalue() == "written through the kept tee\n"
    assert rows == []


def test_stop_puts_every_hook_back_exactly(fresh_runtime: Any) -> None:
    before = (sys.stdout, sys.stderr, warnings.showwarning, sys.excepthook, logging.basicConfig,
              logging.root.handlers[:], logging.root.level)
    runtime.start()
    during = (sys.stdout, sys.stderr, warnings.showwarning, sys.excepthook, logging.basicConfig)
    assert all(a is not b for a, b in zip(before, during))
    runtime.stop()
    after = (sys.stdout, sys.stderr, warnings.showwarning, sys.excepthook, logging.basicConfig,
             logging.root.handlers[:], logging.root.level)
    assert all(a is b or a == b for a, b in zip(before, after)), (before, after)
    assert after[:5] == before[:5]
