"""Process pools captured with no set-up: while recording, the pools made in this process
get taskscope's initializer and their tasks get ids, without being asked.

Registered as start/stop hooks on the session's port by ``taskscope.runtime``; off with
``start(pools=False)``. At start, a few methods of the pool classes are wrapped (class
attributes; at stop they are put back, or left as no-ops if someone wrapped them since):

- the constructors of ``concurrent.futures.ProcessPoolExecutor`` and
  ``multiprocessing.pool.Pool`` (every start method; not ``ThreadPool``): a pool made
  without :func:`taskscope.pool.initializer` gets it, with the pool's own initializer
  chained after ours (``initargs(then=..., args=...)``); the arguments are bound by the
  constructor's own signature, so positional calls (``multiprocessing.Pool(2, init)``)
  count too. A pool made with ``ts.pool.initializer`` is left as it is.
- the methods that take the pool's callable (``submit``/``map``; ``apply``,
  ``apply_async``, ``map``, ``map_async``, ``imap``, ``imap_unordered``, ``starmap``,
  ``starmap_async``): on a pool captured in this recording, the callable becomes
  ``ts.pool.task(fn)`` (a picklable top-level class), unless it is one already, carrying
  the action open at the call (``(action id, cell)``, :mod:`.pool_actions`): each call
  is a ``pool:task`` action under it in the child.
- joblib's loky backend asks ``MemmappingExecutor.get_memmapping_executor`` for its
  reusable executor on each ``Parallel`` call, and joblib reuses the last one when the
  arguments are the same. Ours are injected before joblib compares them, so an executor
  made before recording (or after it) is replaced by a fresh one; the initargs are kept
  for the recording, so later calls reuse the captured one. Its ``submit`` makes each
  call of joblib's batch (``BatchedCalls.items``) a task; where a batch has no such
  items, the batch is one task. joblib dispatches a call's later batches from its
  callback threads, so ``Parallel.__call__`` notes the action open at the call and
  ``Parallel._dispatch`` submits every batch of that call inside it. joblib imported
  after ``start()`` is set up as it is imported (:class:`.imports.ImportWatch`).

Nothing here raises into user code: if anything of ours fails, the pool is made and used
as it would be without taskscope.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..capture.imports import ImportWatch
from ..session import session as sessions
from . import pool, pool_actions

#: The start() option that turns this off (record/vocabulary.py).
OPTION = "pools"
_MISSING = object()


class _Patches:
    """Class attributes replaced while recording, and how to put each back."""

    def __init__(self) -> None:
        self.applied: list[tuple[type, str, Any, Any]] = []  # (class, name, as it was, ours)

    def replace(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        """``owner.name = make(current)``, once per recording."""
        if any(o is owner and n == name for o, n, _, _ in self.applied):
            return
        before = owner.__dict__.get(name, _MISSING)
        ours = make(getattr(owner, name))
        setattr(owner, name, ours)
        self.applied.append((owner, name, before, ours))

    def undo(self) -> None:
        """Put back what was there, where ours is still in place (else ours stays, a no-op)."""
        applied, self.applied = self.applied, []
        for owner, name, before, ours in reversed(applied):
            try:
                if owner.__dict__.get(name) is not ours:
                    continue
                if before is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, before)
            except Exception:  # noqa: BLE001
                pass


_patches = _Patches()
_lock = threading.Lock()
_on = False
#: The pools captured in this recording: only their tasks are wrapped.
_captured: weakref.WeakSet[Any] = weakref.WeakSet()
#: joblib's initargs, kept for the recording: (then, args, initargs).
_kept: list[tuple[Any, Any, tuple[Any, ...]]] = []
#: While joblib dispatches a batch: ``(action id, cell)`` of its ``Parallel`` call.
_dispatching: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "taskscope_joblib_call", default=None)
#: The attribute of a ``Parallel`` that holds it.
_CALLED_IN = "_taskscope_called_in"


def on_start() -> None:
    """Recording started: capture the pools made from now on (unless ``pools=False``).

    If this fails, the session's port says so in a SYSTEM row and pools work as without
    taskscope (what was patched stays inert until stop puts it back)."""
    global _on
    session = sessions.current()
    if session is None or not session.options.get(OPTION, True):
        return
    with _lock:
        _forget()
        _patch_stdlib()
        if "joblib.executor" in sys.modules:
            _patch_joblib(sys.modules["joblib.executor"])
        if "joblib.parallel" in sys.modules:
            _patch_parallel(sys.modules["joblib.parallel"])
        _watch.install()
        _on = True


def on_stop() -> None:
    """Recording is about to stop: pools made from now on are left alone."""
    global _on
    with _lock:
        _on = False
        _watch.uninstall()
        _patches.undo()
        _forget()


def _forget() -> None:
    _captured.clear()
    _kept.clear()


def _recording() -> bool:
    return _on and sessions.current() is not None


# --- what is patched ----------------------------------------------------------------------

_POOL_METHODS = ("apply", "apply_async", "map", "map_async", "imap", "imap_unordered", "starmap",
                 "starmap_async")


def _patch_stdlib() -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.pool import Pool, ThreadPool

    _patches.replace(ProcessPoolExecutor, "__init__", _capturing_init)
    for name, argument in (("submit", "fn"), ("map", "fn")):
        _patches.replace(ProcessPoolExecutor, name, functools.partial(_tasking, argument=argument))
    _patches.replace(Pool, "__init__", functools.partial(_capturing_init, skip=ThreadPool))
    for name in _POOL_METHODS:
        _patches.replace(Pool, name, functools.partial(_tasking, argument="func"))


def _patch_joblib(executor_module: Any) -> None:
    """joblib's reusable loky executor (see the module's docstring)."""
    executor = getattr(executor_module, "MemmappingExecutor", None)
    made = None if executor is None else executor.__dict__.get("get_memmapping_executor")
    if not isinstance(made, classmethod):
        return  # another joblib: its loky pools are not captured automatically
    _patches.replace(executor, "get_memmapping_executor", lambda _: classmethod(_capturing_factory(made.__func__)))
    _patches.replace(executor, "submit", _batch_tasking)


def _patch_parallel(parallel_module: Any) -> None:
    """joblib's ``Parallel``: each batch submitted inside the action open at the call."""
    parallel = getattr(parallel_module, "Parallel", None)
    if not isinstance(parallel, type) or not callable(parallel.__dict__.get("_dispatch")):
        return  # another joblib: its later batches are submitted where its threads are
    _patches.replace(parallel, "__call__", _noting_call)
    _patches.replace(parallel, "_dispatch", _dispatching_in_call)


