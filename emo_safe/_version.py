"""The distribution's version, in a module of its own so that low modules can name it without
importing the package root (which would pull in the front doors)."""

__version__ = "0.2.0"
