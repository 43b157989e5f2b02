"""YAML → spec. Keeps file:line:col for every key so a user's mistake is reported where it is."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import sqlglot
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import LiteralScalarString
from sqlglot import exp

from ..issues import CarescoreError, Diagnostic, Loc, did_you_mean
from .contracts import load_contracts
from .spec import DIRECTIONS, DOMAINS, EXPOSURE_KINDS, KINDS, UNITS, Catalog, Expr, Fact, FactColumn, Metric, RiskAdjustment

# Expressions are fragments over one fact row: comparisons, arithmetic and a few pure functions.
# Anything else (subqueries, table functions such as read_csv, user functions) is refused.
ALLOWED_NODES = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not,
    exp.In, exp.Between, exp.Is, exp.Like, exp.ILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg,
    exp.Case, exp.If, exp.Coalesce, exp.Cast, exp.DataType, exp.Abs, exp.Least, exp.Greatest, exp.Round,
)
BOOLEAN_NODES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.In,
                 exp.Between, exp.Is, exp.Like, exp.ILike, exp.Boolean)
NUMBER_NODES = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Abs, exp.Round)
# Fact views and shared definitions may also aggregate, use windows and a few date and text functions. A name
# that is not here (read_text, glob, getenv, a user macro...) is refused: a metric catalog is untrusted input.
FACT_EXPRESSION_NODES = ALLOWED_NODES + (
    exp.Count, exp.Sum, exp.Max, exp.Min, exp.Avg, exp.LogicalOr, exp.LogicalAnd, exp.CountIf, exp.Stddev,
    exp.Variance, exp.Median, exp.Year, exp.Month, exp.Day, exp.Quarter, exp.TimestampTrunc, exp.DateTrunc,
    exp.DateFromParts, exp.Extract, exp.DateDiff, exp.DateAdd, exp.DateSub, exp.Interval, exp.Var,
    exp.Explode, exp.GenerateSeries, exp.RowNumber, exp.Rank, exp.DenseRank, exp.Lag, exp.Lead, exp.FirstValue,
    exp.LastValue, exp.Window, exp.WindowSpec, exp.Filter, exp.Distinct, exp.Order, exp.Ordered, exp.Nullif,
    exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Pow, exp.Sign, exp.Upper, exp.Lower, exp.Trim, exp.Substring,
    exp.Length, exp.Concat, exp.DPipe, exp.TryCast, exp.DataTypeParam,
)
FACT_CALLS = {"age", "date_part"}  # functions sqlglot leaves anonymous
# One SELECT (CTEs, joins, subqueries, set operations); a Table node is further checked against `requires`.
FACT_QUERY_NODES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.TableAlias, exp.From,
                    exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Limit, exp.Offset, exp.Subquery,
                    exp.Table, exp.Star, exp.Alias, exp.Exists, exp.Any, exp.All)
MAX_DEPTH = 100  # deeper trees are a hostile input, not a measure; sqlglot and DuckDB recurse per level
FACT_TYPES = {"varchar": "text", "integer": "number", "double": "number", "date": "date", "boolean": "boolean"}

METRIC_KEYS = {
    "id": True, "version": True, "title": True, "domain": True, "plain_language": True, "description": False,
    "direction": True, "unit": True, "kind": True, "from": True, "population": False, "exclusions": False,
    "numerator": True, "denominator": False, "per": False, "levels": True, "stratify_by": False,
    "risk_adjustment": False, "reporting": False, "benchmark": False,
}
FACT_KEYS = {"id": True, "description": True, "grain": True, "requires": True, "units": True,
             "parents": False, "columns": True, "sql": True}
DEFINITION_KEYS = {"args": True, "description": True, "sql": True}
SCALAR = (str, int, float)  # bool is an int
# (container, how deep its items may nest, code, words) for each key that is not a single value
METRIC_SHAPES = {
    "reporting": (dict, 0, "M030", "a mapping such as {min_denominator: 25}"),
    "benchmark": (dict, 0, "M031", "a mapping such as {target: 0.14}"),
    "exclusions": (dict, 0, "M032", "a mapping of exclusion name to condition"),
    "risk_adjustment": (dict, 1, "M033", "a mapping such as {method: indirect, by: [age_band, sex]}"),
    "levels": (list, 0, "M034", "a list of levels such as [provider, network]"),
    "stratify_by": (list, 0, "M034", "a list of column names such as [sex, age_band]"),
}
FACT_SHAPES = {
    "requires": (list, 0, "F026", "a list of canonical tables such as [encounters, patients]"),
    "units": (dict, 0, "F026", "a mapping of level to column such as {provider: provider_id}"),
    "parents": (dict, 0, "F026", "a mapping of child level to parent level such as {provider: network}"),
    "columns": (dict, 1, "F026", "a mapping of column name to type such as {period: varchar}"),
}
DEFINITION_SHAPES = {"args": (list, 0, "F026", "a list of argument names such as [on_day, birth_date]")}
DEFINITIONS = "definitions.yaml"  # beside facts/ and the domain folders


class _Doc:
    """One YAML mapping with the positions of its keys and values."""

    def __init__(self, path: str, node):
        self.path, self.node = path, node

    def key_loc(self, key) -> Loc:
        try:
            line, col = self.node.lc.key(key)
            return Loc(self.path, line + 1, col + 1)
        except (KeyError, AttributeError, TypeError):
            return Loc(self.path, 1, 1)

    def value_loc(self, key) -> Loc:
        if isinstance(key, int):  # an item of a YAML sequence
            try:
                line, col = self.node.lc.item(key)
                return Loc(self.path, line + 1, col + 1)
            except (KeyError, AttributeError, TypeError, IndexError):
                return Loc(self.path, 1, 1)
        try:
            line, col = self.node.lc.value(key)
            return Loc(self.path, line + 1, col + 1)
        except (KeyError, AttributeError, TypeError):
            return self.key_loc(key)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _text_loc(path: str, text, offset: int) -> Loc:
    """Line and column of a character (or byte) offset in `text`."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    return Loc(path, text.count(newline, 0, offset) + 1, offset - (text.rfind(newline, 0, offset) + 1) + 1)


