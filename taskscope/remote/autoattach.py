"""Dask clients attached without being asked: while recording, every client there is
and every client made.

Registered as start/stop hooks on the session's port by ``taskscope.runtime``. At start:
the default client is attached, and this package's Dask module is added to Dask's
``distributed.client.preload`` config, so each client made while recording attaches as
it starts (if dask is not imported yet, as soon as its config is). At stop: every client
is detached and the preload removed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

from ..session import session as sessions

#: The client preload (a public Dask hook) that attaches every Client made while recording.
PRELOAD = "taskscope.dask"


def on_start() -> None:
    """Recording started: attach Dask clients (now and when made); never raises."""
    try:
        _watch_imports()
        _add_preload()
        if "distributed" in sys.modules:
            from . import dask as ts_dask

            ts_dask.attach_default()
    except Exception as exc:  # noqa: BLE001 - recording goes on without Dask
        _report(f"taskscope could not set up Dask capture: {type(exc).__name__}: {exc}")


def on_stop() -> None:
    """Recording is about to stop: detach every Dask client (their last rows are stored)."""
    try:
        ts_dask = sys.modules.get(f"{__package__}.dask")
        if ts_dask is not None:
            ts_dask.detach_all()
    except Exception as exc:  # noqa: BLE001
        _report(f"taskscope could not detach from Dask: {type(exc).__name__}: {exc}")
    finally:
        _unwatch_imports()
        _remove_preload()


def _add_preload() -> None:
    """Make every Dask Client created from now on run :mod:`taskscope.dask`'s ``dask_setup``
    (if dask's config is not imported yet, :class:`_ImportWatch` does it when it is)."""
    config = sys.modules.get("dask.config")
    if config is None:
        return
    current = _as_list(config.get("distributed.client.preload", default=[]))
    if PRELOAD not in current:
        config.set({"distributed.client.preload": [*current, PRELOAD]})


def _remove_preload() -> None:
    """Undo :func:`_add_preload` (other preloads stay)."""
    config = sys.modules.get("dask.config")
    if config is None:
        return
    try:
        current = _as_list(config.get("distributed.client.preload", default=[]))
    except Exception:  # noqa: BLE001
        return
    if PRELOAD in current:
        config.set({"distributed.client.preload": [n for n in current if n != PRELOAD]})


class _WrappedLoader(importlib.abc.Loader):
    """Runs a module through ``around(exec_module, module)`` (see :class:`_ImportWatch`)."""

    def __init__(self, loader: Any, around: Any) -> None:
        self.loader = loader
        self.around = around

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.around(self.loader.exec_module, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


def _run_stepped_aside(exec_module: Any, module: Any) -> None:
    """distributed.config adds its stderr handler (and ``propagate = False``) to the
    ``distributed`` logger only if the root logger has no handler, and ours is there:
    distributed's messages would vanish from the notebook. It runs with ours stepped
    aside. (Its records are captured all the same: ``Capture._handle_nonpropagating``.)"""
    session = sessions.current()
    if session is None:
        exec_module(module)
        return
    with session.logging_stepped_aside():
        exec_module(module)


def _run_then_add_preload(exec_module: Any, module: Any) -> None:
    """dask's config, once it exists, gets our client preload."""
    exec_module(module)
    try:
        _add_preload()
    except Exception:  # noqa: BLE001 - never fail the user's import
        pass


class _ImportWatch(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` while recording (until both are imported): runs
    ``dask.config`` and ``distributed.config`` with the wrappers above, so that importing
    dask after ``start()`` behaves as if it came before, and distributed's console
    logging is what it would be without taskscope. Nothing leaves this process (an
    environment variable would reach every subprocess)."""

    AROUND = {"dask.config": _run_then_add_preload, "distributed.config": _run_stepped_aside}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        around = self.AROUND.get(fullname)
        if around is None:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        except Exception:  # noqa: BLE001
            return None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _WrappedLoader(spec.loader, around)
        return spec


_watch = _ImportWatch()


def _watch_imports() -> None:
    if not all(name in sys.modules for name in _ImportWatch.AROUND) and _watch not in sys.meta_path:
        sys.meta_path.insert(0, _watch)


def _unwatch_imports() -> None:
    while _watch in sys.meta_path:
        sys.meta_path.remove(_watch)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _report(msg: str) -> None:
    """A SYSTEM row from here (never raises)."""
    try:
        session = sessions.current()
        if session is not None:
            session.system(msg)
    except Exception:  # noqa: BLE001
        pass
