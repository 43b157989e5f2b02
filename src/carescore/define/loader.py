"""YAML → spec. Keeps file:line:col for every key so a user's mistake is reported where it is."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import sqlglot
from sqlglot import exp

from .. import yamldoc
from ..issues import DefinitionError, Diagnostic, Loc, did_you_mean
from ..yamldoc import NUMBER, SINGLE, TEXT, AnyOf, Field, Keys, ListOf, MapOf, Node, OneOf, whole
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

EXPRESSION = SINGLE  # an SQL fragment over the fact's columns; a bare number or word is one too
METRIC = Keys({
    "id": Field(TEXT, True), "version": Field(whole(1), True), "title": Field(TEXT, True),
    "domain": Field(OneOf(DOMAINS), True), "plain_language": Field(TEXT, True), "description": TEXT,
    "direction": Field(OneOf(DIRECTIONS), True), "unit": Field(OneOf(UNITS), True), "kind": Field(OneOf(KINDS), True),
    "from": Field(TEXT, True), "population": EXPRESSION,
    "exclusions": Field(MapOf(EXPRESSION), code="M032", words="a mapping of exclusion name to condition"),
    "numerator": Field(EXPRESSION, True), "denominator": EXPRESSION, "per": whole(1),
    "levels": Field(ListOf(TEXT), True, "M034", "a list of levels such as [provider, network]"),
    "stratify_by": Field(ListOf(TEXT), code="M034", words="a list of column names such as [sex, age_band]"),
    "risk_adjustment": Field(Keys({"method": OneOf(("indirect",)), "by": Field(
        ListOf(TEXT), True, "M033", "a list of columns such as [age_band, sex]")}),
        code="M033", words="a mapping such as {method: indirect, by: [age_band, sex]}"),
    "reporting": Field(Keys({"min_denominator": whole(1)}), code="M030", words="a mapping such as {min_denominator: 25}"),
    "benchmark": Field(Keys({"target": Field(NUMBER, code="M036", words="a number such as 0.14")}),
                       code="M031", words="a mapping such as {target: 0.14}"),
})
FACT = Keys({
    "id": Field(TEXT, True), "description": Field(TEXT, True), "grain": Field(TEXT, True),
    "requires": Field(ListOf(TEXT), True, words="a list of canonical tables such as [encounters, patients]"),
    "units": Field(MapOf(TEXT), True, words="a mapping of level to column such as {provider: provider_id}"),
    "parents": Field(MapOf(TEXT), words="a mapping of child level to parent level such as {provider: network}"),
    "columns": Field(MapOf(AnyOf((OneOf(tuple(FACT_TYPES)), Keys({
        "type": Field(OneOf(tuple(FACT_TYPES)), True), "description": TEXT})))), True,
        words="a mapping of column name to type such as {period: varchar}"),
    "sql": Field(TEXT, True),
})
DEFINITION = Keys({"args": Field(ListOf(TEXT), True, words="a list of argument names such as [on_day, birth_date]"),
                   "description": Field(TEXT, True), "sql": Field(TEXT, True)})
DEFINITIONS = "definitions.yaml"  # beside facts/ and the domain folders


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

    def __init__(self, doc: Node, key, text: str):
        self.base, self.sql = doc.value_loc(key), str(doc.value[key])
        lines = text.splitlines()
        self.block = doc.is_block(key)
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


def load_definitions(path: Path, problems: list[Diagnostic]) -> dict[str, tuple[tuple[str, ...], exp.Expression] | None]:
    """Shared expressions that fact views call like functions: name -> (argument names, body)."""
    if not path.exists():
        return {}
    doc = yamldoc.read(path, problems, "the shared definitions file")
    if doc is None:
        return {}
    text, out = path.read_text(), {}
    for name, spec in doc.items():
        # a refused definition stays known (None), so facts calling it are not blamed for an unknown function
        out[name.lower()] = None
        if not yamldoc.check(spec, DEFINITION, problems) or not check_sql(
                _SqlSource(spec, "sql", text), f"definition {name}", None, (), FACT_CALLS, "F005", problems):
            continue
        out[name.lower()] = (tuple(spec.get("args")), sqlglot.parse_one(spec.get("sql"), dialect="duckdb"))
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
    doc = yamldoc.load(path, FACT, problems, "a fact view", f"fact {path.stem}")
    if doc is None:
        return None
    columns = []
    for name, spec in doc["columns"].items():
        typed = isinstance(spec.value, dict)
        columns.append(FactColumn(name, spec.get("type") if typed else str(spec.value),
                                  spec.get("description", "") if typed else ""))
    names = {c.name for c in columns}
    if "period" not in names:
        problems.append(Diagnostic(doc.key_loc("columns"), "F003", "a fact must declare a 'period' column"))
    units, parents = doc.get("units"), doc.get("parents", {})
    for level, column in units.items():
        if column not in names:
            problems.append(Diagnostic(doc["units"].value_loc(level), "F004",
                                       f"unit column '{column}' of level '{level}' is not a declared column"
                                       + did_you_mean(column, names)))
    for child, parent in parents.items():
        for level in (child, parent):
            if level not in units:
                at = doc["parents"].key_loc(child) if level == child else doc["parents"].value_loc(child)
                problems.append(Diagnostic(at, "F027", f"parents names level '{level}', which is not one of the "
                                           "fact's units" + did_you_mean(level, units)))
    requires = tuple(doc.get("requires"))
    for i, table in enumerate(requires):
        if table not in canonical_tables():
            problems.append(Diagnostic(doc["requires"].value_loc(i), "F025", f"'{table}' is not a canonical table"
                                       + did_you_mean(table, canonical_tables())))
    calls = FACT_CALLS | set(definitions or {})
    if not check_sql(_SqlSource(doc, "sql", path.read_text()), f"fact {doc.get('id')}", requires, earlier, calls,
                     "F007", problems):
        return None
    sql = expand(doc.get("sql"), definitions or {}, doc.value_loc("sql"), problems)
    return Fact(
        id=doc.get("id"), description=doc.get("description").strip(), grain=doc.get("grain").strip(),
        requires=requires, units=tuple(units.items()), parents=tuple(parents.items()),
        columns=tuple(columns), sql=sql, loc=doc.key_loc("id"),
        source_hash=_hash(path.read_text() + sql),  # the expanded SQL: a changed definition changes the hash
    )


def load_metric(path: Path, facts: dict[str, Fact], problems: list[Diagnostic], refused: set[str] = frozenset()
                ) -> Metric | None:
    """`refused`: ids of facts that failed to load (already reported), so metrics over them are not blamed."""
    doc = yamldoc.load(path, METRIC, problems, "a metric definition", f"metric {path.stem}")
    if doc is None:
        return None
    before = len(problems)
    kind = doc.get("kind")
    fact = facts.get(doc.get("from"))
    if fact is None and doc.get("from") in refused:
        return None
    if fact is None:
        problems.append(Diagnostic(doc.value_loc("from"), "M010", f"unknown fact '{doc.get('from')}'"
                                   + did_you_mean(doc.get("from"), facts)))

    def expr(node: Node) -> Expr:
        return Expr(str(node.value).strip(), node.loc)

    population = expr(doc["population"]) if "population" in doc else None
    exclusions = tuple((name, expr(e)) for name, e in doc["exclusions"].items()) if "exclusions" in doc else ()
    numerator = expr(doc["numerator"])
    denominator = expr(doc["denominator"]) if "denominator" in doc else None
    ra = doc.get("risk_adjustment")
    risk = RiskAdjustment(ra.get("method", "indirect"), tuple(ra["by"])) if ra else None
    target = doc.get("benchmark", {}).get("target")
    if kind == "o_e" and risk is None:
        problems.append(Diagnostic(doc.key_loc("kind"), "M021", "kind o_e needs risk_adjustment: {by: [...]}"))
    if kind in EXPOSURE_KINDS and denominator is None:
        problems.append(Diagnostic(doc.key_loc("kind"), "M021", f"kind {kind} needs a denominator expression"))
    if kind not in EXPOSURE_KINDS and denominator is not None:
        problems.append(Diagnostic(doc.key_loc("denominator"), "M021",
                                   f"kind {kind} counts rows as its denominator; remove 'denominator'"))
    if fact is not None:
        if population:
            check_expression(population, fact, "boolean", "population", problems)
        for name, e in exclusions:
            check_expression(e, fact, "boolean", f"exclusion '{name}'", problems)
        check_expression(numerator, fact, "boolean" if kind in ("proportion", "o_e") else "number", "numerator",
                         problems)
        if denominator is not None:
            check_expression(denominator, fact, "number", "denominator", problems)
        for i, level in enumerate(doc.get("levels")):
            if level not in fact.unit_columns:
                problems.append(Diagnostic(doc["levels"].value_loc(i), "M015", f"fact {fact.id} has no level "
                                           f"'{level}'" + did_you_mean(level, fact.unit_columns)))
        for i, column in enumerate(doc.get("stratify_by", [])):
            if column not in fact.column_types:
                problems.append(Diagnostic(doc["stratify_by"].value_loc(i), "M016", f"unknown stratum column "
                                           f"'{column}' in fact {fact.id}" + did_you_mean(column, fact.column_types)))
        for i, column in enumerate(risk.by if risk else ()):
            if column not in fact.column_types:
                problems.append(Diagnostic(doc["risk_adjustment"]["by"].value_loc(i), "M016",
                                           f"unknown risk-adjustment column '{column}' in fact {fact.id}"
                                           + did_you_mean(column, fact.column_types)))
    if doc.get("id") != path.stem:
        problems.append(Diagnostic(doc.value_loc("id"), "M022",
                                   f"id '{doc.get('id')}' must match the file name '{path.stem}'"))
    if len(problems) > before:
        return None
    return Metric(
        id=doc.get("id"), version=doc.get("version"), title=doc.get("title").strip(), domain=doc.get("domain"),
        plain_language=doc.get("plain_language").strip(), description=doc.get("description", "").strip(),
        direction=doc.get("direction"), unit=doc.get("unit"), kind=kind, fact=fact.id, population=population,
        exclusions=exclusions, numerator=numerator, denominator=denominator, per=doc.get("per", 1),
        levels=tuple(doc.get("levels")), stratify_by=tuple(doc.get("stratify_by", ())), risk_adjustment=risk,
        min_denominator=doc.get("reporting", {}).get("min_denominator", 25),
        target=float(target) if target is not None else None,
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
        raise DefinitionError(problems)
    return Catalog(facts, metrics)
