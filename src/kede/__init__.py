"""Kede (可得): resource sharing for a library consortium."""

__version__ = "0.1.0"
