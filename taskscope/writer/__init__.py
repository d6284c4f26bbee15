"""The bounded queue and the one thread that empties it (:mod:`.core`), with the
kernel's pipeline into the store (:mod:`.rows`); remote processes use
:class:`taskscope.remote.emitter.ColumnPipeline` instead."""
