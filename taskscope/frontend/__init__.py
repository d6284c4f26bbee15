"""How the front end is served: the comm :mod:`.bridge`, the ``%taskscope`` :mod:`.magics`
and the Jupyter Server extension in :mod:`.server`."""
