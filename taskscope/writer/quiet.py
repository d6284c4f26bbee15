"""Threads running taskscope's own code: nothing they log or print is captured.

The writer thread is always among them; so is any thread inside :func:`quiet` (a
transport's receiver, our last-resort printing). A set of idents: one C-level lookup
on the hot path.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar
from collections.abc import Callable, Iterator
from contextlib import contextmanager

quiet_threads: set[int] = set()


@contextmanager
def quiet() -> Iterator[None]:
    """While inside, this thread's logging and output are not captured (no re-entry)."""
    ident = threading.get_ident()
    if ident in quiet_threads:
        yield
        return
    quiet_threads.add(ident)
    try:
        yield
    finally:
        quiet_threads.discard(ident)


T = TypeVar("T")


def quietly(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with this thread quiet: what a ``__repr__`` or ``__str__`` logs or
    prints meanwhile is not captured (no re-entry, no recursion through our handler)."""
    ident = threading.get_ident()
    if ident in quiet_threads:
        return fn(*args)
    quiet_threads.add(ident)
    try:
        return fn(*args)
    finally:
        quiet_threads.discard(ident)
