"""taskscope: every log line of a computation, from the kernel and its remote tasks, as one table.

    import taskscope as ts
    ts.start()
    log = ts.logger.getLogger("mylogger")
    log.info("some message")
    ts.logger.dataset.get(level="WARNING")

    @ts.log_call                      # each call an action: inputs, result, duration
    def multiply(a, b): ...
    with ts.action("load", path=p):   # an action of your own
        ...
    ts.logger.dataset.tree()          # what the computation did, cell by cell
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from . import logger, pool, runtime
from .capture.actions import action, log_call
from .record.context import preserve_context
from .runtime import start, status, stop
from .views.dataset import sessions

__all__ = [
    "__version__", "action", "attach", "detach", "log_call", "logger", "pool", "preserve_context", "runtime",
    "sessions", "start", "status", "stop",
]


def attach(client: Any = None, **options: Any) -> Any:
    """Capture the logs, prints and warnings of a Dask client's workers (see taskscope.dask).

    Automatic for the default client at ``start()`` and for clients made while recording.
    """
    from .dask import attach as attach_client

    return attach_client(client, **options)


def detach(client: Any = None) -> Any:
    """Stop capturing a Dask client's workers (their streams and handlers put back)."""
    from .dask import detach as detach_client

    return detach_client(client)


def __getattr__(name: str) -> Any:
    """``ts.dask`` on first use: importing it with taskscope would load distributed."""
    if name == "dask":
        import importlib

        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext taskscope``: register the ``%taskscope`` magics."""
    from .frontend.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where Jupyter finds the prebuilt labextension in a development install."""
    return [{"src": "labextension", "dest": "jupyterlab-taskscope"}]
