"""Everything one recording installs in a process, and puts back exactly as found.

:class:`Capture` puts the logging handler and its level policy (:mod:`.logs`), the
stream tees and fd watches (:mod:`.streams`), the warnings hook and the uncaught
exception hook in place, and undoes each at :meth:`Capture.uninstall`, unless someone
replaced our hook meanwhile: then theirs stays and ours turns into a pass-through (they
may chain to it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..record import safe, sources
from ..record.context import where as _where
from ..record.rows import Caps, Row, make_row
from ..record.vocabulary import SUCCEEDED
from ..writer.core import Item, Writer, converter
from ..writer.quiet import quiet, quiet_threads
from . import actions
from .cells import CellRoots
from .eliot import EliotBridge
from .logs import CaptureHandler, LevelGuard, LevelPolicy, format_exception, parse_level
from .streams import FdWatch, StreamTee

__all__ = ["Capture", "CaptureHandler", "FdWatch", "LevelGuard", "LevelPolicy", "NONPROPAGATING", "StreamTee",
           "format_exception", "module_for_file", "parse_level"]

_get_ident = threading.get_ident
_now = time.time
_current_thread = threading.current_thread

#: Loggers that do not propagate to the root by their library's own setup, whose records
#: are captured anyway (see :meth:`Capture._handle_nonpropagating`): distributed's.
NONPROPAGATING: tuple[str, ...] = ("distributed",)


# --- warnings and exceptions ---------------------------------------------------------------

_module_of_file: dict[str, str] = {}


def module_for_file(filename: str) -> str:
    """The module a warning came from, by its file; ``__main__`` for notebook cells."""
    found = _module_of_file.get(filename)
    if found is None:
        found = _module_of_file[filename] = _find_module(filename)
    return found


def _find_module(filename: str) -> str:
    for name, module in list(sys.modules.copy().items()):
        if getattr(module, "__file__", None) == filename:
            return "__main__" if name == "__main__" else name
    base = os.path.basename(os.path.dirname(filename))
    if filename.startswith("<") or base.startswith("ipykernel_"):
        return "__main__"  # IPython cells: <ipython-input-...> or /tmp/ipykernel_<pid>/<hash>.py
    marker = f"site-packages{os.sep}"
    if marker in filename:
        relative = filename.split(marker, 1)[1].rsplit(".", 1)[0]
        return relative.replace(os.sep, ".").removesuffix(".__init__")
    return "py.warnings"


@converter("warning")
def _warning_row(item: Item, caps: Caps) -> Row:
    """Convert: a shown warning into a WARNING row named after the warning's module."""
    _, created, message, category, filename, lineno, thread, at = item
    name = getattr(category, "__name__", "Warning")
    logger = module_for_file(safe.safe_str(filename))
    msg = f"{name}: {safe.safe_str(message)}"
    where = f"{filename}:{lineno}"
    return make_row(
        created, logging.WARNING, sources.source_of(logger), logger, msg, caps, thread=thread,
        detail=f"  {where}", where=at,
        extra=safe.to_json({"category": name, "filename": safe.safe_str(filename), "lineno": lineno}, caps.extra),
    )


@converter("exception")
def _exception_row(item: Item, caps: Caps) -> Row:
    """Convert: an uncaught exception into an ERROR row with its traceback."""
    _, created, exc, logger, thread, extra, where = item
    name = type(exc).__name__
    msg = f"{name}: {safe.safe_str(exc)}" if not isinstance(exc, RecursionError) else f"{name}"
    return make_row(
        created, logging.ERROR, sources.source_of(logger), logger, msg, caps, thread=thread,
        detail=format_exception(exc), where=where,
        extra=safe.to_json({"exception": name, **extra}, caps.extra),
    )


