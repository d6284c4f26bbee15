"""taskscope: every log line of a computation, from the kernel and its remote tasks, as one table."""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where Jupyter finds the prebuilt labextension in a development install."""
    return [{"src": "labextension", "dest": "jupyterlab-taskscope"}]
