"""``taskscope.server``: the Jupyter Server extension's name, as its config enables it
(``jupyter server extension disable taskscope.server`` turns it off).

It lives in :mod:`taskscope.frontend.server`.
"""

from .frontend.server import (
    NoDelayConnection,
    _jupyter_server_extension_points,
    _load_jupyter_server_extension,
    connection_class_for,
)

__all__ = [
    "NoDelayConnection", "_jupyter_server_extension_points", "_load_jupyter_server_extension", "connection_class_for",
]