def _too_deep(path: str, text: str) -> Loc:
    # ruamel recurses once per bracket; point at the first bracket past a depth no definition needs.
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "[{") - (ch in "]}")
        if depth > 50:
            return _text_loc(path, text, i)
    return Loc(path)


def read_yaml(path: Path, problems: list[Diagnostic]):
    """The file's YAML, or None with a located problem: not text, not YAML, nested too deeply, or empty."""
    where, data = str(path), path.read_bytes()
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        problems.append(Diagnostic(_text_loc(where, data, err.start), "M006",
                                   f"the file is not text: byte 0x{data[err.start]:02x} is not UTF-8"))
        return None
    try:
        node = _yaml().load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        loc = Loc(where, mark.line + 1, mark.column + 1) if mark else Loc(where)
        problems.append(Diagnostic(loc, "M001", f"YAML syntax error: {err.problem or err.context}"))
        return None
    except ReaderError as err:  # control characters such as NUL: a binary file
        problems.append(Diagnostic(_text_loc(where, text, err.position), "M006",
                                   f"the file is not text: it holds the control character U+{err.character:04X}"))
        return None
    except YAMLError as err:
        problems.append(Diagnostic(Loc(where), "M001", f"YAML syntax error: {str(err).splitlines()[0]}"))
        return None
    except RecursionError:
        problems.append(Diagnostic(_too_deep(where, text), "M008", "brackets are nested too deeply"))
        return None
    if node is None:
        problems.append(Diagnostic(Loc(where), "M007", "the file is empty; a definition is a mapping of keys"))
    return node


def _within(value, depth: int) -> bool:
    """True when `value` is a single value, or lists/mappings of single values at most `depth` deep."""
    if value is None or isinstance(value, SCALAR):
        return True
    if depth == 0 or not isinstance(value, (list, dict)):
        return False
    return all(_within(v, depth - 1) for v in (value.values() if isinstance(value, dict) else value))


