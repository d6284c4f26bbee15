"""``taskscope.query``: the one place filters become SQL, for tools (docs/dataset.md).

It lives in :mod:`taskscope.store.query`; this name stays for the tools that use it.
"""

from .store.query import *  # noqa: F401,F403 - the documented name of the same module
from .store.query import __all__  # noqa: F401
