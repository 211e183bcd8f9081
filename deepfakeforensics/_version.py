"""The toolkit's version (its own module, so that modules the package ``__init__`` imports can read it)."""

__version__ = "0.1.0"