def _check_shapes(doc: _Doc, shapes: dict, scalar_code: str, problems: list[Diagnostic]) -> bool:
    """Every key has the shape it must (single value unless `shapes` says a list or mapping): a wrong shape is
    reported here, where it is, instead of crashing whatever reads the key next."""
    ok = True
    for key, value in doc.node.items():
        kind, inner, code, words = shapes.get(key, (None, 0, scalar_code, "a single value"))
        if value is None or (kind is None and isinstance(value, SCALAR)):
            continue
        if kind is None or not isinstance(value, kind) or not _within(value, inner + 1):
            shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
            problems.append(Diagnostic(doc.value_loc(key), code, f"{key} must be {words}; got {shown}"))
            ok = False
    return ok


def _check_keys(doc: _Doc, spec: dict[str, bool], what: str, problems: list[Diagnostic]) -> bool:
    ok = True
    for key in doc.node:
        if key not in spec:
            problems.append(Diagnostic(doc.key_loc(key), "M003", f"unknown key '{key}' in {what}"
                                       + did_you_mean(str(key), spec)))
    for key, required in spec.items():
        if required and key not in doc.node:
            problems.append(Diagnostic(Loc(doc.path, 1, 1), "M002", f"{what} is missing required key '{key}'"))
            ok = False
    return ok


def _expr_loc(base: Loc, text: str, needle: str) -> Loc:
    # Single-line plain scalars: point at the offending name inside the expression.
    first_line = text.split("\n")[0]
    idx = first_line.find(needle)
    return Loc(base.path, base.line, base.col + idx) if idx >= 0 and "\n" not in text else base


def infer_type(node: exp.Expression, columns: dict[str, str]) -> str:
    if isinstance(node, exp.Paren):
        return infer_type(node.this, columns)
    if isinstance(node, exp.Column):
        return FACT_TYPES.get(columns.get(node.name, ""), "unknown")
    if isinstance(node, BOOLEAN_NODES):
        return "boolean"
    if isinstance(node, NUMBER_NODES):
        return "number"
    if isinstance(node, exp.Literal):
        return "text" if node.is_string else "number"
    if isinstance(node, exp.Null):
        return "null"
    if isinstance(node, exp.Cast):
        target = node.to.this
        if target in exp.DataType.NUMERIC_TYPES:
            return "number"
        if target == exp.DataType.Type.BOOLEAN:
            return "boolean"
        if target in exp.DataType.TEMPORAL_TYPES:
            return "date"
        return "text"
    if isinstance(node, (exp.Case, exp.If, exp.Coalesce, exp.Least, exp.Greatest)):
        branches = [e for e in ([node.args.get("true"), node.args.get("false"), node.args.get("default"),
                                 node.this] + [i.args.get("true") for i in node.args.get("ifs") or []]
                                + list(node.expressions)) if e is not None]
        kinds = {infer_type(b, columns) for b in branches} - {"null", "unknown"}
        return kinds.pop() if len(kinds) == 1 else "unknown"
    return "unknown"


