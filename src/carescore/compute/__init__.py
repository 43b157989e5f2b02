"""Compute: definitions compiled to SQL, run on DuckDB, given statistics and protected against small numbers."""
