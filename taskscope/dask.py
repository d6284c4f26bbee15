"""``taskscope.dask``: Dask distributed clients attached to the recording session.

    ts.attach(client); ts.detach(client); ts.dask.attached()

The machinery lives in :mod:`taskscope.remote.dask`. This name is also Dask's client
preload (``distributed.client.preload``), which calls :func:`dask_setup` and
:func:`dask_teardown` as each client starts and closes. Importing it loads distributed.
"""

from .remote.dask import WorkerCapture, attach, attached, dask_setup, dask_teardown, detach

__all__ = ["WorkerCapture", "attach", "attached", "dask_setup", "dask_teardown", "detach"]
