"""carescore: YAML metric definitions compiled to DuckDB SQL, published as immutable run bundles."""

__version__ = "0.1.0"
