"""`pip install` of the distribution builds the TypeScript through the build hook and ships
the prebuilt labextension, so JupyterLab lists it enabled with no `jupyter lab build`.

This builds a wheel from a copy of the tracked files (so the working tree's own build output
is not reused), installs it into a fresh prefix and asks JupyterLab about it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXT = "share/jupyter/labextensions/jupyterlab-taskscope"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/taskscope.json"


def tracked_copy(dest: Path) -> Path:
    """Copy the files git tracks (and untracked, not ignored ones) into dest."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tracked_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "HATCH_JUPYTER_BUILDER_SKIP_NPM"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True, env=env, timeout=900,
    )
    (built,) = out.glob("taskscope-*.whl")
    return built


@pytest.mark.timeout(900)
def test_wheel_holds_library_and_prebuilt_labextension(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"taskscope-{wheel.name.split('-')[1]}.data/data/{LABEXT}"
    assert "taskscope/__init__.py" in names
    assert f"{data}/package.json" in names
    assert f"{data}/install.json" in names
    assert any(n.startswith(f"{data}/static/remoteEntry.") for n in names)
    assert f"{data}/schemas/jupyterlab-taskscope/plugin.json" in names
    assert not any(n.startswith("taskscope/tests/") for n in names)
    meta = json.loads(zipfile.ZipFile(wheel).read(f"{data}/package.json"))
    assert meta["name"] == "jupyterlab-taskscope"
    server = f"taskscope-{wheel.name.split('-')[1]}.data/data/{SERVER_CONFIG}"
    config = json.loads(zipfile.ZipFile(wheel).read(server))
    assert config["ServerApp"]["jpserver_extensions"] == {"taskscope.server": True}


@pytest.mark.timeout(900)
def test_installed_labextension_is_enabled_and_ok(wheel: Path, tmp_path: Path) -> None:
    # A fresh venv of its own: installing into a --prefix would make pip uninstall the
    # development install from the venv running this test.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True, timeout=300,
    )
    data_dir = venv / "share" / "jupyter"
    assert (data_dir / "labextensions" / "jupyterlab-taskscope" / "package.json").is_file()
    assert (venv / SERVER_CONFIG).is_file()
    # Ask JupyterLab (from the development venv) about the fresh venv's data dir.
    env = dict(os.environ, JUPYTER_PATH=str(data_dir))
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "labextension", "list"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    text = listing.stdout + listing.stderr
    section = text.split(str(data_dir / "labextensions"), 1)
    assert len(section) == 2, text
    line = next(l for l in section[1].splitlines() if "jupyterlab-taskscope" in l)
    assert "enabled" in line and "OK" in line, line


def test_versions_agree() -> None:
    from taskscope._version import __version__

    package = json.loads((ROOT / "package.json").read_text())
    assert package["version"] == __version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject
