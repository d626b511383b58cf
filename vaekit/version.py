"""vaekit's version, in a module of its own so that any layer can read it (run files and reports
record it) without importing the top package, which imports every layer."""

__version__ = "0.1.0"
