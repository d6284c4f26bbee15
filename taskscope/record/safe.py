"""Make any value safe to store: text that SQLite and JSON take, never an exception.

Every function here runs on the flusher thread (or in a remote process before sending),
never in the user's call. Each one answers with a visible, marked placeholder where the
value cannot be shown as it is, so a bad value costs its own field and nothing else.

NumPy is handled without importing it: a NumPy value can only exist if the user's code
imported NumPy already, so we recognise it by its type's module.
"""

from __future__ import annotations

import codecs
import json
import math
import sys
from typing import Any

#: Where a value was cut or replaced, the text says so between these brackets.
MARK = "taskscope"

#: Arrays above this many elements are summarised (shape, dtype) rather than listed.
ARRAY_LIMIT = 10_000

#: How deep nested containers in ``extra`` are followed before a placeholder.
MAX_DEPTH = 20


def placeholder(what: str, exc: BaseException | None = None) -> str:
    """A marked stand-in for a value that could not be shown."""
    if exc is None:
        return f"<{MARK}: {what}>"
    return f"<{MARK}: {what}: {type(exc).__name__}>"


def cut(text: str, cap: int, dropped: int = 0) -> str:
    """``text`` of at most ``cap`` characters, with a marker saying how much was cut.

    ``dropped``: characters already taken off the end of ``text`` before it got here
    (a long output line is not kept whole while it waits for its line end).
    """
    if len(text) <= cap and not dropped:
        return text
    total = len(text) + dropped
    return f"{text[:cap]}…[{MARK}: cut {total - min(len(text), cap)} of {total} characters]"


def clean(text: str) -> str:
    """``text`` without lone surrogates, which UTF-8 (so SQLite and JSON) cannot hold.

    They are written as visible ``\\udcxx`` escapes rather than dropped or replaced by
    U+FFFD, so the row still tells what was there.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_str(obj: object) -> str:
    """``str(obj)``, or a marked placeholder when ``__str__`` raises or recurses."""
    return obj if type(obj) is str else _text_of(str, obj)  # type: ignore[return-value]


def safe_repr(obj: object) -> str:
    """``repr(obj)``, or a marked placeholder when ``__repr__`` raises or recurses."""
    return _text_of(repr, obj)


def _text_of(show: Any, obj: object) -> str:
    """``show(obj)`` (``str`` or ``repr``) that never raises and is always a ``str``."""
    try:
        text = show(obj)
    except BaseException as exc:  # noqa: BLE001 - a user's __str__/__repr__ may raise anything
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return placeholder(f"{show.__name__}() of {_type_name(obj)} failed", exc)
    return text if type(text) is str else placeholder(f"{show.__name__}() of {_type_name(obj)} not a str")


def _type_name(obj: object) -> str:
    """The type's qualified name, which (unlike the value) is always printable."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def decoder() -> codecs.IncrementalDecoder:
    """An incremental UTF-8 decoder: a character split across two writes stays whole.

    Invalid bytes become visible ``\\xNN`` escapes, not U+FFFD, so the row shows them.
    """
    return codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")


def decode(data: bytes | bytearray | memoryview) -> str:
    """Bytes as text in one go, invalid UTF-8 shown as ``\\xNN`` escapes."""
    return bytes(data).decode("utf-8", "backslashreplace")


def format_message(msg: object, args: object) -> str:
    """What ``LogRecord.getMessage`` gives, but never raising.

    A ``%`` mismatch (or a raising ``__str__``) keeps the raw message and the arguments'
    reprs behind a marker instead of logging's ``--- Logging error ---`` noise.
    """
    text = safe_str(msg)
    if not args:
        return text
    try:
        return text % args
    except BaseException as exc:  # noqa: BLE001 - args come from user code
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        shown = safe_repr(args)
        return f"{text} <{MARK}: message not formatted: {type(exc).__name__}: {_exc_text(exc)}; args={shown}>"


def _exc_text(exc: BaseException) -> str:
    """The exception's message, safe even if its own ``__str__`` raises."""
    return safe_str(exc) if not isinstance(exc, RecursionError) else "maximum recursion depth exceeded"


# --- extra (structured fields) as JSON --------------------------------------------------


def to_json(value: object, cap: int) -> str | None:
    """``value`` as JSON text of at most ``cap`` characters (plus a marker), or None.

    The fast path is ``json.dumps`` with a ``default`` that knows NumPy; anything it cannot
    do (NaN, cycles, odd keys, raising reprs, huge text) goes through :func:`jsonable`,
    which always succeeds.
    """
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False, default=_default, ensure_ascii=False)
        text.encode("utf-8")
    except Exception:  # noqa: BLE001 - fall back to the slow, total path
        text = json.dumps(jsonable(value, cap), allow_nan=False, ensure_ascii=False)
    if len(text) > cap:
        text = json.dumps(jsonable(value, cap // 4), allow_nan=False, ensure_ascii=False)
        if len(text) > cap:
            text = json.dumps({MARK: cut(text, cap)}, ensure_ascii=False)
    return text


def _default(obj: object) -> Any:
    """``json.dumps``' hook for types it does not know: NumPy, bytes, sets."""
    numpy_value = _numpy_jsonable(obj)
    if numpy_value is not _NOT_NUMPY:
        return numpy_value
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return decode(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return safe_repr(obj)


_NOT_NUMPY = object()


def _numpy_jsonable(obj: object) -> Any:
    """A NumPy scalar or array as JSON data; ``_NOT_NUMPY`` for anything else.

    Never imports NumPy: if ``obj`` is a NumPy value, NumPy is already in sys.modules.
    """
    module = type(obj).__module__
    if module != "numpy" and not module.startswith("numpy."):
        return _NOT_NUMPY
    np = sys.modules.get("numpy")
    if np is None:
        return _NOT_NUMPY
    if isinstance(obj, np.ndarray):
        if obj.size > ARRAY_LIMIT:
            return {"ndarray": "summary", "shape": list(obj.shape), "dtype": str(obj.dtype), "size": int(obj.size)}
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return _NOT_NUMPY


def jsonable(value: object, cap: int, depth: int = 0, seen: frozenset[int] = frozenset()) -> Any:
    """``value`` as plain JSON data, whatever it is: the total (slower) path.

    Cycles, depth, NaN/inf, non-str keys, raising reprs and long strings each become a
    marked value instead of an error.
    """
    if value is None or isinstance(value, bool) or type(value) is int:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return cut(clean(value), cap)
    if depth >= MAX_DEPTH:
        return placeholder("nested too deep")
    numpy_value = _numpy_jsonable(value)
    if numpy_value is not _NOT_NUMPY:
        return jsonable(numpy_value, cap, depth + 1, seen)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if id(value) in seen:
            return placeholder("cycle")
        inner = seen | {id(value)}
        if isinstance(value, dict):
            return {_key(k): jsonable(v, cap, depth + 1, inner) for k, v in _items(value)}
        return [jsonable(v, cap, depth + 1, inner) for v in list(value)]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return cut(decode(value), cap)
    return cut(clean(safe_repr(value)), cap)


def _items(mapping: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """A snapshot of a dict's items (another thread may change it meanwhile)."""
    try:
        return list(mapping.copy().items())
    except Exception as exc:  # noqa: BLE001 - a dict subclass may do anything
        return [(MARK, placeholder("items() failed", exc))]


def _key(key: object) -> str:
    """A dict key as JSON allows it: a string."""
    return clean(key) if isinstance(key, str) else clean(safe_str(key))

