"""Jupyter Server configuration for the Galata UI tests.

Galata's usual test set-up (no token, no password, no XSRF check, the in-page test helpers),
listening on 127.0.0.1 only, with everything the server or its kernels write kept in one
temporary folder that is removed when the server exits:

    <tmp>/root         the server's root_dir (notebooks the tests create)
    <tmp>/workspaces   JupyterLab workspaces
    <tmp>/taskscope    TASKSCOPE_HOME for every kernel started by this server
    <tmp>/jupyter      prepended to JUPYTER_PATH: holds the extra kernelspecs
                       ``taskscope-absent`` (see kernels/no_taskscope.py) and
                       ``not-python`` (a spec whose language is not Python)

Never use this configuration anywhere but a test machine: it turns off every protection.
"""

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import jupyterlab.galata

HERE = Path(__file__).resolve().parent
PORT = int(os.environ.get("TASKSCOPE_UI_PORT", "8989"))

# `c` is injected by the traitlets config loader.
c = get_config()  # type: ignore[name-defined]  # noqa: F821

_tmp = Path(tempfile.mkdtemp(prefix="taskscope-ui-"))
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
for sub in ("root", "workspaces", "taskscope", "jupyter/kernels/taskscope-absent",
            "jupyter/kernels/not-python"):
    (_tmp / sub).mkdir(parents=True)

# Kernels inherit the server's environment.
os.environ["TASKSCOPE_HOME"] = str(_tmp / "taskscope")

# A Python kernel that cannot import taskscope: the venv's own interpreter and ipykernel,
# with an import hook that hides the package (it is installed editable in the venv, so no
# other interpreter here has both ipykernel and no taskscope).
(_tmp / "jupyter/kernels/taskscope-absent/kernel.json").write_text(
    json.dumps(
        {
            "argv": [
                sys.executable,
                str(HERE / "kernels" / "no_taskscope.py"),
                "-f",
                "{connection_file}",
            ],
            "display_name": "Python 3 (no taskscope)",
            "language": "python",
        }
    )
)
# A kernel whose spec says it is not Python (it runs ipykernel underneath: no other
# language's kernel is installed here); the front end decides from the spec's language.
(_tmp / "jupyter/kernels/not-python/kernel.json").write_text(
    json.dumps(
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Not Python",
            "language": "julia",
        }
    )
)
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (str(_tmp / "jupyter"), os.environ.get("JUPYTER_PATH", "")) if p
)

# What jupyterlab.galata.configure_jupyter_server does, minus its stray temporary files.
c.LabServerApp.extra_labextensions_path = str(Path(jupyterlab.galata.__file__).parent)
c.LabApp.expose_app_in_browser = True
c.IdentityProvider.token = ""
c.ServerApp.password = ""
c.ServerApp.disable_check_xsrf = True
(_tmp / "bashrc").write_text('PS1="$ "\n')
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "--rcfile", str(_tmp / "bashrc")]}

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = PORT
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = str(_tmp / "root")
c.LabApp.workspaces_dir = str(_tmp / "workspaces")
# No update checks or news from the outside world.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
# Test machines and CI containers often run as root.
c.ServerApp.allow_root = True
# Quiet unless asked: galata's clean-up alone logs a dozen harmless 404s per test.
c.Application.log_level = os.environ.get("TASKSCOPE_UI_LOG_LEVEL", "ERROR")
