"""Where rows come from in any process: logging records (:mod:`.logs`), stdout/stderr and
fd output (:mod:`.streams`), warnings and uncaught exceptions; :mod:`.hooks` installs
them all and puts everything back. Each only enqueues an item for the writer."""
