"""A console shared by the kernel and the processes it started: one row per printed line.

A LocalCluster worker or a spawned pool child started from the kernel inherits
ipykernel's pipes as its fd 1/2, so each line it prints reaches the kernel twice: as the
kernel's own ``fd N`` row and as the remote process's print row. The kernel tells remote
processes which fds it watches (:func:`kernel_console`); a remote process finds which of
its streams write there (:func:`shared_streams`); :data:`CONSOLE` keeps one row of each
pair, the remote one (it has the worker and task).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from ..record.columns import AT
from ..record.rows import Row
from ..record.sources import PRINT
from ..session import session as sessions


def kernel_console() -> dict[str, list[int]]:
    """In the kernel: ``{fd: [st_dev, st_ino]}`` of the fds whose output the kernel's
    capture records (ipykernel's pipes behind fd 1/2); empty when there are none."""
    session = sessions.current()
    found: dict[str, list[int]] = {}
    for fd in session.watched_fds() if session is not None else ():
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        found[str(fd)] = [st.st_dev, st.st_ino]
    return found


def shared_streams(console: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """In a remote process: which of ``sys.stdout``/``sys.stderr`` write into the kernel's
    captured fds (``console``, from :func:`kernel_console`), as ``{stream: kernel fd}``.

    A LocalCluster worker or a spawned pool child started from the kernel inherits
    ipykernel's pipes as its fd 1/2, so its output also reaches the kernel as fd output.
    (A forked child's ``sys.stdout`` is ipykernel's own stream, which sends to the
    kernel another way: its ``fileno()`` is not the pipe, and it is not shared.)
    """
    kernel = {tuple(ident): int(fd) for fd, ident in (console or {}).items()}
    shared: dict[str, int] = {}
    for name in ("stdout", "stderr"):
        try:
            st = os.fstat(getattr(sys, name).fileno())
        except Exception:  # noqa: BLE001 - no fd (None, StringIO, ...): not shared
            continue
        fd = kernel.get((st.st_dev, st.st_ino))
        if fd is not None:
            shared[name] = fd
    return shared


# --- keeping one row per printed line -------------------------------------------

#: The thread label of the kernel's fd-captured lines (see ``capture.FdWatch``) -> fd.
_FD_LABELS = {"fd 1": 1, "fd 2": 2}


class ConsoleDedup:
    """The kernel's fd output that a remote process also sent as its own print rows.

    A LocalCluster worker or a spawned pool child started from the kernel writes to the
    kernel's fd 1/2 (ipykernel's pipes): each of its printed lines reaches the notebook
    unchanged and the kernel's capture as an ``fd 1`` row, and arrives again as the
    worker's own print row (with worker and task). Such a process says so in its
    messages (``cs``: which of its streams is which kernel fd); a Dask attachment or a
    pool handed the kernel's fd identities counts as one from the start (its processes'
    first lines may come before their first message). While one is attached, the
    writer holds the kernel's fd rows at most :data:`HOLD` seconds; a remote print row
    of the same fd and text takes the place of one (counted as deduplicated, not as a
    drop), in either order of arrival. Two processes writing to the same fd at once can
    interleave their lines (``print`` writes the text and the newline apart: ``"A"``,
    ``"B"``, ``"\n"``, ``"\n"`` reads as the lines ``"AB"`` and ``""``): an fd row whose hold
    is over and whose text is remote lines end to end takes their place, and so do as
    many empty fd rows after it as it had lines more than one (:meth:`_interleaved`).
    Unmatched rows are stored after the hold with their own time, and all of them at
    stop. Writer thread, but for :meth:`join`/:meth:`leave`.
    """

    HOLD = 1.5  # seconds an fd row waits for its remote twin
    EXPECT = 10.0  # seconds a remote print row waits for its fd twin
    LIMIT = 10_000  # rows held, and remote lines remembered, at most
    PIECES = 8  # remote lines one interleaved fd row may be made of, at most

    def __init__(self) -> None:
        self.sources: set[tuple[str, str, int]] = set()
        self._held: deque[list[Any]] = deque()  # [deadline, key, row, settled]
        self._by_key: dict[tuple[int, str], deque[list[Any]]] = {}
        self._expected: dict[tuple[int, str], deque[float]] = {}
        self._remembered = 0
        self._blanks: dict[int, int] = {}  # fd -> empty fd rows still owed by interleaved ones

    def join(self, source: tuple[str, str, int]) -> None:
        """A console-sharing process sends (transport thread): fd rows are held from now."""
        if source not in self.sources:
            self.sources.add(source)
            session = sessions.current()
            if session is not None:
                session.add_row_filter(self.filter)

    def leave(self, source: tuple[str, str, int] | None = None, worker: str | None = None) -> None:
        """``source`` sent its last message (or every source of ``worker`` is gone; both
        None: all of them)."""
        for known in list(self.sources):
            if source is None and worker is None or known == source or known[1] == worker:
                self.sources.discard(known)

    def remote_line(self, fd: int, text: str, now: float) -> bool:
        """A remote print row of ``text`` on kernel fd ``fd``: settle its held fd twin,
        or remember it for the twin still to come. True if a held row was settled."""
        key = (fd, text)
        waiting = self._by_key.get(key)
        while waiting:
            entry = waiting.popleft()
            if not entry[3]:
                entry[3] = True
                _count_deduplicated(1)
                return True
        if self._remembered >= self.LIMIT:
            self._expected.clear()
            self._remembered = 0
        self._expected.setdefault(key, deque()).append(now + self.EXPECT)
        self._remembered += 1
        return False

    def filter(self, rows: list[Row], final: bool) -> list[Row]:
        """The session's row filter: ``rows`` without the fd rows held or settled now,
        after the held rows whose time is up (all of them when ``final``)."""
        if not (self.sources or self._held):
            return rows
        now = time.monotonic()
        kept = rows
        if self.sources and not _FD_LABELS.keys().isdisjoint(map(_thread_of, rows)):
            kept = [row for row in rows if not self._took(row, now)]
        released = self._release(now, final)
        return released + kept if released else kept

    def _took(self, row: Row, now: float) -> bool:
        """Whether ``row`` (a kernel row) is an fd line now held or found a copy."""
        fd = _FD_LABELS.get(row[_THREAD])
        if fd is None or row[_SOURCE] != PRINT or row[_WORKER]:
            return False
        key = (fd, row[_MSG])
        expected = self._expected.get(key)
        while expected and expected[0] < now:
            expected.popleft()
        if expected:
            expected.popleft()
            self._remembered -= 1
            _count_deduplicated(1)
            return True
        entry = [now + self.HOLD, key, row, False]
        self._held.append(entry)
        self._by_key.setdefault(key, deque()).append(entry)
        return True

    def _release(self, now: float, final: bool) -> list[Row]:
        """The held rows whose hold is over (or beyond the limit), oldest first."""
        held, out = self._held, []
        while held and (final or held[0][0] <= now or len(held) > self.LIMIT):
            entry = held.popleft()
            waiting = self._by_key.get(entry[1])
            if waiting and waiting[0] is entry:
                waiting.popleft()
            if waiting is not None and not waiting:
                del self._by_key[entry[1]]
            if not entry[3]:  # settled ones were counted when their twin came
                entry[3] = True
                if not self._interleaved(*entry[1], now):
                    out.append(entry[2])
        return out

    def _interleaved(self, fd: int, text: str, now: float) -> bool:
        """Whether an unmatched fd row is remote lines interleaved (then they are settled),
        or one of the empty rows such a row leaves behind."""
        if not text:
            owed = self._blanks.get(fd, 0)
            if owed:
                self._blanks[fd] = owed - 1
                _count_deduplicated(1)
                return True
            return False
        pieces = self._split(fd, text, now, self.PIECES)
        if not pieces or len(pieces) < 2:
            return False
        if any(len(self._expected[(fd, piece)]) < n for piece, n in Counter(pieces).items()):
            return False  # the same line twice, remembered once
        for piece in pieces:
            self._expected[(fd, piece)].popleft()
            self._remembered -= 1
        self._blanks[fd] = self._blanks.get(fd, 0) + len(pieces) - 1
        _count_deduplicated(len(pieces))
        return True

    def _split(self, fd: int, text: str, now: float, most: int) -> list[str] | None:
        """``text`` as remote lines of ``fd`` still expected, end to end, or None."""
        if not text:
            return []
        if most == 0:
            return None
        for (line_fd, line), times in self._expected.items():
            if line_fd != fd or not line or not text.startswith(line) or not any(t >= now for t in times):
                continue
            rest = self._split(fd, text[len(line):], now, most - 1)
            if rest is not None:
                return [line, *rest]
        return None


_THREAD, _SOURCE, _WORKER, _MSG = AT["thread"], AT["source"], AT["worker"], AT["msg"]
_thread_of = itemgetter(_THREAD)
CONSOLE = ConsoleDedup()


def _count_deduplicated(n: int) -> None:
    session = sessions.current()
    if session is not None:
        session.count_deduplicated(n)


def _leave_all() -> None:
    """Recording stops: no process shares the console any more (the rows still held are
    stored as the writer stops)."""
    CONSOLE.leave()


sessions.on_stop(_leave_all)
