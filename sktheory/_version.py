"""The package version, read by the build backend without importing torch."""

__version__ = "0.1.0.dev0"
