"""Each notebook cell execution is a root action: everything the cell causes hangs below.

IPython's ``pre_run_cell`` opens the cell's action and makes it this process's root
(:data:`taskscope.record.context.ROOT`); ``post_run_cell`` closes it, failed when the
cell raised. A cell has no rows of its own (the log table keeps what code said): its
start and end go straight to the actions table as events (``note``, the session's
``note_action``). Silent executions (the front end's own) trigger neither event.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..record import context, safe
from ..record.rows import HOSTNAME
from ..record.vocabulary import FAILED, SUCCEEDED

#: What the cell's ``fields`` keep of its code: the first line, cut.
CODE_CAP = 200
CELL_TYPE = "cell"

Note = Callable[[tuple[Any, ...]], None]


def cell_text(execution_count: int | None, cell_id: str | None) -> str:
    """The ``cell`` column: ``"3"``, or ``"3:<cell id>"`` when the front end sent one."""
    count = "" if execution_count is None else str(execution_count)
    return f"{count}:{cell_id}" if cell_id else count


class CellRoots:
    """The IPython callbacks that make each cell execution a root action."""

    def __init__(self, shell: Any, note: Note) -> None:
        self.shell = shell
        self.note = note
        self._open: tuple[context.Action, float] | None = None

    def pre_run_cell(self, info: Any) -> None:
        """A cell starts: its action becomes the root."""
        try:
            store_history = bool(getattr(info, "store_history", True))
            count = getattr(self.shell, "execution_count", None)
            if isinstance(count, int) and store_history:
                count -= 1  # IPython counts the cell before it triggers pre_run_cell
            self.open(count if isinstance(count, int) else None,
                      getattr(info, "cell_id", None) or None, getattr(info, "raw_cell", "") or "")
        except Exception:  # noqa: BLE001 - a callback must never break the cell
            pass

    def open(self, count: int | None, cell_id: str | None, code: str) -> None:
        """Open the root action of cell ``count`` (closing one left open)."""
        if self._open is not None:
            self.close(SUCCEEDED)
        cell = cell_text(count, safe.safe_str(cell_id) if cell_id else None)
        root = context.Action(context.new_id(), "", CELL_TYPE, cell)
        started = time.time()
        self._open = (root, time.perf_counter())
        fields = {"execution_count": count, "cell_id": cell_id, "code": safe.cut(_first_line(code), CODE_CAP)}
        context.ROOT[0] = root
        self.note(("start", root.id, "", CELL_TYPE, started, json.dumps(fields, ensure_ascii=False),
                   "", "", cell, HOSTNAME, os.getpid(), threading.current_thread().name, None))

    def open_running(self) -> None:
        """Recording starts inside a cell (``ts.start()`` in it): that cell is the root."""
        if self._open is not None:
            return
        try:
            count = getattr(self.shell, "execution_count", None)
            parent = self.shell.kernel.get_parent() if hasattr(self.shell, "kernel") else {}
            cell_id = ((parent or {}).get("metadata") or {}).get("cellId")
            code = ((parent or {}).get("content") or {}).get("code", "")
            if (parent or {}).get("header", {}).get("msg_type") != "execute_request":
                return
            self.open(count - 1 if isinstance(count, int) else None, cell_id, code)
        except Exception:  # noqa: BLE001 - then the next cell is the first root
            pass

    def post_run_cell(self, result: Any) -> None:
        """A cell ends: its action closes, failed when the cell raised."""
        try:
            error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
            self.close(FAILED if error is not None else SUCCEEDED, error)
        except Exception:  # noqa: BLE001
            pass

    def close(self, status: str, error: BaseException | None = None) -> None:
        """Close the open cell's action (and it stops being the root)."""
        found, self._open = self._open, None
        if found is None:
            return
        root, t0 = found
        if context.ROOT[0] is root:
            context.ROOT[0] = None
        text = f"{type(error).__name__}: {safe.safe_str(error)}" if error is not None else None
        self.note(("end", root.id, status, time.time(), time.perf_counter() - t0, None, text))


def _first_line(code: str) -> str:
    """The first line of a cell that says something (not blank, not a comment)."""
    for line in code.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped
    return code.strip()
