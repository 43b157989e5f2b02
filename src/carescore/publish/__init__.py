"""Publish: the immutable run bundle, and what is read from it (explain, diff, safe exports)."""
