"""The one place where Great Expectations 1.x meets DuckDB through SQLAlchemy and duckdb-engine.

Unpatched, GX 1.x on duckdb-engine gives wrong answers, not errors, so this layer exists and is tested
(tests/dq/test_gx_compat.py fails the day upstream no longer needs it):

1. Results read after the connection closed. GX runs `with engine.connect() as c: r = c.execute(q)` and
   calls `r.fetchall()` after the block; closing a SQLAlchemy connection rolls back, which discards
   DuckDB's pending result, so every metric comes back empty ("list index out of range"). Our DB-API
   cursor reads each (small, aggregated) result in full before returning.
2. One database, no copies. duckdb-engine opens its own connection with its own configuration, so it
   cannot see tables registered on ours, and DuckDB refuses a second connection to a named database
   with a different configuration. We hand SQLAlchemy our own connection (a StaticPool over a creator),
   so GX queries the Polars frames registered on it in place: no pandas copy, no DuckDB table copy.
3. No regex. GX picks a regex operator from `execution_engine.dialect_module`, which is None for
   dialects it does not know. duckdb-engine's dialect derives from PostgreSQL, so we point
   dialect_module at it and GX emits `col ~ 'pattern'`, which DuckDB reads as PostgreSQL does (a
   search, like pandas' str.contains on the GX pandas route); contract patterns are anchored anyway.

GX must never reach the network: analytics are switched off before it is imported and the context is
ephemeral (nothing is written to disk).
"""

from __future__ import annotations

import os
import types

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import duckdb
import duckdb_engine
import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig
from sqlalchemy.pool import StaticPool


class BufferedCursor:
    """DB-API cursor over a shared DuckDB connection that reads each result in full at execute()."""

    arraysize = 1000

    def __init__(self, con: duckdb.DuckDBPyConnection, connection: SharedConnection):
        self._con = con
        self.connection = connection
        self.description = None
        self.rowcount = -1
        self._rows: list[tuple] = []
        self._pos = 0

    def execute(self, statement, parameters=None, context=None):
        cur = self._con.execute(statement, parameters) if parameters else self._con.execute(statement)
        self.description = cur.description
        self._rows = cur.fetchall() if cur.description else []
        self._pos = 0
        self.rowcount = len(self._rows)
        return self

    def executemany(self, statement, parameters=None, context=None):
        self._con.executemany(statement, list(parameters or []))

    def fetchone(self):
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size=None):
        size = size or self.arraysize
        out = self._rows[self._pos:self._pos + size]
        self._pos += len(out)
        return out

    def fetchall(self):
        out = self._rows[self._pos:]
        self._pos = len(self._rows)
        return out

    def close(self):
        pass


class SharedConnection:
    """DB-API connection that SQLAlchemy may 'close' and 'roll back' without touching our DuckDB session."""

    closed = False
    autocommit = None

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self.notices: list[str] = []

    def cursor(self) -> BufferedCursor:
        return BufferedCursor(self._con, self)

    # Validation only reads, so DuckDB runs every statement in its own auto-committed transaction; an
    # explicit rollback would only discard the pending result (see 1.) or leave an aborted transaction.
    def begin(self):
        pass

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        pass  # the caller owns the DuckDB connection

    def __getattr__(self, name):
        return getattr(self._con, name)


def context():
    """An ephemeral GX context: no project folder, no analytics, no progress bars."""
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.config.analytics_enabled = False
    return ctx


def duckdb_datasource(ctx, con: duckdb.DuckDBPyConnection, name: str = "carescore"):
    """A GX SQL datasource whose every query runs on `con` (pushed down, in place)."""
    source = ctx.data_sources.add_sql(
        name, connection_string="duckdb:///:memory:",
        kwargs={"creator": lambda: SharedConnection(con), "poolclass": StaticPool})
    engine = source.get_execution_engine()
    engine.dialect_module = types.SimpleNamespace(dialect=duckdb_engine.Dialect)
    return source
