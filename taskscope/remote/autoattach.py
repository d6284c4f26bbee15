"""Dask clients attached without being asked: while recording, every client there is
and every client made.

Registered as start/stop hooks on the session's port by ``taskscope.runtime``. At start:
the default client is attached, and this package's Dask module is added to Dask's
``distributed.client.preload`` config, so each client made while recording attaches as
it starts (if dask is not imported yet, as soon as its config is). At stop: every client
is detached and the preload removed.
"""

from __future__ import annotations

import sys
from typing import Any

from ..session import session as sessions
from ..capture.imports import ImportWatch

#: The client preload (a public Dask hook) that attaches every Client made while recording.
PRELOAD = "taskscope.dask"


def on_start() -> None:
    """Recording started: attach Dask clients (now and when made); never raises."""
    try:
        _watch.install()
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
        _watch.uninstall()
        _remove_preload()


def _add_preload() -> None:
    """Make every Dask Client created from now on run :mod:`taskscope.dask`'s ``dask_setup``
    (if dask's config is not imported yet, :data:`_watch` does it when it is)."""
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


#: Runs ``dask.config`` and ``distributed.config`` with the wrappers above while recording
#: (until both are imported), so that importing dask after ``start()`` behaves as if it
#: came before, and distributed's console logging is what it would be without taskscope.
_watch = ImportWatch({"dask.config": _run_then_add_preload, "distributed.config": _run_stepped_aside})


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
