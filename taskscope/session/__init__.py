"""The recording session: this process's store file, writer and capture, and the port
(:mod:`taskscope.session.session`) through which transports and views reach it."""
