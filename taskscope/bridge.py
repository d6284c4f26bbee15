"""``taskscope.bridge``: the comm target the front end registers with
``import taskscope.bridge; taskscope.bridge.register()`` (docs/protocol.md).

It lives in :mod:`taskscope.frontend.bridge`.
"""

from .frontend.bridge import PROTOCOL_VERSION, TARGET, handle, register

__all__ = ["PROTOCOL_VERSION", "TARGET", "handle", "register"]
