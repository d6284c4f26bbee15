"""The omega-ml ``om.logger``-style entry point: ``getLogger`` and ``dataset``.

    log = taskscope.logger.getLogger("mylogger")
    log.info("some message")
    taskscope.logger.dataset.get(logger="mylogger")
"""

from __future__ import annotations

import logging

from .record.sources import mark_user_logger
from .views.dataset import Dataset

__all__ = ["Dataset", "dataset", "getLogger"]

#: The current session's rows, looked up at each call (see :class:`Dataset`).
dataset = Dataset()


def getLogger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, registered as a ``user`` logger so taskscope records it."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name or name == "root":
        raise ValueError("name: give your logger a name; the root logger is not a user logger")
    mark_user_logger(name)
    return logging.getLogger(name)
