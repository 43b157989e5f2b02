"""Define: what a measure means. The typed specs, the one reader of metric and fact YAML, table contracts."""