def _as_imported(patch: Callable[[Any], None]) -> Callable[[Callable[[Any], None], Any], None]:
    """Run ``patch(module)`` once the module is imported, while recording."""

    def around(exec_module: Callable[[Any], None], module: Any) -> None:
        exec_module(module)
        try:
            with _lock:
                if _on:
                    patch(module)
        except Exception:  # noqa: BLE001 - never fail the user's import
            pass

    return around


_watch = ImportWatch({"joblib.executor": _as_imported(_patch_joblib),
                      "joblib.parallel": _as_imported(_patch_parallel)})


# --- the wrappers -------------------------------------------------------------------------


def _capturing_init(original: Callable[..., None], skip: type | None = None) -> Callable[..., None]:
    """A pool constructor that adds taskscope's initializer while recording."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        captured = False
        if _recording() and not (skip is not None and isinstance(self, skip)):
            args, kwargs, captured = _with_initializer(signature, self, args, kwargs, pool.initargs)
        original(self, *args, **kwargs)
        if captured:
            _mark(self)

    return __init__


def _capturing_factory(original: Callable[..., Any]) -> Callable[..., Any]:
    """joblib's executor factory with taskscope's initializer (initargs kept per recording)."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def get_memmapping_executor(cls: Any, *args: Any, **kwargs: Any) -> Any:
        captured = False
        if _recording():
            args, kwargs, captured = _with_initializer(signature, cls, args, kwargs, _kept_initargs)
        executor = original(cls, *args, **kwargs)
        if captured:
            _mark(executor)
        return executor

    return get_memmapping_executor


def _with_initializer(signature: inspect.Signature, first: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                      make_initargs: Callable[..., tuple[Any, ...]]) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
    """The call's arguments with ``initializer=pool.initializer`` and its initargs (the
    caller's initializer run after ours), and whether the pool captures. The arguments
    as given, and False, when they do not bind, the initializer is not callable (the
    pool says so itself) or anything of ours fails."""
    try:
        bound = signature.bind(first, *args, **kwargs)
        given = bound.arguments.get("initializer")
        given_args = bound.arguments.get("initargs", ())
        if given is pool.initializer:  # set up by hand: not installed twice
            return args, kwargs, bool(next(iter(given_args), None))
        if given is not None and not callable(given):
            return args, kwargs, False
        initargs = make_initargs(then=given, args=tuple(given_args))
        bound.arguments["initializer"] = pool.initializer
        bound.arguments["initargs"] = initargs
        return bound.args[1:], bound.kwargs, bool(initargs[0])
    except Exception:  # noqa: BLE001 - the pool is made as without taskscope
        return args, kwargs, False


