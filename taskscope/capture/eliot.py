"""Eliot's actions as taskscope's, while recording: code that already uses Eliot
(``start_action``, ``log_call``, ``log_message``) shows up in the same tree.

An Eliot destination (:class:`EliotBridge`) gets every message in the emitting thread.
A start message opens a taskscope action of the same type and fields, under the Eliot
parent's action (its ``task_level`` says which) or, for an Eliot root, under the
taskscope action open there (the running cell, a ``ts.action``); while it is open it is
the current action, so rows and actions inside it nest under it as with ``ts.action``.
Its end message closes it (success fields as its result; a failure's ``exception`` and
``reason`` as its error); any other message is a row inside it.

Installed with the capture when Eliot is imported already, else as soon as it is (an
import watch while recording), so its first message already has a destination.
"""

from __future__ import annotations

import sys
from typing import Any

from ..record import context, safe
from ..record.vocabulary import FAILED, STARTED
from ..writer.core import Writer
from . import actions
from .imports import ImportWatch

#: Keys of Eliot's envelope: the rest of a message is its fields.
ELIOT_KEYS = frozenset({"task_uuid", "task_level", "action_type", "action_status", "timestamp", "message_type"})
#: Eliot actions open at once at most (a start without its end is forgotten past this).
MAX_OPEN = 100_000


class EliotBridge:
    """The Eliot destination that turns Eliot's messages into taskscope actions."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        #: Open Eliot actions by (task_uuid, the task_level of the action itself).
        self._open: dict[tuple[str, tuple[int, ...]], actions.action] = {}
        self._added = False
        self._watch: ImportWatch | None = None

    # --- installing ------------------------------------------------------------------------

    def install(self) -> None:
        """Become an Eliot destination now, or when Eliot is imported."""
        self.try_add()
        if not self._added:
            self._watch = ImportWatch({"eliot": self._run_then_add})
            self._watch.install()

    def _run_then_add(self, exec_module: Any, module: Any) -> None:
        exec_module(module)
        self._watch.uninstall()
        self.try_add()

    def try_add(self) -> None:
        """Become an Eliot destination if Eliot is imported."""
        if self._added:
            return
        eliot = sys.modules.get("eliot")
        add = getattr(eliot, "add_destinations", None)
        if add is None:
            return
        self._added = True
        try:
            add(self)
        except Exception:  # noqa: BLE001 - recording goes on without Eliot
            pass

    def remove(self) -> None:
        """Stop being a destination (at uninstall)."""
        if self._watch is not None:
            self._watch.uninstall()
        if not self._added:
            return
        self._added = False
        eliot = sys.modules.get("eliot")
        try:
            eliot.remove_destination(self)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            pass
        self._open.clear()

    # --- the destination (the emitting thread) --------------------------------------------

    def __call__(self, message: dict[str, Any]) -> None:
        try:
            level = message.get("task_level")
            uuid = message.get("task_uuid")
            if not isinstance(level, list) or not level or not isinstance(uuid, str):
                return
            status = message.get("action_status")
            if status == STARTED:
                self._start(uuid, tuple(level), message)
            elif isinstance(status, str):
                self._end(uuid, tuple(level), status, message)
            else:
                self._message(uuid, tuple(level), message)
        except Exception:  # noqa: BLE001 - a destination must never raise into Eliot's caller
            pass

    def _start(self, uuid: str, level: tuple[int, ...], message: dict[str, Any]) -> None:
        here = level[:-1]
        outer = self._open.get((uuid, here[:-1])) if here else None
        act = actions.action(safe.safe_str(message.get("action_type") or "eliot"))
        fields = actions._kept(_fields(message))
        act._open(self.writer, fields or None, outer)
        if len(self._open) < MAX_OPEN:
            self._open[(uuid, here)] = act

    def _end(self, uuid: str, level: tuple[int, ...], status: str, message: dict[str, Any]) -> None:
        act = self._open.pop((uuid, level[:-1]), None)
        if act is None:
            return
        fields = _fields(message)
        if status == FAILED:
            fields.pop("exception", None)
            fields.pop("reason", None)
            error = f"{safe.safe_str(message.get('exception', 'exception'))}: {safe.safe_str(message.get('reason', ''))}"
            act._close(FAILED, fields or None, None, error)
            return
        result = fields["result"] if list(fields) == ["result"] else (fields or None)
        act._close(status, result, None)

    def _message(self, uuid: str, level: tuple[int, ...], message: dict[str, Any]) -> None:
        found = self._open.get((uuid, level[:-1]))
        text = safe.safe_str(message.get("message_type") or "eliot message")
        if found is not None:
            found.log(text, **_fields(message))
            return
        where = context.current()
        holder = actions.action("eliot")  # a standalone message: a row where it was logged
        holder.where, holder._writer = (where.where if where is not None else context.NOWHERE), self.writer
        holder.log(text, **_fields(message))


def _fields(message: dict[str, Any]) -> dict[str, Any]:
    """A message's own fields (Eliot's keys left out; names kept as str)."""
    return {str(k): v for k, v in message.items() if k not in ELIOT_KEYS}
