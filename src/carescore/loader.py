"""YAML → spec. Keeps file:line:col for every key so a user's mistake is reported where it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlglot
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from sqlglot import exp

from .issues import CarescoreError, Diagnostic, Loc, did_you_mean
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


def read_yaml(path: Path, problems: list[Diagnostic]):
    try:
        return _yaml().load(path.read_text())
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        loc = Loc(str(path), mark.line + 1, mark.column + 1) if mark else Loc(str(path))
        problems.append(Diagnostic(loc, "M001", f"YAML syntax error: {err.problem or err.context}"))
    except UnicodeDecodeError as err:
        problems.append(Diagnostic(Loc(str(path)), "M001", f"file is not UTF-8 text (byte {err.start}); save it as UTF-8"))
    return None


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
        tree = sqlglot.parse_one(expr.sql, dialect="duckdb")
    except sqlglot.errors.ParseError as err:
        detail = err.errors[0]["description"] if err.errors else str(err)
        problems.append(Diagnostic(expr.loc, "M011", f"{what}: cannot parse expression: {detail}"))
        return
    columns = fact.column_types
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


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _str(doc, key, default=None):
    value = doc.node.get(key, default)
    return str(value).strip() if value is not None else None


def load_definitions(path: Path, problems: list[Diagnostic]) -> dict[str, tuple[tuple[str, ...], exp.Expression]]:
    """Shared expressions that fact views call like functions: name -> (argument names, body)."""
    if not path.exists():
        return {}
    node = read_yaml(path, problems)
    if not isinstance(node, dict):
        return {}
    out = {}
    for name, spec in node.items():
        doc = _Doc(str(path), spec)
        if not isinstance(spec, dict) or not _check_keys(doc, DEFINITION_KEYS, f"definition {name}", problems):
            continue
        try:
            body = sqlglot.parse_one(str(spec["sql"]), dialect="duckdb")
        except sqlglot.errors.ParseError as err:
            problems.append(Diagnostic(doc.value_loc("sql"), "F005", f"definition {name}: cannot parse SQL: {err}"))
            continue
        out[str(name).lower()] = (tuple(str(a) for a in spec["args"]), body)
    return out


def expand(sql: str, definitions: dict, loc: Loc, problems: list[Diagnostic]) -> str:
    """The fact's SQL with every call of a shared definition replaced by its body, arguments substituted."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.lower() not in definitions:
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


def load_fact(path: Path, problems: list[Diagnostic], definitions: dict | None = None) -> Fact | None:
    node = read_yaml(path, problems)
    if node is None:
        return None
    doc = _Doc(str(path), node)
    if not isinstance(node, dict) or not _check_keys(doc, FACT_KEYS, f"fact {path.stem}", problems):
        return None
    columns = []
    cols_doc = _Doc(str(path), node["columns"])
    for name, spec in node["columns"].items():
        ctype = spec.get("type") if isinstance(spec, dict) else spec
        if ctype not in FACT_TYPES:
            problems.append(Diagnostic(cols_doc.value_loc(name), "F002",
                                       f"column '{name}' has unknown type {ctype!r}" + did_you_mean(str(ctype), FACT_TYPES)))
            continue
        columns.append(FactColumn(name, ctype, spec.get("description", "") if isinstance(spec, dict) else ""))
    names = {c.name for c in columns}
    if "period" not in names:
        problems.append(Diagnostic(doc.key_loc("columns"), "F003", "a fact must declare a 'period' column"))
    units_doc = _Doc(str(path), node["units"])
    for level, column in node["units"].items():
        if column not in names:
            problems.append(Diagnostic(units_doc.value_loc(level), "F004",
                                       f"unit column '{column}' of level '{level}' is not a declared column"
                                       + did_you_mean(column, names)))
    try:
        sql = expand(str(node["sql"]), definitions or {}, doc.value_loc("sql"), problems)
    except sqlglot.errors.ParseError as err:
        problems.append(Diagnostic(doc.value_loc("sql"), "F007", f"fact {node['id']}: cannot parse SQL: {err}"))
        return None
    return Fact(
        id=str(node["id"]), description=_str(doc, "description"), grain=_str(doc, "grain"),
        requires=tuple(node["requires"]), units=tuple((str(k), str(v)) for k, v in node["units"].items()),
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


def load_metric(path: Path, facts: dict[str, Fact], problems: list[Diagnostic]) -> Metric | None:
    node = read_yaml(path, problems)
    if node is None:
        return None
    doc = _Doc(str(path), node)
    if not isinstance(node, dict):
        problems.append(Diagnostic(Loc(str(path)), "M004", "a metric file must be a mapping of keys"))
        return None
    before = len(problems)
    if not _check_keys(doc, METRIC_KEYS, f"metric {path.stem}", problems):
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
        risk = RiskAdjustment(str(ra.get("method", "indirect")), tuple(ra.get("by") or ()))
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
    target = (node.get("benchmark") or {}).get("target")
    return Metric(
        id=str(node["id"]), version=version, title=_str(doc, "title"), domain=domain,
        plain_language=_str(doc, "plain_language"), description=_str(doc, "description", ""),
        direction=direction, unit=unit, kind=kind, fact=fact.id, population=population,
        exclusions=exclusions, numerator=numerator, denominator=denominator, per=per,
        levels=tuple(node["levels"]), stratify_by=tuple(node.get("stratify_by") or ()), risk_adjustment=risk,
        min_denominator=min_den, target=float(target) if target is not None else None,
        loc=doc.key_loc("id"), source_hash=_hash(path.read_text()),
    )


def load_catalog(root: Path) -> Catalog:
    """Load metrics/facts/*.yaml and metrics/<domain>/*.yaml; raise once with every problem found."""
    root = Path(root)
    problems: list[Diagnostic] = []
    facts: dict[str, Fact] = {}
    definitions = load_definitions(root / DEFINITIONS, problems)
    for path in sorted((root / "facts").glob("*.yaml")):
        fact = load_fact(path, problems, definitions)
        if fact:
            facts[fact.id] = fact
    metrics: dict[str, Metric] = {}
    for path in sorted(p for p in root.rglob("*.yaml") if p.parent.name != "facts" and p != root / DEFINITIONS):
        metric = load_metric(path, facts, problems)
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
