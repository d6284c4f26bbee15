"""The options a remote capture gets (plain data, sent to Dask workers and pool children).

Made in the kernel from the recording session's ``start()`` options, the user loggers
registered so far and the fds of the kernel's console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..capture.logs import parse_level
from ..record.sources import user_logger_names
from ..record.vocabulary import START_OPTIONS
from ..session import session as sessions
from ..writer.core import OVERFLOWS
from .console import kernel_console
from .wire import MAX_MESSAGE

#: Options of a remote capture, as the kernel sends them (all plain data); the defaults
#: are ``start()``'s (record/vocabulary.py).
DEFAULT_OPTIONS: dict[str, Any] = {
    "user_level": parse_level(START_OPTIONS["user_level"]),
    "library_level": parse_level(START_OPTIONS["library_level"]),
    "caps": [START_OPTIONS["msg_cap"], START_OPTIONS["text_cap"], START_OPTIONS["extra_cap"]],
    **{key: START_OPTIONS[key] for key in ("flush_interval", "batch_size", "queue_size", "overflow", "streams", "warnings")},
    "user_loggers": [],
    "lifecycle": True,
    "max_message": MAX_MESSAGE,
    "console": {},
}


def remote_options(options: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """The options a remote capture gets: the kernel session's, then ``overrides``.

    ``options`` are the kernel's ``start()`` options (levels as names or numbers).
    """
    merged = dict(DEFAULT_OPTIONS)
    if options:
        merged["user_level"] = parse_level(options.get("user_level", merged["user_level"]))
        merged["library_level"] = parse_level(options.get("library_level", merged["library_level"]))
        merged["caps"] = [options.get("msg_cap", merged["caps"][0]), options.get("text_cap", merged["caps"][1]),
                          options.get("extra_cap", merged["caps"][2])]
        for key in ("flush_interval", "queue_size", "overflow", "streams", "warnings"):
            if key in options:
                merged[key] = options[key]
        merged["batch_size"] = min(int(options.get("batch_size", 1000)), 1000)
    merged["user_loggers"] = sorted(user_logger_names())
    merged["console"] = kernel_console()
    unknown = set(overrides) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown remote option(s): {', '.join(sorted(unknown))}")
    merged.update(overrides)
    for key in ("user_level", "library_level"):
        merged[key] = parse_level(merged[key])
    for key in ("batch_size", "queue_size", "max_message"):
        if not isinstance(merged[key], int) or merged[key] < 1:
            raise ValueError(f"{key} must be a positive int, not {merged[key]!r}")
    if merged["overflow"] not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {', '.join(map(repr, OVERFLOWS))}, not {merged['overflow']!r}")
    return merged


def for_session(**overrides: Any) -> dict[str, Any]:
    """:func:`remote_options` from the recording session's options (defaults when none)."""
    session = sessions.current()
    return remote_options(session.options if session is not None else None, **overrides)
