"""stdout and stderr as rows: one row per complete line, the stream itself untouched.

:class:`StreamTee` wraps ``sys.stdout``/``sys.stderr`` (every write goes through first,
unchanged); :class:`FdWatch` tees ipykernel's fd-level output (``os.write(1, ...)``, C
extensions, subprocesses).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..record import safe, sources
from ..record import context
from ..record.context import where as _where
from ..record.rows import Caps, Row, make_row
from ..writer.core import Item, Writer, converter
from ..writer.quiet import quiet_threads

_get_ident = threading.get_ident
_now = time.time
_current_thread = threading.current_thread


# --- stdout / stderr -----------------------------------------------------------------------


@converter("line")
def _line_row(item: Item, caps: Caps) -> Row:
    """Convert: one complete output line into a row (``dropped``: characters cut already)."""
    _, created, stream, levelno, line, thread, dropped, where = item
    return make_row(
        created, levelno, sources.PRINT, stream, terminal_line(line), caps,
        thread=thread, dropped=dropped, where=where,
    )


def terminal_line(line: str) -> str:
    """What a terminal shows for ``line``: a trailing CR dropped, text after a CR overwrote."""
    if line.endswith("\r"):
        line = line[:-1]
    cr = line.rfind("\r")
    return line[cr + 1:] if cr >= 0 else line


def _keep_from_last_cr(pending: str) -> str:
    """A pending partial line after a CR rewrote it (progress bars): only the last state.

    A CR at the very end is kept: it may be the first half of a CRLF.
    """
    cr = pending.rfind("\r", 0, len(pending) - 1)
    return pending[cr:] if cr > 0 else pending


#: Pending pieces of one thread's line before they are joined (bounds the list's growth).
_MAX_PIECES = 256


class StreamTee:
    """``sys.stdout``/``sys.stderr`` as before, plus one row per complete line.

    The wrapped stream gets every write first and unchanged; every other attribute
    (``set_parent`` for ipykernel's cell routing, ``fileno``, ``isatty``, ``encoding``,
    ``flush``, ...) is the wrapped stream's own. Partial lines wait per thread, so lines
    from threads do not interleave; a pending one is stored at stop.

    ``write`` and ``take`` are closures made per instance (see :func:`_line_writer`): with
    ``__getattr__`` defined, every ``self.x`` lookup goes through Python's slow attribute
    hook, and ``write`` runs for every piece of every ``print``.
    """

    _own = frozenset({
        "inner", "stream", "levelno", "writer", "capturing", "line_cap", "write", "take",
        "_partial", "_overflow", "_buffer",
    })

    def __init__(self, inner: Any, stream: str, levelno: int, writer: Writer, line_cap: int) -> None:
        own = {
            "inner": inner, "stream": stream, "levelno": levelno, "writer": writer,
            "capturing": True, "line_cap": line_cap, "_partial": {}, "_overflow": {}, "_buffer": None,
        }
        vars(self).update(own)
        write, take = _line_writer(vars(self))
        vars(self).update(write=write, take=take)

    def writelines(self, lines: Iterable[str]) -> None:
        """Each piece as a write, as ``TextIOBase.writelines`` does."""
        write = self.write
        for line in lines:
            write(line)

    def flush_partial(self) -> None:
        """Store every thread's pending partial line (at stop)."""
        names = {t.ident: t.name for t in threading.enumerate()}
        partial, overflow = self._partial, self._overflow
        for ident in list(partial):
            pieces = partial.pop(ident, None)
            if pieces and ident not in quiet_threads:
                self.writer.offer(_line_item(
                    self, "".join(pieces), names.get(ident, f"thread {ident}"), overflow.pop(ident, 0)))

    @property
    def buffer(self) -> Any:
        """The wrapped stream's byte buffer, teed too (bytes decoded incrementally)."""
        inner_buffer = self.inner.buffer
        tee = self._buffer
        if tee is None or tee.inner is not inner_buffer:
            tee = BufferTee(inner_buffer, self)
            vars(self)["_buffer"] = tee
        return tee

    def __getattr__(self, name: str) -> Any:
        return getattr(vars(self)["inner"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Our own names (and patches of our methods, like IPython's ``write`` tee for
        the cell history) stay on the wrapper; everything else is the stream's."""
        if name in self._own or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def __delattr__(self, name: str) -> None:
        if name in vars(self):
            object.__delattr__(self, name)
        else:
            delattr(self.inner, name)

    def __iter__(self) -> Any:
        return iter(self.inner)

    def __repr__(self) -> str:
        return f"<taskscope tee of {self.inner!r}>"


def _line_item(tee: StreamTee | dict[str, Any], line: str, thread: str | None, dropped: int) -> Item:
    """The queue item of one complete output line."""
    own = tee if isinstance(tee, dict) else vars(tee)
    return ("line", _now(), own["stream"], own["levelno"], line, thread or _current_thread().name, dropped,
            _where())


def _line_writer(own: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[..., None]]:
    """The tee's ``write`` (hot path) and ``take`` (line splitting), over its own dict."""
    partial: dict[int, list[str]] = own["_partial"]
    overflow: dict[int, int] = own["_overflow"]
    inner = own["inner"]
    writer: Writer = own["writer"]
    line_cap: int = own["line_cap"]
    stream: str = own["stream"]
    levelno: int = own["levelno"]
    queue, queue_size, wake_at, wake = writer.queue, writer.queue_size, writer.wake_at, writer.wake
    current, root, nowhere = context.CURRENT.get, context.ROOT, context.NOWHERE

    def write(text: str) -> Any:
        """Write through, then keep the text: the hot path of every ``print``.

        A piece without a line end is only appended to this thread's pending list (no
        string building); a line end sends the joined line(s) to the queue.
        """
        written = inner.write(text)
        if own["capturing"]:
            try:
                if "\n" in text or "\r" in text:
                    take(text)
                elif text:
                    ident = _get_ident()
                    pending = partial.get(ident)
                    if pending is None:
                        partial[ident] = [text]
                    elif len(pending) < _MAX_PIECES:
                        pending.append(text)
                    else:
                        take(text)
            except Exception:  # noqa: BLE001 - output must never fail because of us
                pass
        return written

    def take(text: str, thread: str | None = None) -> None:
        """Add ``text`` to this thread's pending line; enqueue every line it completes.

        A pending line rewritten by CRs (progress bars) keeps only its last state; one
        longer than ``line_cap`` keeps its head and counts the rest, cut at the line end:
        one row per line, memory bounded. Output of taskscope's own threads is dropped.
        """
        if type(text) is not str or not text:
            return
        ident = _get_ident()
        pieces = partial.pop(ident, None)
        if ident in quiet_threads:
            return
        lines = (text if pieces is None else "".join(pieces) + text).split("\n")
        rest = lines.pop()
        if lines:  # where they were printed: context.where(), inlined (a remote task's rows get
            action = current()  # their task's action on the writer thread, see remote.emitter)
            if action is None:
                action = root[0]
            at = nowhere if action is None else action.where
        for line in lines:  # writer.offer, inlined: this runs for every printed line
            dropped = overflow.pop(ident, 0) if overflow else 0
            waiting = len(queue)
            if waiting >= queue_size and not writer.make_room():
                continue
            queue.append(("line", _now(), stream, levelno, line, thread or _current_thread().name, dropped, at))
            if waiting + 1 == wake_at:
                wake.set()
        if rest:
            if "\r" in rest:
                rest = _keep_from_last_cr(rest)
            if len(rest) > line_cap:
                overflow[ident] = overflow.get(ident, 0) + len(rest) - line_cap
                rest = rest[:line_cap]
            partial[ident] = [rest]

    return write, take


class BufferTee:
    """``sys.stdout.buffer`` as before, its bytes decoded per thread into the text tee."""

    def __init__(self, inner: Any, text: StreamTee) -> None:
        self.inner = inner
        self.text = text
        self._decoders: dict[int, Any] = {}

    def write(self, data: Any) -> Any:
        written = self.inner.write(data)
        if self.text.capturing:
            try:
                decoder = self._decoders.get(_get_ident())
                if decoder is None:
                    decoder = self._decoders[_get_ident()] = safe.decoder()
                self.text.take(decoder.decode(bytes(data)))
            except Exception:  # noqa: BLE001
                pass
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FdWatch:
    """ipykernel's fd-level output (``os.write(1, ...)``, C extensions, subprocesses).

    ipykernel 7 points fd 1/2 at a pipe and a watcher thread reads it, then calls its
    ``OutStream.write`` directly (not ``sys.stdout``). We shadow that one instance's
    ``write`` with a function that tees only the watcher thread's writes (our
    ``StreamTee`` already sees the others). The text is what the cell shows: ipykernel
    decoded it.

    IPython's ``run_cell`` patches ``sys.stdout.write`` for the cell and puts it back
    after: in the cell that calls ``start()`` that is the OutStream, so our ``write``
    is replaced at the end of that cell. :meth:`ensure` (each writer tick) puts it back.
    """

    def __init__(self, outstream: Any, tee: StreamTee) -> None:
        self.outstream = outstream
        self.tee = tee
        self.fd: int | None = getattr(outstream, "_original_stdstream_fd", None)
        self.label = f"fd {self.fd if self.fd is not None else '?'}"
        self._watcher: threading.Thread = outstream.watch_fd_thread
        self._had_own = False
        self._previous: Any = None
        self.write: Callable[[str], Any] | None = None
        self.ensure()

    @staticmethod
    def applies(stream: Any) -> bool:
        """Whether ``stream`` is an ipykernel OutStream that watches its fd."""
        return bool(getattr(stream, "_should_watch", False)) and getattr(stream, "watch_fd_thread", None) is not None

    def ensure(self) -> None:
        """(Re)install our ``write`` on the OutStream, wrapping whatever it is now."""
        own = vars(self.outstream)
        if self.write is not None and own.get("write") is self.write:
            return
        self._had_own = "write" in own
        self._previous = own.get("write")
        original = self.outstream.write
        watcher, tee, label = self._watcher, self.tee, self.label

        def write(text: str) -> Any:
            written = original(text)
            if tee.capturing and _get_ident() == watcher.ident:
                try:
                    tee.take(text, label)
                except Exception:  # noqa: BLE001
                    pass
            return written

        self.write = write
        self.outstream.write = write

    def remove(self) -> None:
        """Put the instance's ``write`` back as we last found it, if it is still ours."""
        if vars(self.outstream).get("write") is not self.write:
            return
        if self._had_own:
            self.outstream.write = self._previous
        else:
            del self.outstream.write
