"""Jupyter Server configuration for the log panel benchmarks: the UI tests' (see
ui-tests/jupyter_server_test_config.py), and with BENCH_NODELAY=1 TCP_NODELAY on kernel
websockets.

jupyter_server leaves Nagle's algorithm on for the kernel websocket: a reply written right
after another small message waits for the browser's delayed ACK (~40 ms on Linux). The
option shows what the panel's round trips cost without that wait.
"""

import os
from pathlib import Path

_here = Path(__file__).resolve().parent
_ui = _here.parent / "ui-tests" / "jupyter_server_test_config.py"
__file__ = str(_ui)  # the UI tests' config finds its kernels folder next to itself
exec(compile(_ui.read_text(), str(_ui), "exec"))

if os.environ.get("BENCH_NODELAY"):
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    _open = KernelWebsocketHandler.open

    async def _open_nodelay(self, *args, **kwargs):
        self.set_nodelay(True)
        return await _open(self, *args, **kwargs)

    KernelWebsocketHandler.open = _open_nodelay
