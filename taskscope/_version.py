"""The one place the Python package's version is written (package.json must agree)."""

__version__ = "0.1.0"
