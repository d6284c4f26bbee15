"""Jupyter Server configuration for the log panel benchmarks: the UI tests' (see
ui-tests/jupyter_server_test_config.py), and with BENCH_NAGLE=1 without taskscope.server
(Nagle's algorithm left on for kernel websockets, jupyter_server's default).
"""

import os
from pathlib import Path

_here = Path(__file__).resolve().parent
_ui = _here.parent / "ui-tests" / "jupyter_server_test_config.py"
__file__ = str(_ui)  # the UI tests' config finds its kernels folder next to itself
exec(compile(_ui.read_text(), str(_ui), "exec"))

if os.environ.get("BENCH_NAGLE"):
    # taskscope.server turns Nagle off on kernel websockets; this shows the figures without.
    c.ServerApp.jpserver_extensions.update({"taskscope.server": False})  # noqa: F821
