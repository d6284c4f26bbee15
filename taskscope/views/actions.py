"""Actions as a tree: ``taskscope.logger.dataset.tree()`` and ``to_eliot()``.

An :class:`ActionTree` holds actions (the ``actions`` table's rows as dicts keyed by
``ACTION_NAMES``) and, for Eliot, the log rows inside them. It puts each action under its
parent (one whose parent is not among them is a root), children in the order they started,
and shows itself three ways (docs/actions.md):

- ``application/vnd.taskscope.tree+json``: the nested nodes, for the extension;
- ``text/plain``: eliot-tree-like lines (:meth:`ActionTree.lines`);
- ``text/html``: nested lists where every piece of log text is escaped.

:meth:`ActionTree.eliot_messages` gives the same tree as Eliot's messages (task_uuid, the
task_level numbering of Eliot's rules), so ``eliot-tree`` renders taskscope's actions.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from ..record.vocabulary import FAILED, STARTED, SUCCEEDED
from ..store.query import json_safe
from .display import bundle_value, clock, cut, visible

MIME_TYPE = "application/vnd.taskscope.tree+json"
BUNDLE_VERSION = 1
#: Nodes a displayed tree holds at most (dataset.tree()); the rest are counted, not shown.
MAX_NODES = 10_000
#: Characters of a line's inputs, result and error in the text and HTML views.
PIECE_CHARS = 200
#: The keys of a node in the bundle, in order (``children`` and ``failed_chain`` follow).
NODE_KEYS: tuple[str, ...] = (
    "action", "parent", "type", "status", "started", "duration", "fields", "result", "error",
    "task", "worker", "cell",
)
#: Keys of Eliot's own: an action's input or result named like one is written ``field_<name>``.
ELIOT_KEYS = frozenset({
    "task_uuid", "task_level", "action_type", "action_status", "timestamp", "message_type",
    "exception", "reason",
})

_STYLES = {
    FAILED: "color:#b00020;font-weight:bold",
    STARTED: "color:#a05a00",
    SUCCEEDED: "color:#1b6e20",
}
_CHAIN_STYLE = "color:#b00020"
_HTML_LIST = '<ul style="list-style:none;padding-left:1.2em;margin:0">'


class ActionTree:
    """Actions under their parents; displayed inline as an interactive tree.

    ``actions``: dicts keyed by the actions table's columns (``fields`` and ``result``
    parsed, times in epoch seconds). ``total``: how many actions the tree has in all
    (more than given when it was cut at :data:`MAX_NODES`). ``rows``: log rows inside
    the actions (dicts with seq, created, level, logger, msg, action), for Eliot.
    ``children``: how many actions run directly inside each action, where known (a cut
    tree says how many of them it does not show).
    """

    def __init__(
        self,
        actions: Iterable[Mapping[str, Any]],
        total: int | None = None,
        rows: Iterable[Mapping[str, Any]] = (),
        children: Mapping[str, int] | None = None,
    ) -> None:
        self._nodes: dict[str, dict[str, Any]] = {}
        for action in actions:
            node = {key: action.get(key) for key in (*NODE_KEYS, "finished", "seq")}
            node["children"] = []
            self._nodes[str(node["action"])] = node
        self.total = len(self._nodes) if total is None else max(total, len(self._nodes))
        self._counts = dict(children or {})
        self._rows: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            self._rows.setdefault(str(row.get("action")), []).append(row)
        self.roots: list[dict[str, Any]] = []
        for node in self._nodes.values():
            parent = self._nodes.get(node["parent"] or "")
            (parent["children"] if parent is not None and parent is not node else self.roots).append(node)
        self.roots.sort(key=_start_order)
        for node in self._nodes.values():
            node["children"].sort(key=_start_order)
            node["failed_chain"] = False
        self._mark_failed_chains()

    @property
    def truncated(self) -> bool:
        """True when the tree holds fewer actions than matched (it was cut)."""
        return self.total > len(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def _mark_failed_chains(self) -> None:
        """A failed action and each action above it, up to its root, is on a failed chain."""
        for node in self._nodes.values():
            if node["status"] != FAILED:
                continue
            while node is not None and not node["failed_chain"]:
                node["failed_chain"] = True
                node = self._nodes.get(node["parent"] or "")

    def walk(self) -> Iterator[tuple[dict[str, Any], int, bool]]:
        """Every node depth first, roots and children by start: (node, depth, is last child)."""
        stack = [(root, 0, True) for root in reversed(self.roots)]
        while stack:
            node, depth, last = stack.pop()
            yield node, depth, last
            children = node["children"]
            stack.extend((child, depth + 1, i == len(children) - 1)
                         for i, child in reversed(list(enumerate(children))))

    # ------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The bundle: ``{"version", "nodes": [node, ...], "total", "truncated"}``, each node
        with :data:`NODE_KEYS`, ``children`` (nodes) and ``failed_chain``."""
        roots: list[dict[str, Any]] = []
        above: list[dict[str, Any]] = []  # the node made last at each depth
        for node, depth, _last in self.walk():
            out = {key: _bundle(node[key]) for key in NODE_KEYS}
            out["children"] = []
            out["failed_chain"] = node["failed_chain"]
            del above[depth:]
            (above[-1]["children"] if above else roots).append(out)
            above.append(out)
        return {"version": BUNDLE_VERSION, "nodes": roots, "total": self.total, "truncated": self.truncated}

    # ------------------------------------------------------------ text

    def lines(self) -> list[str]:
        """eliot-tree-like text: each root's id, then its actions as
        ``└── type/STATUS  ⧖ 0.002s  a=1, b=2 → 0`` under ├──/│ connectors; a failed
        action ends with ``✗ Type: message``. Roots are separated by a blank line."""
        out: list[str] = []
        rails: list[bool] = []  # for each depth above: does a sibling follow (draw │)?
        for node, depth, last in self.walk():
            if depth == 0:
                if out:
                    out.append("")
                out.append(visible(node["action"]))
            del rails[depth:]
            indent = "".join("│   " if more else "    " for more in rails)
            out.append(f"{indent}{'└── ' if last else '├── '}{node_text(node)}{self._hidden(node)}")
            rails.append(not last)
        if not out:
            out.append("no matching actions")
        if self.truncated:
            out.append(
                f"… truncated: {len(self._nodes):,} of {self.total:,} actions shown (the first started); "
                "narrow it with filters such as type=, status=, since= or action="
            )
        return out

    def _hidden(self, node: Mapping[str, Any]) -> str:
        """`` (+N inside not shown)`` where a cut tree left out actions run inside ``node``."""
        hidden = self._counts.get(str(node["action"]), 0) - len(node["children"])
        return f"  (+{hidden} inside not shown)" if hidden > 0 and self.truncated else ""

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<taskscope ActionTree: {len(self._nodes)} of {self.total} actions, {len(self.roots)} roots>"

    # ------------------------------------------------------------ HTML

    def to_html(self) -> str:
        """Nested lists, failed chains in red; every piece of log text escaped."""
        parts = ['<div class="taskscope-tree" style="font-family:monospace">']
        previous = -1
        for node, depth, _last in self.walk():
            if depth > previous:
                parts.append(_HTML_LIST)
            else:  # the node before, and the lists below this depth, are done
                parts.append("</li>" + "</ul></li>" * (previous - depth))
            previous = depth
            style = _STYLES.get(node["status"], "")
            if node["failed_chain"] and node["status"] != FAILED:
                style = _CHAIN_STYLE
            title = html.escape(f"{node['action']} started {clock(node['started'])}", quote=True)
            text = html.escape(node_text(node) + self._hidden(node), quote=True)
            parts.append(f'<li title="{title}"><span style="{style}">{text}</span>')
        if previous >= 0:
            parts.append("</li>" + "</ul></li>" * previous + "</ul>")
        if not self._nodes:
            parts.append("<p>no matching actions</p>")
        if self.truncated:
            parts.append(f"<p>{html.escape(self.lines()[-1])}</p>")
        parts.append("</div>")
        return "".join(parts)

    # ------------------------------------------------------------ display

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """IPython's rich display: the tree JSON, HTML and text (honours include/exclude)."""
        renderers = {MIME_TYPE: self.to_json, "text/html": self.to_html, "text/plain": self.__str__}
        wanted = [m for m in renderers if (not include or m in include) and not (exclude and m in exclude)]
        return {mime: renderers[mime]() for mime in wanted}

    # ------------------------------------------------------------ Eliot

    def eliot_messages(self) -> Iterator[dict[str, Any]]:
        """The tree as Eliot messages: each action's start and (when it finished) end
        message, and the log rows inside it as ``message_type`` messages, numbered by
        Eliot's rules: in an action at task_level L, its start is L+[1], then each message
        or child action (in time order) takes the next L+[n] (a child's own messages go
        below it), and its end the last."""
        for root in self.roots:
            task = str(root["action"])
            stack: list[list[Any]] = []
            yield self._start_message(task, root, [])
            stack.append([root, [], self._events(root), 1])
            while stack:
                frame = stack[-1]
                node, level, events, _ = frame
                event = next(events, None)
                if event is None:
                    end = _end_message(task, node, level + [frame[3] + 1])
                    if end is not None:
                        yield end
                    stack.pop()
                    continue
                frame[3] += 1
                kind, item = event
                if kind == "row":
                    yield _row_message(task, item, level + [frame[3]])
                else:
                    yield self._start_message(task, item, level + [frame[3]])
                    stack.append([item, level + [frame[3]], self._events(item), 1])

    def _start_message(self, task: str, node: Mapping[str, Any], level: list[int]) -> dict[str, Any]:
        message = {
            "task_uuid": task, "task_level": level + [1], "action_type": node["type"] or "",
            "action_status": STARTED, "timestamp": _timestamp(node["started"], node["finished"]),
        }
        message.update(_eliot_fields(node["fields"], "fields"))
        return message

    def _events(self, node: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """An action's rows and child actions, in time order (seq breaks ties)."""
        events = [((_number(row.get("created")), _number(row.get("seq"))), "row", row)
                  for row in self._rows.get(str(node["action"]), ())]
        events += [((_number(child["started"]), _number(child["seq"])), "action", child) for child in node["children"]]
        events.sort(key=lambda event: event[0])
        return iter([(kind, item) for _key, kind, item in events])

    def write_eliot(self, target: str | os.PathLike[str] | IO[str]) -> int:
        """Write :meth:`eliot_messages` as JSON lines (a path, or an open text file);
        the number of messages written."""
        if hasattr(target, "write"):
            return _write_lines(target, self.eliot_messages())  # type: ignore[arg-type]
        with open(target, "w", encoding="utf-8") as file:  # type: ignore[arg-type]
            return _write_lines(file, self.eliot_messages())


def node_text(node: Mapping[str, Any]) -> str:
    """One action as a line of text: ``type/STATUS  ⧖ 0.002s  a=1, b=2 → 0`` (then
    ``✗ Type: message`` for a failed one); controls spelled out, long pieces cut."""
    status = str(node.get("status") or "?").upper()
    parts = [f"{one_line(node.get('type') or '?')}/{status}"]
    duration = node.get("duration")
    if isinstance(duration, (int, float)) and duration == duration:
        parts.append(f"⧖ {duration:.3f}s")
    fields = node.get("fields")
    if isinstance(fields, Mapping):
        shown = ", ".join(f"{one_line(key)}={_json_text(value)}" for key, value in fields.items())
    else:
        shown = "" if fields is None else _json_text(fields)
    if shown:
        parts.append(cut(shown, PIECE_CHARS))
    text = "  ".join(parts)
    if node.get("result") is not None:
        text += " → " + cut(_json_text(node["result"]), PIECE_CHARS)
    if node.get("status") == FAILED:
        text += "  ✗ " + cut(one_line(node.get("error") or "failed"), PIECE_CHARS)
    return text


def one_line(value: Any) -> str:
    """Display text on one line: controls spelled out, line breaks as ``\\n``."""
    return visible(str(value).replace("\r", "\\r").replace("\n", "\\n"))


def _json_text(value: Any) -> str:
    return one_line(json.dumps(json_safe(value), ensure_ascii=False))


def _bundle(value: Any) -> Any:
    """A JSON-safe node value with long strings cut (inline output is saved in the notebook)."""
    value = json_safe(value)
    if isinstance(value, dict):
        return {key: _bundle(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bundle(item) for item in value]
    return bundle_value(value)


def _start_order(node: Mapping[str, Any]) -> tuple[Any, ...]:
    """Started first (those not known to have started last), then seq, then id."""
    started = node.get("started")
    return (started is None, started or 0.0, _number(node.get("seq")), str(node.get("action")))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("inf")


def _timestamp(*candidates: Any) -> float:
    """The first known time of ``candidates``, epoch seconds (0 when none is)."""
    return next((float(c) for c in candidates if isinstance(c, (int, float))), 0.0)


def _eliot_fields(value: Any, name: str) -> dict[str, Any]:
    """Inputs or a result as an Eliot message's fields: a mapping's keys (one named like an
    Eliot key as ``field_<key>``), anything else as ``{name: value}``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {name: json_safe(value)}
    return {(f"field_{key}" if key in ELIOT_KEYS else str(key)): json_safe(item) for key, item in value.items()}


def _end_message(task: str, node: Mapping[str, Any], level: list[int]) -> dict[str, Any] | None:
    """The end message of a finished action; None for one still started."""
    status = node["status"]
    if status not in (SUCCEEDED, FAILED):
        return None
    message: dict[str, Any] = {
        "task_uuid": task, "task_level": level, "action_type": node["type"] or "",
        "action_status": status, "timestamp": _timestamp(node["finished"], node["started"]),
    }
    if status == SUCCEEDED:
        message.update(_eliot_fields(node["result"], "result"))
    else:
        kind, _, reason = str(node["error"] or "").partition(": ")
        message.update(exception=kind or "Exception", reason=reason)
    return message


def _row_message(task: str, row: Mapping[str, Any], level: list[int]) -> dict[str, Any]:
    return {
        "task_uuid": task, "task_level": level, "message_type": row.get("logger") or "",
        "timestamp": _timestamp(row.get("created")), "message": row.get("msg") or "",
        "log_level": row.get("level") or "",
    }


def _write_lines(file: IO[str], messages: Iterable[Mapping[str, Any]]) -> int:
    n = 0
    for message in messages:
        file.write(json.dumps(message, ensure_ascii=False, allow_nan=False) + "\n")
        n += 1
    return n


def action_dicts(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Stored tuples as dicts keyed by ``names``."""
    return [dict(zip(names, row)) for row in rows]