def _kept_initargs(then: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``pool.initargs(then=then, args=args)``, the same value for the whole recording: joblib
    reuses its executor only while the arguments it is asked for compare equal."""
    for kept_then, kept_args, initargs in _kept:
        if kept_then is then and kept_args == args:
            return initargs
    initargs = pool.initargs(then=then, args=args)
    if initargs[0]:
        _kept[:] = [(then, args, initargs)]
    return initargs


def _tasking(original: Callable[..., Any], argument: str) -> Callable[..., Any]:
    """A pool method whose callable (first argument, or ``argument=``) becomes a task,
    submitted inside the action open here."""

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _on and _is_captured(self):
            if args:
                args = (_as_task(args[0], _submitter()), *args[1:])
            elif argument in kwargs:
                kwargs[argument] = _as_task(kwargs[argument], _submitter())
        return original(self, *args, **kwargs)

    return method


def _submitter() -> tuple[str, str]:
    """``(action id, cell)`` a task submitted now runs under: the ``Parallel`` call's
    while joblib dispatches its batch, else the action open here. Never raises."""
    try:
        called_in = _dispatching.get()
        return pool_actions.submitting() if called_in is None else called_in
    except Exception:  # noqa: BLE001
        return ("", "")


def _noting_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Parallel.__call__`` that notes the action open at the call (for its batches)."""

    @functools.wraps(original)
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _on:
            try:
                self.__dict__[_CALLED_IN] = _submitter()
            except Exception:  # noqa: BLE001 - its tasks are submitted where joblib's threads are
                pass
        return original(self, *args, **kwargs)

    return __call__


def _dispatching_in_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Parallel._dispatch`` (also run on joblib's callback threads) inside the call's action."""

    @functools.wraps(original)
    def _dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
        called_in = getattr(self, "__dict__", {}).get(_CALLED_IN) if _on else None
        if called_in is None:
            return original(self, *args, **kwargs)
        token = _dispatching.set(called_in)
        try:
            return original(self, *args, **kwargs)
        finally:
            _dispatching.reset(token)

    return _dispatch


def _batch_tasking(original: Callable[..., Any]) -> Callable[..., Any]:
    """joblib's executor ``submit``: each call in the batch a task."""

    @functools.wraps(original)
    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if _on and _is_captured(self):
            fn = _batch_as_tasks(fn, _submitter())
        return original(self, fn, *args, **kwargs)

    return submit


def _batch_as_tasks(batch: Any, where: tuple[str, str]) -> Any:
    try:
        items = getattr(batch, "items", None)
        if isinstance(items, list) and all(isinstance(item, tuple) and len(item) == 3 for item in items):
            batch.items = [(_as_task(fn, where), args, kwargs) for fn, args, kwargs in items]
            return batch
    except Exception:  # noqa: BLE001
        return batch
    return _as_task(batch, where)


def _as_task(fn: Any, where: tuple[str, str]) -> Any:
    """``ts.pool.task(fn)`` submitted at ``where``, unless ``fn`` is a task submitted
    already (or a partial of one: ``ProcessPoolExecutor.map``'s chunks) or not callable.
    A task of the user's is given ``where`` in a copy."""
    try:
        if not callable(fn):
            return fn
        if isinstance(fn, pool.task):
            return fn.at(where) if fn.where is None else fn
        if _is_task(fn):
            return fn
        made = pool.task(fn, name=_name(fn))
        made.where = where
        return made
    except Exception:  # noqa: BLE001
        return fn


def _is_task(fn: Any) -> bool:
    if isinstance(fn, pool.task):
        return True
    # ProcessPoolExecutor.map submits partial(_process_chunk, <our task>): one task per call,
    # not one more per chunk
    return isinstance(fn, functools.partial) and any(isinstance(a, pool.task) for a in (fn.func, *fn.args))


def _name(fn: Any) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


def _mark(executor: Any) -> None:
    try:
        _captured.add(executor)
    except Exception:  # noqa: BLE001 - not weak-referenceable or not hashable: its tasks get no ids
        pass


def _is_captured(executor: Any) -> bool:
    try:
        return executor in _captured
    except Exception:  # noqa: BLE001
        return False


def _after_fork_in_child() -> None:
    """A forked child records nothing of its own: the patches stay, as no-ops."""
    global _on, _lock
    _on = False
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
