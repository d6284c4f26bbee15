"""Where rows are kept: one SQLite file per session (:mod:`.sqlite`, the writer's end)
and the queries that read it (:mod:`.query`).

    import taskscope.store; taskscope.store.home()   # the folder of every session file
"""

from .sqlite import home

__all__ = ["home"]
