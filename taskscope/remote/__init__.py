"""How rows travel from remote processes (Dask workers, pool children) to the kernel.

Remote side: :mod:`.emitter` (capture, column pipeline, batch sink). The wire:
:mod:`.wire`. Kernel side: :mod:`.inbox` (messages into rows), :mod:`.receiver`
(ZeroMQ), :mod:`.console` (one row per printed line), :mod:`.options`, and the
transports :mod:`.dask` and :mod:`.pool`, with :mod:`.autoattach` for Dask clients,
:mod:`.autopool` for pools made while recording, and :mod:`.imports` (set-up at import).
"""
