"""Where rows come from in any process: logging, stdout/stderr, warnings and uncaught
exceptions (:mod:`.hooks`), each only enqueuing an item for the writer."""
