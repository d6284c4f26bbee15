"""Code run around the import of named modules while recording, so that a library
imported after ``start()`` is set up as if it had been imported before (Dask's config by
``remote.autoattach``, joblib's executor by ``remote.autopool``, Eliot by :mod:`.eliot`).

An :class:`ImportWatch` sits first on ``sys.meta_path`` while installed and until every
module it watches is imported. Nothing leaves this process (an environment variable
would reach every subprocess).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Mapping
from typing import Any

#: ``around(exec_module, module)``: runs the module (by calling ``exec_module(module)``)
#: with whatever it needs before or after.
Around = Callable[[Callable[[Any], None], Any], None]


class WrappedLoader(importlib.abc.Loader):
    """Runs a module through ``around(exec_module, module)``."""

    def __init__(self, loader: Any, around: Around) -> None:
        self.loader = loader
        self.around = around

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.around(self.loader.exec_module, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class ImportWatch(importlib.abc.MetaPathFinder):
    """Finds the modules named in ``around`` (through the ordinary path finder) and runs
    each with its ``around``; every other import is left to the finders after it."""

    def __init__(self, around: Mapping[str, Around]) -> None:
        self.around = dict(around)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        around = self.around.get(fullname)
        if around is None:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        except Exception:  # noqa: BLE001
            return None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = WrappedLoader(spec.loader, around)
        return spec

    def install(self) -> None:
        """First on ``sys.meta_path``, unless every watched module is imported already."""
        if not all(name in sys.modules for name in self.around) and self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)