class Capture:
    """Everything installed for one recording: install once, uninstall exactly once."""

    def __init__(
        self,
        writer: Writer,
        *,
        user_level: int = logging.DEBUG,
        library_level: int = logging.INFO,
        streams: bool = True,
        warnings_: bool = True,
        exceptions: bool = True,
        nonpropagating: tuple[str, ...] = NONPROPAGATING,
        tag: Any = None,
        cells: Callable[[tuple[Any, ...]], None] | None = None,
    ) -> None:
        self.writer = writer
        #: ``note(event)`` of the actions table: each IPython cell becomes a root action.
        self._cells = cells
        thresholds = {
            sources.USER: user_level,
            sources.LIBRARY: library_level,
            sources.RUNTIME: library_level,
            sources.SYSTEM_SOURCE: library_level,
        }
        self.handler = CaptureHandler(writer, thresholds, tag)
        self.policy = self.handler.policy = LevelPolicy(self.handler, user_level, library_level)
        self._want_streams = streams
        self._want_warnings = warnings_
        self._want_exceptions = exceptions
        self._nonpropagating = tuple(nonpropagating)
        self._on_loggers: dict[str, logging.Logger] = {}
        self.tees: dict[str, StreamTee] = {}
        self._fd: list[FdWatch] = []
        self._undo: list[Callable[[], None]] = []
        self.installed = False

    # Installing.

    def install(self) -> None:
        """Put every hook in place; each one registers how to undo itself."""
        self._install_logging()
        if self._want_streams:
            self._install_streams()
        if self._want_warnings:
            self._install_warnings()
        if self._want_exceptions:
            self._install_exceptions()
        self._install_actions()  # last: a cell closes after the hooks above saw its end
        self.installed = True

    def _install_logging(self) -> None:
        root = logging.root
        root.handlers.insert(0, self.handler)  # first on root: a raising handler after us can't stop us
        self._undo.append(lambda: _remove_handler(root, self.handler))
        self.policy.apply()
        self._undo.append(self.policy.undo)
        sources.on_mark(self._on_user_logger)
        self._undo.append(lambda: sources.off_mark(self._on_user_logger))
        self.writer.tick_hooks.append(self.policy.recheck)
        self._undo.append(lambda: _discard(self.writer.tick_hooks, self.policy.recheck))
        self._patch(logging, "basicConfig", self._basic_config(logging.basicConfig))
        if self._nonpropagating:
            self._handle_nonpropagating()
            self.writer.tick_hooks.append(self._handle_nonpropagating)
            self._undo.append(lambda: _discard(self.writer.tick_hooks, self._handle_nonpropagating))
            self._undo.append(self._leave_nonpropagating)

    def _handle_nonpropagating(self) -> None:
        """Our handler also on the named loggers while they do not propagate to the root.

        distributed gives its ``distributed`` logger its own console handler and
        ``propagate = False`` (in every worker, and in the kernel when it was imported
        before ``start()``): its records never reach the root. While that holds our
        handler sits on that logger too; it leaves as soon as the logger propagates, so
        no record is taken twice. Checked at install and on each writer tick.
        """
        for name in self._nonpropagating:
            logger = logging.root.manager.loggerDict.get(name)
            if not isinstance(logger, logging.Logger):
                continue
            ours = self.handler in logger.handlers
            if not logger.propagate and not ours:
                logger.handlers.insert(0, self.handler)
                self._on_loggers[name] = logger
            elif logger.propagate and ours:
                _remove_handler(logger, self.handler)
                self._on_loggers.pop(name, None)

    @contextmanager
    def stepped_aside(self) -> Iterator[None]:
        """While inside, our handler is not on the root logger (then guard new handlers).

        For a library that sets up its console logging only when the root logger has no
        handler (distributed does, when it is imported): it then does what it would do
        without taskscope.
        """
        root = logging.root
        _remove_handler(root, self.handler)
        try:
            yield
        finally:
            if self.installed and self.handler not in root.handlers:
                root.handlers.insert(0, self.handler)
                self.policy.guard_handlers()

    def _leave_nonpropagating(self) -> None:
        for logger in self._on_loggers.values():
            _remove_handler(logger, self.handler)
        self._on_loggers.clear()

    def _on_user_logger(self, name: str) -> None:
        """A user logger was registered: classify it again and apply the user level now."""
        if not self.installed:
            return
        self.handler.forget_classes()
        self.policy.apply_user(name)

    def _basic_config(self, original: Callable[..., None]) -> Callable[..., None]:
        """``logging.basicConfig`` that works as if taskscope were not on the root logger.

        basicConfig does nothing when root has a handler, and ours always is; so we step
        aside for the call, and the StreamHandler it makes writes to the real stream.
        """
        capture = self

        def basicConfig(**kwargs: Any) -> None:
            root = logging.root
            with quiet():
                _remove_handler(root, capture.handler)
                capture.policy.undo()
                try:
                    original(**kwargs)
                finally:
                    root.handlers.insert(0, capture.handler)
                    capture._untee_handlers(root.handlers)
                    capture.policy.apply()

        basicConfig.__doc__ = original.__doc__
        basicConfig.__wrapped__ = original  # type: ignore[attr-defined]
        return basicConfig

    def _untee_handlers(self, handlers: Iterable[logging.Handler]) -> None:
        """StreamHandlers made on our tee write to the real stream (their lines are records)."""
        tees = {id(t): t for t in self.tees.values()}
        for handler in handlers:
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and id(stream) in tees:
                handler.stream = tees[id(stream)].inner

    def _install_streams(self) -> None:
        cap = self.writer.caps.msg
        for name, levelno in (("stdout", logging.INFO), ("stderr", logging.WARNING)):
            inner = getattr(sys, name)
            if inner is None:
                continue
            tee = StreamTee(inner, name, levelno, self.writer, cap)
            self.tees[name] = tee
            self._patch(sys, name, tee)
            if FdWatch.applies(inner):
                watch = FdWatch(inner, tee)
                self._fd.append(watch)
                self._undo.append(watch.remove)
                self.writer.tick_hooks.append(watch.ensure)
                self._undo.append(lambda w=watch: _discard(self.writer.tick_hooks, w.ensure))
        self._ensure_fd_before_cells()

    def _ensure_fd_before_cells(self) -> None:
        """Before each cell, re-assert the fd watches (see :class:`FdWatch`): no race with the tick."""
        shell = _ipython_shell()
        if shell is None or not self._fd:
            return

        def pre_execute() -> None:
            for watch in self._fd:
                try:
                    watch.ensure()
                except Exception:  # noqa: BLE001
                    pass

        self._on_event(shell, "pre_execute", pre_execute)

    def _install_actions(self) -> None:
        """``ts.action``/``ts.log_call`` write to this capture; IPython cells are roots."""
        actions.bind(self.writer)
        self._undo.append(lambda: actions.unbind(self.writer))
        bridge = EliotBridge(self.writer)
        bridge.install()
        self._undo.append(bridge.remove)
        shell = _ipython_shell() if self._cells is not None else None
        if shell is None or self._cells is None:
            return
        roots = CellRoots(shell, self._cells)
        self._on_event(shell, "pre_run_cell", roots.pre_run_cell)
        self._on_event(shell, "post_run_cell", roots.post_run_cell)
        self._undo.append(lambda: roots.close(SUCCEEDED))
        roots.open_running()

    def _install_warnings(self) -> None:
        """``warnings.showwarning`` chained: a WARNING row, then the display as before."""
        previous = warnings.showwarning
        capture = self

        def showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            if capture.installed and _get_ident() not in quiet_threads:
                capture.writer.offer(
                    ("warning", _now(), message, category, filename, lineno, _current_thread().name, _where())
                )
            with quiet():
                previous(message, category, filename, lineno, file, line)

        self._patch(warnings, "showwarning", showwarning)

    def _install_exceptions(self) -> None:
        shell = _ipython_shell()
        if shell is not None:
            self._install_cell_errors(shell)
        else:
            self._install_excepthook()

    def _install_cell_errors(self, shell: Any) -> None:
        """IPython: an uncaught exception in a cell is ``result.error_in_exec`` after the cell.

        ``post_run_cell`` leaves IPython's own traceback display untouched (unlike
        ``set_custom_exc``) and runs once per (non-silent) cell.
        """
        capture = self

        def post_run_cell(result: Any) -> None:
            if not capture.installed:
                return
            try:
                error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
                if error is None:
                    return
                info = getattr(result, "info", None)
                extra = {"execution_count": getattr(result, "execution_count", None),
                         "cell_id": getattr(info, "cell_id", None)}
                capture.writer.offer(("exception", _now(), error, "__main__", _current_thread().name, extra, _where()))
            except Exception:  # noqa: BLE001
                pass

        self._on_event(shell, "post_run_cell", post_run_cell)

    def _on_event(self, shell: Any, event: str, callback: Callable[..., None]) -> None:
        """Register an IPython event callback; unregister it at uninstall."""
        shell.events.register(event, callback)
        self._undo.append(lambda: _unregister(shell, event, callback))

    def _install_excepthook(self) -> None:
        """Outside IPython: ``sys.excepthook`` chained to the one we found."""
        previous = sys.excepthook
        capture = self

        def excepthook(etype: type[BaseException], value: BaseException, tb: Any) -> None:
            if capture.installed:
                try:
                    capture.writer.offer(("exception", _now(), value, "__main__", _current_thread().name, {}, _where()))
                except Exception:  # noqa: BLE001
                    pass
            with quiet():
                previous(etype, value, tb)

        self._patch(sys, "excepthook", excepthook)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name``; at uninstall put the old one back if ours is still there.

        If someone replaced ours meanwhile, theirs stays; ours (which they may call)
        passes through, since it checks ``installed``.
        """
        previous = getattr(owner, name)
        setattr(owner, name, value)

        def undo() -> None:
            if getattr(owner, name) is value:
                setattr(owner, name, previous)

        self._undo.append(undo)

    def watched_fds(self) -> list[int]:
        """The fds whose output (ipykernel's capture pipes) becomes rows, labelled ``fd N``."""
        return [watch.fd for watch in self._fd if watch.fd is not None]

    # Uninstalling.

    def uninstall(self) -> None:
        """Store pending partial lines, then undo every change in reverse order.

        Also undoes a half-done :meth:`install` (whatever registered its undo).
        """
        if not self.installed and not self._undo:
            return
        self.installed = False
        for tee in self.tees.values():
            tee.flush_partial()
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # noqa: BLE001 - undo the rest regardless
                pass
        self._undo.clear()
        for tee in self.tees.values():
            object.__setattr__(tee, "capturing", False)  # a kept reference passes through


def _ipython_shell() -> Any:
    """The running IPython shell, without importing IPython where it is not in use."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:  # noqa: BLE001
        return None


def _remove_handler(logger: logging.Logger, handler: logging.Handler) -> None:
    if handler in logger.handlers:
        logger.removeHandler(handler)


def _discard(items: list[Any], value: Any) -> None:
    if value in items:
        items.remove(value)


def _unregister(shell: Any, event: str, callback: Callable[..., Any]) -> None:
    try:
        shell.events.unregister(event, callback)
    except ValueError:
        pass
