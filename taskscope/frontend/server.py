"""Jupyter Server extension: kernel websockets without Nagle's delay.

jupyter_server leaves Nagle's algorithm on for kernel websockets. A kernel answers a
request with several small messages in a row (status busy, the reply, status idle); with
Nagle on, each one written while the previous is unacknowledged waits for the browser's
delayed ACK (~40 ms on Linux). Every round trip of the log panel (a page on a jump, the
tail) paid it. This extension turns Nagle off (``TCP_NODELAY``) on kernel websockets, the
way browsers already do on their side.

It replaces the server's kernel websocket connection class with a subclass only when that
class is jupyter_server's own default: a gateway's or a user's class is left alone.
Enabled by ``jupyter_server_config.d/taskscope.json``; disable with
``jupyter server extension disable taskscope.server``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

SETTING = "kernel_websocket_connection_class"


class NoDelayConnection(ZMQChannelsWebsocketConnection):
    """The default ZMQ channels connection, with Nagle off on its websocket."""

    def connect(self) -> Any:
        set_nodelay(self.websocket_handler)
        return super().connect()


def set_nodelay(handler: Any) -> None:
    """Turn Nagle off on a websocket handler's stream; a closed stream is left alone."""
    try:
        handler.set_nodelay(True)
    except Exception:  # noqa: BLE001 - a stream that closed meanwhile needs nothing
        return
    handler.log.debug("taskscope: TCP_NODELAY on kernel websocket %s", handler.kernel_id)


def connection_class_for(current: Any) -> type | None:
    """The class to use instead of ``current``, or None to leave the server's choice."""
    if current is ZMQChannelsWebsocketConnection:
        return NoDelayConnection
    return None


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "taskscope.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    settings = serverapp.web_app.settings
    replacement = connection_class_for(settings.get(SETTING))
    if replacement is None:
        serverapp.log.info(
            "taskscope: kernel websockets left as they are (%s is not the default)",
            settings.get(SETTING),
        )
        return
    settings[SETTING] = replacement
    serverapp.log.info("taskscope: kernel websockets without Nagle's delay (TCP_NODELAY)")
