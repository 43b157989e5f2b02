"""Data quality: contracts checked with Great Expectations on DuckDB; failures become holds."""