def check_expression(expr: Expr, fact: Fact, want: str, what: str, problems: list[Diagnostic]) -> None:
    """Parse `expr` with sqlglot and check nodes, columns and result type against the fact."""
    try:
        statements = [s for s in sqlglot.parse(expr.sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as err:
        detail = err.errors[0]["description"] if err.errors else str(err).splitlines()[0]
        problems.append(Diagnostic(expr.loc, "M011", f"{what}: cannot parse expression: {detail}"))
        return
    except sqlglot.errors.SqlglotError as err:
        problems.append(Diagnostic(expr.loc, "M011", f"{what}: cannot parse expression: {str(err).splitlines()[0]}"))
        return
    except RecursionError:
        problems.append(Diagnostic(expr.loc, "M017", f"{what}: the expression is nested too deeply"))
        return
    if len(statements) != 1:
        problems.append(Diagnostic(expr.loc, "M011", f"{what} must be exactly one expression; "
                                   + ("it is empty" if not statements else "found a second statement after ';'")))
        return
    tree, columns = statements[0], fact.column_types
    if max(n.depth for n in tree.walk()) > MAX_DEPTH // 2:
        problems.append(Diagnostic(expr.loc, "M017", f"{what}: the expression is nested too deeply"))
        return
    for node in tree.walk():
        if not isinstance(node, ALLOWED_NODES):
            name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
            if isinstance(node, exp.Anonymous):
                name = node.name
            label = "subquery" if isinstance(node, (exp.Select, exp.Subquery)) else f"'{name.lower()}'"
            problems.append(Diagnostic(_expr_loc(expr.loc, expr.sql, name.split("(")[0].lower()), "M014",
                                       f"{what}: {label} is not allowed in metric expressions "
                                       "(only comparisons, arithmetic, CASE, COALESCE, CAST, ABS, ROUND, "
                                       "LEAST, GREATEST over the fact's columns)"))
            return
        if isinstance(node, exp.Column):
            if node.table:
                problems.append(Diagnostic(expr.loc, "M014", f"{what}: qualified column '{node.sql()}' is not "
                                           f"allowed; write the bare column name"))
            elif node.name not in columns:
                problems.append(Diagnostic(_expr_loc(expr.loc, expr.sql, node.name), "M012",
                                           f"unknown column '{node.name}' in fact {fact.id}"
                                           + did_you_mean(node.name, columns)))
                return
    got = infer_type(tree, columns)
    if got != want and got != "unknown":
        words = {"boolean": "a condition (true/false)", "number": "a number"}
        problems.append(Diagnostic(expr.loc, "M013", f"{what} must be {words[want]}, but "
                                   f"'{expr.sql}' is {words.get(got, 'a ' + got)}"))


class _SqlSource:
    """Where a character of an SQL string value sits in its YAML file: exact for `|` blocks and one-line values."""

    def __init__(self, doc: _Doc, key, text: str):
        self.base, self.sql = doc.value_loc(key), str(doc.node[key])
        lines = text.splitlines()
        self.block = isinstance(doc.node[key], LiteralScalarString)
        body = [t for t in lines[self.base.line:self.base.line + self.sql.count("\n") + 1] if t.strip()]
        self.indent = min((len(t) - len(t.lstrip()) for t in body), default=0)
        first = lines[self.base.line - 1] if 0 < self.base.line <= len(lines) else ""
        self.quote = first[self.base.col - 1:self.base.col] in ("'", '"')

    def at(self, offset: int | None) -> Loc:
        if offset is None:
            return self.base
        line, col = self.sql.count("\n", 0, offset), offset - (self.sql.rfind("\n", 0, offset) + 1)
        if self.block:
            return Loc(self.base.path, self.base.line + 1 + line, self.indent + col + 1)
        return Loc(self.base.path, self.base.line, self.base.col + self.quote + col) if "\n" not in self.sql else self.base

    def at_line_col(self, line: int | None, col: int | None) -> Loc:
        if not line:
            return self.base
        starts = [0] + [i + 1 for i, ch in enumerate(self.sql) if ch == "\n"]
        return self.at(starts[min(line, len(starts)) - 1] + max((col or 1) - 1, 0))


def _start(node: exp.Expression) -> int | None:
    """The offset of the leftmost token of `node` (sqlglot records positions on identifiers, literals, calls)."""
    return min((n.meta["start"] for n in node.walk() if "start" in n.meta), default=None)


def _spelling(node: exp.Expression, sql: str) -> str:
    """A function's name as the author wrote it (sqlglot renames some: range -> generate_series)."""
    if "start" in node.meta and isinstance(node, exp.Func):
        return sql[node.meta["start"]:node.meta["end"] + 1].lower()
    return (node.sql_name() if isinstance(node, exp.Func) else node.key).lower()


def _refused(node: exp.Expression, tables: dict[str, str] | None, requires: tuple[str, ...], calls: set[str],
             sql: str) -> tuple[str, str] | None:
    """(code, reason) when a node may not appear in a fact view (`tables` given) or a shared definition."""
    if isinstance(node, exp.Table) and tables is not None:
        if not isinstance(node.this, exp.Identifier):
            return "F022", f"table function '{_spelling(node.this, sql)}' is not allowed; a fact view reads only tables"
        if node.args.get("db") or node.args.get("catalog"):
            return "F021", f"qualified table '{node.sql(dialect='duckdb')}' is not allowed; write the bare table name"
        if node.name.lower() not in tables:
            return "F021", (f"table '{node.name}' is not allowed; a fact view reads only the tables it requires "
                            f"({', '.join(requires)}), earlier facts and its own CTEs"
                            + did_you_mean(node.name, tables.values()))
        return None
    if isinstance(node, exp.With) and node.args.get("recursive"):  # a run that never ends is a denial of service
        return "F023", "'with recursive' is not allowed"
    if isinstance(node, exp.Anonymous):
        return None if node.name.lower() in calls else ("F023", f"function '{node.name.lower()}' is not allowed")
    if isinstance(node, FACT_EXPRESSION_NODES) or (tables is not None and isinstance(node, FACT_QUERY_NODES)):
        return None
    return "F023", f"'{_spelling(node, sql)}' is not allowed"


def check_sql(source: _SqlSource, what: str, requires: tuple[str, ...] | None, earlier: tuple[str, ...],
              calls: set[str], parse_code: str, problems: list[Diagnostic]) -> bool:
    """A fact view (`requires` given) must be exactly one SELECT reading its required tables, `earlier` fact views
    and its CTEs; a shared definition (`requires` None) one expression. Only whitelisted nodes and functions; each
    violation is located."""
    sql = source.sql
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as err:
        first = err.errors[0] if err.errors else {}
        problems.append(Diagnostic(source.at_line_col(first.get("line"), first.get("col")), parse_code,
                                   f"{what}: cannot parse SQL: {first.get('description') or str(err).splitlines()[0]}"))
        return False
    except sqlglot.errors.SqlglotError as err:
        problems.append(Diagnostic(source.base, parse_code, f"{what}: cannot parse SQL: {str(err).splitlines()[0]}"))
        return False
    except RecursionError:
        problems.append(Diagnostic(source.base, "F024", f"{what}: the SQL is nested too deeply"))
        return False
    one = "exactly one SELECT" if requires is not None else "exactly one expression"
    if len(statements) != 1:
        tokens = sqlglot.tokenize(sql, read="duckdb")
        second = next((b.start for a, b in zip(tokens, tokens[1:]) if a.token_type.name == "SEMICOLON"), None)
        problems.append(Diagnostic(source.at(second), "F020", f"{what} must be {one}; "
                                   + ("it is empty" if not statements else "a second statement starts here")))
        return False
    tree = statements[0]
    if requires is not None and not isinstance(tree, (exp.Select, exp.SetOperation)):
        kind = tree.name.upper() if isinstance(tree, exp.Command) else tree.key.upper()
        problems.append(Diagnostic(source.at(len(sql) - len(sql.lstrip())), "F020",
                                   f"{what} must be {one}; {kind} is not allowed"))
        return False
    tables = None if requires is None else {t.lower(): t for t in [*requires, *earlier, *(
        c.alias_or_name for c in tree.find_all(exp.CTE))]}
    ok, stack = True, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            problems.append(Diagnostic(source.at(_start(node)), "F024", f"{what}: the SQL is nested too deeply"))
            return False
        refused = _refused(node, tables, requires or (), calls, sql)
        if refused:  # its children belong to the same fault
            problems.append(Diagnostic(source.at(_start(node)), refused[0], f"{what}: {refused[1]}"))
            ok = False
            continue
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return ok


@functools.cache
def canonical_tables() -> tuple[str, ...]:
    return tuple(load_contracts())


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _str(doc, key, default=None):
    value = doc.node.get(key, default)
    return str(value).strip() if value is not None else None


def load_definitions(path: Path, problems: list[Diagnostic]) -> dict[str, tuple[tuple[str, ...], exp.Expression] | None]:
    """Shared expressions that fact views call like functions: name -> (argument names, body)."""
    if not path.exists():
        return {}
    node = read_yaml(path, problems)
    if not isinstance(node, dict):
        return {}
    text, out = path.read_text(), {}
    for name, spec in node.items():
        doc = _Doc(str(path), spec)
        if not isinstance(spec, dict) or not _check_keys(doc, DEFINITION_KEYS, f"definition {name}", problems) \
                or not _check_shapes(doc, DEFINITION_SHAPES, "F026", problems):
            continue
        ok = check_sql(_SqlSource(doc, "sql", text), f"definition {name}", None, (), FACT_CALLS, "F005", problems)
        # a refused definition stays known (None), so facts calling it are not blamed for an unknown function
        out[str(name).lower()] = (tuple(str(a) for a in spec["args"]),
                                  sqlglot.parse_one(str(spec["sql"]), dialect="duckdb")) if ok else None
    return out


def expand(sql: str, definitions: dict, loc: Loc, problems: list[Diagnostic]) -> str:
    """The fact's SQL with every call of a shared definition replaced by its body, arguments substituted."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    for call in list(tree.find_all(exp.Anonymous)):
        if definitions.get(call.name.lower()) is None:
            continue
        args, body = definitions[call.name.lower()]
        if len(call.expressions) != len(args):
            problems.append(Diagnostic(loc, "F006", f"{call.name} takes {len(args)} argument(s) ({', '.join(args)}); "
                                       f"got {len(call.expressions)}"))
            continue
        given = dict(zip(args, call.expressions))
        body = body.copy()
        for column in list(body.find_all(exp.Column)):
            if not column.table and column.name in given:
                column.replace(given[column.name].copy())
        call.replace(body)
    return tree.sql(dialect="duckdb", pretty=True)


def load_fact(path: Path, problems: list[Diagnostic], definitions: dict | None = None,
              earlier: tuple[str, ...] = ()) -> Fact | None:
    """`earlier`: the views of facts loaded before this one, which its SQL may read besides its `requires`."""
    node = read_yaml(path, problems)
    if node is None:
        return None
    doc = _Doc(str(path), node)
    if not isinstance(node, dict):
        problems.append(Diagnostic(Loc(str(path)), "F026", "a fact file must be a mapping of keys"))
        return None
    if not _check_keys(doc, FACT_KEYS, f"fact {path.stem}", problems) \
            or not _check_shapes(doc, FACT_SHAPES, "F026", problems):
        return None
    columns = []
    cols_doc = _Doc(str(path), node["columns"])
    for name, spec in node["columns"].items():
        ctype = spec.get("type") if isinstance(spec, dict) else spec
        if ctype not in FACT_TYPES:
            problems.append(Diagnostic(cols_doc.value_loc(name), "F002",
                                       f"column '{name}' has unknown type {ctype!r}" + did_you_mean(str(ctype), FACT_TYPES)))
            continue
        columns.append(FactColumn(str(name), ctype, spec.get("description", "") if isinstance(spec, dict) else ""))
    names = {c.name for c in columns}
    if "period" not in names:
        problems.append(Diagnostic(doc.key_loc("columns"), "F003", "a fact must declare a 'period' column"))
    units_doc = _Doc(str(path), node["units"])
    for level, column in node["units"].items():
        if column not in names:
            problems.append(Diagnostic(units_doc.value_loc(level), "F004",
                                       f"unit column '{column}' of level '{level}' is not a declared column"
                                       + did_you_mean(str(column), names)))
    parents_doc = _Doc(str(path), node.get("parents") or {})
    for child, parent in (node.get("parents") or {}).items():
        for level in (child, parent):
            if level not in node["units"]:
                problems.append(Diagnostic(parents_doc.key_loc(child) if level == child else parents_doc.value_loc(child),
                                           "F027", f"parents names level '{level}', which is not one of the fact's units"
                                           + did_you_mean(str(level), node["units"])))
    requires_doc = _Doc(str(path), node["requires"])
    for i, table in enumerate(node["requires"]):
        if table not in canonical_tables():
            problems.append(Diagnostic(requires_doc.value_loc(i), "F025", f"'{table}' is not a canonical table"
                                       + did_you_mean(str(table), canonical_tables())))
    requires = tuple(str(t) for t in node["requires"])
    calls = FACT_CALLS | set(definitions or {})
    if not check_sql(_SqlSource(doc, "sql", path.read_text()), f"fact {node['id']}", requires, earlier, calls, "F007",
                     problems):
        return None
    sql = expand(str(node["sql"]), definitions or {}, doc.value_loc("sql"), problems)
    return Fact(
        id=str(node["id"]), description=_str(doc, "description"), grain=_str(doc, "grain"),
        requires=requires, units=tuple((str(k), str(v)) for k, v in node["units"].items()),
        parents=tuple((str(k), str(v)) for k, v in (node.get("parents") or {}).items()),
        columns=tuple(columns), sql=sql, loc=doc.key_loc("id"),
        source_hash=_hash(path.read_text() + sql),  # the expanded SQL: a changed definition changes the hash
    )


def _enum(doc: _Doc, key: str, allowed, problems) -> str | None:
    value = doc.node.get(key)
    if value not in allowed:
        problems.append(Diagnostic(doc.value_loc(key), "M005", f"{key} must be one of {', '.join(allowed)}; "
                                   f"got '{value}'" + did_you_mean(str(value), allowed)))
        return None
    return value


def _int(doc: _Doc, key: str, problems, default=None, minimum=1) -> int | None:
    value = doc.node.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(Diagnostic(doc.value_loc(key), "M004",
                                   f"{key} must be a whole number ≥ {minimum}; got {value!r}"))
        return None
    return value


def load_metric(path: Path, facts: dict[str, Fact], problems: list[Diagnostic], refused: set[str] = frozenset()
                ) -> Metric | None:
    """`refused`: ids of facts that failed to load (already reported), so metrics over them are not blamed."""
    node = read_yaml(path, problems)
    if node is None:
        return None
    doc = _Doc(str(path), node)
    if not isinstance(node, dict):
        problems.append(Diagnostic(Loc(str(path)), "M004", "a metric file must be a mapping of keys"))
        return None
    before = len(problems)
    if not _check_keys(doc, METRIC_KEYS, f"metric {path.stem}", problems) \
            or not _check_shapes(doc, METRIC_SHAPES, "M035", problems):
        return None
    domain = _enum(doc, "domain", DOMAINS, problems)
    direction = _enum(doc, "direction", DIRECTIONS, problems)
    unit = _enum(doc, "unit", UNITS, problems)
    kind = _enum(doc, "kind", KINDS, problems)
    version = _int(doc, "version", problems)
    per = _int(doc, "per", problems, default=1)
    reporting = _Doc(str(path), node.get("reporting") or {})
    min_den = _int(reporting, "min_denominator", problems, default=25)
    fact = facts.get(str(node["from"]))
    if fact is None and str(node["from"]) in refused:
        return None
    if fact is None:
        problems.append(Diagnostic(doc.value_loc("from"), "M010", f"unknown fact '{node['from']}'"
                                   + did_you_mean(str(node["from"]), facts)))

    def expr(key, container=doc) -> Expr:
        text = str(container.node[key]).strip()
        return Expr(text, container.value_loc(key))

    population = expr("population") if "population" in node else None
    excl_doc = _Doc(str(path), node.get("exclusions") or {})
    exclusions = tuple((str(k), expr(k, excl_doc)) for k in (node.get("exclusions") or {}))
    numerator = expr("numerator")
    denominator = expr("denominator") if "denominator" in node else None
    risk = None
    if node.get("risk_adjustment"):
        ra = node["risk_adjustment"]
        if not isinstance(ra.get("by") or [], list):
            problems.append(Diagnostic(doc.value_loc("risk_adjustment"), "M033",
                                       f"risk_adjustment by must be a list of columns such as [age_band, sex]; "
                                       f"got {ra.get('by')}"))
            return None
        risk = RiskAdjustment(str(ra.get("method", "indirect")), tuple(str(c) for c in ra.get("by") or ()))
    benchmark = _Doc(str(path), node.get("benchmark") or {})
    target = benchmark.node.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))):
        problems.append(Diagnostic(benchmark.value_loc("target"), "M036",
                                   f"benchmark target must be a number such as 0.14; got {target}"))
    if kind == "o_e" and risk is None:
        problems.append(Diagnostic(doc.key_loc("kind"), "M021", "kind o_e needs risk_adjustment: {by: [...]}"))
    if kind in EXPOSURE_KINDS and denominator is None:
        problems.append(Diagnostic(doc.key_loc("kind"), "M021", f"kind {kind} needs a denominator expression"))
    if kind not in EXPOSURE_KINDS and kind and denominator is not None:
        problems.append(Diagnostic(doc.key_loc("denominator"), "M021",
                                   f"kind {kind} counts rows as its denominator; remove 'denominator'"))
    if fact is not None:
        if population:
            check_expression(population, fact, "boolean", "population", problems)
        for name, e in exclusions:
            check_expression(e, fact, "boolean", f"exclusion '{name}'", problems)
        if kind:
            check_expression(numerator, fact, "boolean" if kind in ("proportion", "o_e") else "number",
                             "numerator", problems)
        if denominator is not None:
            check_expression(denominator, fact, "number", "denominator", problems)
        levels_doc = _Doc(str(path), node["levels"])
        for i, level in enumerate(node["levels"]):
            if level not in fact.unit_columns:
                problems.append(Diagnostic(levels_doc.value_loc(i), "M015", f"fact {fact.id} has no level "
                                           f"'{level}'" + did_you_mean(str(level), fact.unit_columns)))
        strata_doc = _Doc(str(path), node.get("stratify_by") or [])
        for i, column in enumerate(node.get("stratify_by") or []):
            if column not in fact.column_types:
                problems.append(Diagnostic(strata_doc.value_loc(i), "M016", f"unknown stratum column '{column}' "
                                           f"in fact {fact.id}" + did_you_mean(str(column), fact.column_types)))
        for column in risk.by if risk else ():
            if column not in fact.column_types:
                problems.append(Diagnostic(doc.value_loc("risk_adjustment"), "M016",
                                           f"unknown risk-adjustment column '{column}' in fact {fact.id}"
                                           + did_you_mean(column, fact.column_types)))
    if str(node["id"]) != path.stem:
        problems.append(Diagnostic(doc.value_loc("id"), "M022",
                                   f"id '{node['id']}' must match the file name '{path.stem}'"))
    if len(problems) > before:
        return None
    return Metric(
        id=str(node["id"]), version=version, title=_str(doc, "title"), domain=domain,
        plain_language=_str(doc, "plain_language"), description=_str(doc, "description", ""),
        direction=direction, unit=unit, kind=kind, fact=fact.id, population=population,
        exclusions=exclusions, numerator=numerator, denominator=denominator, per=per,
        levels=tuple(str(v) for v in node["levels"]), stratify_by=tuple(str(v) for v in node.get("stratify_by") or ()),
        risk_adjustment=risk,
        min_denominator=min_den, target=float(target) if target is not None else None,
        loc=doc.key_loc("id"), source_hash=_hash(path.read_text()),
    )


def load_catalog(root: Path) -> Catalog:
    """Load metrics/facts/*.yaml and metrics/<domain>/*.yaml; raise once with every problem found."""
    root = Path(root)
    problems: list[Diagnostic] = []
    facts: dict[str, Fact] = {}
    refused: set[str] = set()
    definitions = load_definitions(root / DEFINITIONS, problems)
    for path in sorted((root / "facts").glob("*.yaml")):
        fact = load_fact(path, problems, definitions, tuple(f.view for f in facts.values()))
        if fact:
            facts[fact.id] = fact
        else:
            refused.add(path.stem)
    metrics: dict[str, Metric] = {}
    for path in sorted(p for p in root.rglob("*.yaml") if p.parent.name != "facts" and p != root / DEFINITIONS):
        metric = load_metric(path, facts, problems, refused)
        if metric is None:
            continue
        if metric.id in metrics:
            first = metrics[metric.id].loc
            problems.append(Diagnostic(metric.loc, "M020", f"duplicate metric id '{metric.id}' "
                                       f"(first defined at {first})"))
            continue
        metrics[metric.id] = metric
    if problems:
        raise CarescoreError(problems)
    return Catalog(facts, metrics)
