"""``taskscope.pool``: process pools whose children's logs, prints and warnings are rows.

    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(initializer=ts.pool.initializer, initargs=ts.pool.initargs())
    pool.submit(ts.pool.task(work), 1)

While recording, pools made in the kernel need none of this: they are set up as they are
made (:mod:`taskscope.remote.autopool`; off with ``start(pools=False)``). The machinery
lives in :mod:`taskscope.remote.pool` (the children's side) and
:mod:`taskscope.remote.receiver` (the kernel's ZeroMQ socket).
"""

from .remote.pool import initargs, initializer, installed, task

__all__ = ["initargs", "initializer", "installed", "task"]
