"""Process pools: the logs, prints and warnings of pool children as rows.

    import taskscope as ts
    from concurrent.futures import ProcessPoolExecutor

    ts.start()
    with ProcessPoolExecutor(2, initializer=ts.pool.initializer, initargs=ts.pool.initargs()) as ex:
        list(ex.map(ts.pool.task(work), range(10)))   # task(): rows carry a task id

The same ``initializer``/``initargs()`` pair works for ``multiprocessing.Pool`` and for
joblib's loky backend (``joblib.Parallel(backend="loky", initializer=..., initargs=...)``);
docs/remote.md has an example of each. Your own initializer still runs:
``initargs(then=my_init, args=(...))``.

Each child installs the capture (:class:`taskscope.remote.emitter.RemoteCapture`) and sends its
batches over a ZeroMQ PUSH socket to the kernel's PULL socket
(:mod:`taskscope.remote.receiver`): loopback only unless ``initargs(host=...)``
asks for more, each connection authenticated in ZeroMQ's handshake with keys made per
session (CURVE; see the receiver), msgpack + zlib (no pickle), at most
``max_message`` bytes a message. The socket is opened in the child's writer thread; a
child forked from a capturing child stops capturing (no socket crosses a fork).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..capture.logs import format_exception
from ..record.context import CURRENT, NOWHERE, Action
from ..record.rows import HOSTNAME
from ..record.sources import mark_user_logger, on_mark, user_logger_names
from ..session import session as sessions
from . import pool_actions
from . import receiver as receivers
from .console import CONSOLE
from .emitter import BatchSink, RemoteCapture, TaskTag, life_item
from .options import for_session
from .wire import frames

__all__ = ["initargs", "initializer", "installed", "task"]


def initargs(*, then: Callable[..., Any] | None = None, args: tuple[Any, ...] = (),
             host: str = "127.0.0.1", port: int = 0, connect_host: str | None = None,
             **options: Any) -> tuple[Any, ...]:
    """The ``initargs`` for :func:`initializer`: where and how children send their rows.

    Starts the kernel's receiver on first use (loopback, a random port). ``host`` binds
    elsewhere (``"0.0.0.0"`` for processes on other machines, who then connect to
    ``connect_host``, default this machine's name). ``then``/``args``: your own
    initializer, run after ours. ``options`` as for :func:`taskscope.attach`.
    While not recording the children capture nothing (your initializer still runs).
    """
    merged = for_session(**options)
    try:
        receiver = receivers.receiver(host, port)
    except Exception as exc:  # noqa: BLE001 - the pool still works, without capture
        session = sessions.current()
        if session is not None:
            session.system(f"taskscope: pool processes will not be captured: {exc}")
        receiver = None
    config = None
    if receiver is not None:
        port_number = receiver.address.rsplit(":", 1)[1]
        target = connect_host or (host if host not in ("0.0.0.0", "*", "", "::") else HOSTNAME)
        config = {
            "address": f"tcp://{target}:{port_number}",
            "credentials": dict(receiver.credentials),
            "options": merged,
            "kernel": [HOSTNAME, os.getpid()],
            "user_loggers_file": _user_loggers.path(),
        }
        if merged["console"]:  # spawned children share our console: their first lines may come
            CONSOLE.join(("pool", receiver.address, 0))  # before their first message
    return (config, then, tuple(args))


def initializer(config: Mapping[str, Any] | None = None, then: Callable[..., Any] | None = None,
                args: tuple[Any, ...] = ()) -> None:
    """The pool's initializer: install the capture in this child, then run ``then(*args)``.

    Never raises on our account (a failing initializer would break the pool); your
    ``then`` raises as it would without taskscope.
    """
    try:
        if config:
            _install(config)
    except Exception:  # noqa: BLE001
        pass
    if then is not None:
        then(*args)


def installed() -> bool:
    """Whether this process captures for a kernel (a pool child after the initializer)."""
    return _state.capture is not None and _state.capture.running


class task:  # noqa: N801 - used like a function: task(fn)
    """``fn`` whose calls are pool tasks: rows emitted during a call carry its task id,
    and lifecycle rows (started, finished, erred) are sent (not with ``initargs(lifecycle=False)``).

    The id is ``key(*args, **kwargs)`` when ``key`` is given, else
    ``"<name>-<pid>-<n>"`` (the n-th call in that process). Picklable if ``fn`` is.

    Each call is a ``pool:task`` action (:mod:`.pool_actions`), under the action the task
    was submitted in: ``where``, ``(action id, cell)``, which the pool wrappers of
    :mod:`.autopool` give a copy of the task (:meth:`at`); None: a root.
    """

    where: tuple[str, str] | None = None

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 key: Callable[..., str] | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "task")
        self.key = key

    def at(self, where: tuple[str, str]) -> task:
        """This task, submitted inside the action ``where`` (a copy: the task may be given
        to other calls, in other actions)."""
        copy = task.__new__(task)
        copy.__dict__.update(self.__dict__)
        copy.where = where
        return copy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        capture = _state.capture
        if capture is None:
            return self.fn(*args, **kwargs)
        try:
            task_id = str(self.key(*args, **kwargs)) if self.key else f"{self.name}-{os.getpid()}-{next(_counter)}"
        except Exception:  # noqa: BLE001
            task_id = f"{self.name}-{os.getpid()}-{next(_counter)}"
        local = _current
        previous = getattr(local, "task", None)
        local.task = task_id
        thread = threading.current_thread().name
        lifecycle = capture.options.get("lifecycle", True)
        life = capture.life if lifecycle else _no_life
        act, envelope = _open_action(capture, lifecycle, task_id, self.name, self.where, args, kwargs)
        where = NOWHERE if act is None else act.where
        life(life_item("started", task_id, None, thread=thread, where=where, envelope=envelope))
        token = _set_action(act)
        began = _now()
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as exc:
            error = pool_actions.error_text(exc)
            life(life_item("erred", task_id, None, levelno=40, thread=thread,
                           duration=round(_now() - began, 6), exception=error, detail=_traceback(exc),
                           where=where, envelope=envelope and pool_actions.end_envelope(error)))
            _send_now(capture)
            raise
        finally:
            local.task = previous
            _reset_action(token)
        life(life_item("finished", task_id, None, thread=thread, duration=round(_now() - began, 6),
                       where=where, envelope=envelope and pool_actions.SUCCEEDED_ENVELOPE))
        return result

    def __repr__(self) -> str:
        return f"taskscope.pool.task({self.fn!r})"


def _open_action(capture: RemoteCapture, lifecycle: bool, task_id: str, name: str, where: tuple[str, str] | None,
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Action | None, dict[str, Any] | None]:
    """The action a call runs in and its start envelope: a ``pool:task`` action when its
    start row is sent, else the submitting action (no envelope), or None."""
    try:
        if lifecycle and capture.runtime_level <= logging.INFO:
            return pool_actions.open_task(task_id, name, where, args, kwargs)
        return pool_actions.submitted(where), None
    except Exception:  # noqa: BLE001 - the task runs as without actions
        return None, None


#: Seconds a task that raised waits for its rows to be sent.
_FAILED_FLUSH = 1.0


def _send_now(capture: RemoteCapture) -> None:
    """Ship what is queued before a failed task's exception goes back: some pools end
    their workers at once when a task fails (joblib's loky SIGKILLs them), and the
    rows saying how it failed would go with them."""
    try:
        capture.writer.flush(_FAILED_FLUSH)
    except Exception:  # noqa: BLE001
        pass


def _set_action(act: Action | None) -> Any:
    return None if act is None else _set_current(act)


def _reset_action(token: Any) -> None:
    if token is not None:
        try:
            _reset_current(token)
        except (ValueError, RuntimeError):  # the task switched contexts under us: leave it
            pass


# --- the child side ------------------------------------------------------------------------


class ZmqSink(BatchSink):
    """Ships a child's batches over a ZeroMQ PUSH socket, opened in the writer thread.

    The connection authenticates with the receiver's ``credentials`` (CURVE keys, or a
    PLAIN password: :attr:`taskscope.remote.receiver.ZmqReceiver.credentials`). Sends
    never block: with ``hwm`` messages waiting (the kernel is slow or gone) a batch is
    dropped and counted. At the end, up to ``linger`` ms are given to deliver.
    """

    kind = "pool"

    def __init__(self, address: str, credentials: Mapping[str, str], max_message: int, hwm: int = 1000,
                 linger: int = 2000) -> None:
        super().__init__(multiprocessing.current_process().name, max_message)
        self.address = address
        self.credentials = dict(credentials)
        self.hwm = hwm
        self.linger = linger
        self._zmq: Any = None
        self._context: Any = None
        self._socket: Any = None

    def open(self) -> None:
        import zmq

        self._zmq = zmq
        self._context = zmq.Context()
        sock = self._context.socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.hwm)
        sock.setsockopt(zmq.LINGER, self.linger)
        credentials = self.credentials
        if credentials["mechanism"] == "curve":
            sock.setsockopt(zmq.CURVE_SERVERKEY, credentials["server_key"].encode("ascii"))
            sock.setsockopt(zmq.CURVE_PUBLICKEY, credentials["public_key"].encode("ascii"))
            sock.setsockopt(zmq.CURVE_SECRETKEY, credentials["secret_key"].encode("ascii"))
        else:
            sock.setsockopt(zmq.PLAIN_USERNAME, credentials["username"].encode("ascii"))
            sock.setsockopt(zmq.PLAIN_PASSWORD, credentials["password"].encode("ascii"))
        sock.connect(self.address)
        self._socket = sock

    def ship(self, payload: bytes, rows: int) -> bool:
        sock = self._socket
        if sock is None:
            return False
        try:
            sock.send_multipart(frames(payload), flags=self._zmq.NOBLOCK, copy=False)
        except self._zmq.Again:
            return False
        return True

    def shutdown(self) -> None:
        sock, self._socket = self._socket, None
        context, self._context = self._context, None
        if sock is not None:
            sock.close(self.linger)
        if context is not None:
            context.term()

    def forget(self) -> None:
        _forgotten.append((self._socket, self._context))
        self._socket = self._context = None


# --- user loggers registered after the pool started ---------------------------------------


class UserLoggersFile:
    """The kernel's user logger names, one a line, in a private file its children read.

    A pool outlives the ``initargs()`` it was made with, so a logger registered with
    ``ts.logger.getLogger`` later reaches the children through this file: rewritten (in
    one ``os.replace``) on each registration, checked by every child on its writer's tick.
    Children on other machines (``initargs(host=...)``) do not see it.
    """

    def __init__(self) -> None:
        self._path: str | None = None
        self._owner = 0  # the kernel's pid: a forked child never writes the kernel's file
        self._lock = threading.Lock()

    def path(self) -> str | None:
        """The file, made and filled on first use; None if it cannot be written."""
        with self._lock:
            if self._path is None:
                try:
                    folder = tempfile.mkdtemp(prefix="taskscope-pool-")  # 0700: the user's alone
                    self._path = os.path.join(folder, "user-loggers")
                    self._owner = os.getpid()
                    atexit.register(shutil.rmtree, folder, True)
                except OSError:
                    return None
            self._write()
            return self._path

    def on_mark(self, name: str) -> None:
        """A user logger was registered: rewrite the file if children may read it."""
        if os.getpid() != self._owner:
            return  # also: a forked child may hold a copy of a lock taken at the fork
        with self._lock:
            if self._path is not None:
                self._write()

    def _write(self) -> None:
        if os.getpid() != self._owner:
            return
        try:
            staging = f"{self._path}.{os.getpid()}.tmp"
            with open(staging, "w", encoding="utf-8") as f:
                f.write("\n".join(sorted(user_logger_names())))
            os.replace(staging, str(self._path))
        except OSError:
            pass  # the children keep the names they had


class UserLoggersReader:
    """In a child: marks the names in the kernel's file whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def check(self) -> None:
        try:
            stat = os.stat(self.path)
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # os.replace: a new inode each time
            if seen == self._seen:
                return
            self._seen = seen
            with open(self.path, encoding="utf-8") as f:
                names = f.read().split("\n")
        except OSError:
            return
        for name in names:
            if name:
                mark_user_logger(name)


_user_loggers = UserLoggersFile()
on_mark(_user_loggers.on_mark)


class _State:
    capture: RemoteCapture | None = None
    config_id: tuple[str, str] | None = None
    stopping = False


_state = _State()
_current = threading.local()
_counter = itertools.count(1)
_lock = threading.Lock()
_forgotten: list[Any] = []
_now = time.time
_set_current, _reset_current = CURRENT.set, CURRENT.reset


def _install(config: Mapping[str, Any]) -> None:
    """Install the capture in this child (once per process and receiver)."""
    kernel = tuple(config.get("kernel") or ())
    if kernel == (HOSTNAME, os.getpid()):
        return  # called in the kernel itself: its own capture has the rows
    credentials = config["credentials"]
    ident = (str(config["address"]), str(credentials.get("public_key") or credentials.get("password")))
    with _lock:
        if _state.capture is not None and _state.capture.running:
            if _state.config_id == ident:
                return
            _stop()
        options = dict(config["options"])
        sink = ZmqSink(ident[0], credentials, int(options["max_message"]))
        capture = RemoteCapture(sink, options, tag=TaskTag(_current, "task"))
        capture.start(f"pool process {multiprocessing.current_process().name} (pid {os.getpid()})")
        if config.get("user_loggers_file"):
            capture.writer.tick_hooks.append(UserLoggersReader(str(config["user_loggers_file"])).check)
        _state.capture = capture
        _state.config_id = ident
    _at_exit_once()


def _stop(timeout: float = 5.0) -> None:
    """Ship what is queued and put every hook back (at exit; idempotent)."""
    capture, _state.capture = _state.capture, None
    _state.config_id = None
    if capture is None:
        return
    _state.stopping = True
    try:
        capture.stop(f"pool process {multiprocessing.current_process().name} (pid {os.getpid()})", timeout=timeout)
    except Exception:  # noqa: BLE001
        pass
    finally:
        _state.stopping = False


_exit_registered = False
#: Seconds a child given SIGTERM spends shipping its last rows before it ends.
_SIGTERM_FLUSH = 1.0


def _at_exit_once() -> None:
    """Flush at a normal exit and at SIGTERM.

    multiprocessing children skip atexit but run its Finalize hooks; ``Pool.terminate``
    (also the end of a ``with Pool(...)`` block) sends SIGTERM, which by default ends a
    child at once: we flush first, then do what SIGTERM did before. A SIGKILLed child
    runs nothing, so the writer flushes on a timer too.
    """
    global _exit_registered
    if _exit_registered:
        return
    _exit_registered = True
    atexit.register(_stop)
    from multiprocessing import util

    util.Finalize(None, _stop, exitpriority=100)
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            # A SIGTERM is never swallowed: Pool.terminate joins its children, so a child
            # that outlives it hangs the user's pool. The flush is short and bounded.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if _state.stopping:
                # The end of `with Pool()`: the pool's sentinel began this child's normal
                # exit, which is shipping the last rows right now (under this handler).
                # Let it finish; the signal takes effect after the same bound.
                _signal_later(previous, signum)
                return
            _stop(timeout=_SIGTERM_FLUSH)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        _watch_sigterm()


#: Seconds after a SIGTERM a child still alive ends itself (the handler above ran late or
#: not at all): longer than the handler's own bound.
_SIGTERM_DEADLINE = _SIGTERM_FLUSH + 2.0


def _watch_sigterm() -> None:
    """Make sure a SIGTERM ends this child even when its Python handler never runs.

    Python runs signal handlers in the main thread between bytecodes: a SIGTERM that lands
    just before the main thread blocks in a C call (a pool worker waiting for the inqueue
    lock that a terminated sibling held) is never acted on, and the child outlives
    ``Pool.terminate``, which joins it for ever. The C-level handler still writes the
    signal's number to the wakeup fd; a thread reading it gives the handler its bound,
    then ends the process. Left alone if something else owns the wakeup fd already.
    """
    try:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        if signal.set_wakeup_fd(write_end, warn_on_full_buffer=False) != -1:
            signal.set_wakeup_fd(-1)  # someone else's: put it back, leave it to them
            os.close(read_end)
            os.close(write_end)
            return
    except (OSError, ValueError):
        return
    threading.Thread(target=_end_after_sigterm, args=(read_end,), name="taskscope-sigterm", daemon=True).start()


def _end_after_sigterm(read_end: int) -> None:
    """Wait for a SIGTERM's byte on the wakeup fd; past the deadline, end the process."""
    try:
        while signal.SIGTERM not in os.read(read_end, 64):
            pass
    except OSError:
        return
    time.sleep(_SIGTERM_DEADLINE)
    _stop(timeout=_SIGTERM_FLUSH)
    os._exit(128 + signal.SIGTERM)


def _signal_later(previous: Any, signum: int) -> None:
    """Deliver ``signum`` again after _SIGTERM_FLUSH seconds, to the handler it had before
    ours (from the main thread, where Python runs handlers), unless that ignored it."""
    if previous == signal.SIG_IGN:
        return
    if callable(previous):
        signal.signal(signum, previous)
    timer = threading.Timer(_SIGTERM_FLUSH, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _after_fork_in_child() -> None:
    """A process forked from a capturing child: its writer thread and socket are the
    parent's, so capture stops here (hooks put back, socket forgotten untouched)."""
    global _lock
    _lock = threading.Lock()
    capture, _state.capture = _state.capture, None
    _state.config_id = None
    if capture is not None:
        capture.running = False
        capture.writer.after_fork_in_child()
        try:
            capture.capture.uninstall()
        except Exception:  # noqa: BLE001
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _no_life(item: Any) -> None:
    """Lifecycle rows turned off (``initargs(lifecycle=False)``)."""


def _traceback(exc: BaseException) -> str:
    return format_exception(exc)
