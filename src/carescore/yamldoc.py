"""The one reader of every YAML file carescore reads: metric definitions, fact views, shared definitions, table
contracts, star-rating methods and payer scenarios.

`read` gives a file's top mapping as a `Node` that knows the file:line:col of every key and value, or None with
one located problem: the file cannot be read (M000), is not text (M006), is not YAML (M001), repeats a key
(M009), nests too deeply or expands past MAX_VALUES through aliases (M008), is empty (M007) or is not a mapping
(M035). `check` then holds a node against a schema made of `Keys` (a mapping of known keys), `MapOf` (names the
author chooses), `ListOf`, `AnyOf`, `OneOf` and the single values below, and reports each unknown key with a
suggestion (M003), missing key (M002), single value of the wrong type or out of range (M004), value outside a
fixed set (M005) and wrong shape, such as one value where a list is expected (M035), where it is. A `Field` may
give a value its own code and words. `load` does both (definitions.yaml is checked one definition at a time).

Code that reads a checked node indexes it without guarding against shapes: a typo in a file is then a located
error, never a traceback, and never a check that silently drops out."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import LiteralScalarString

from .issues import Diagnostic, Loc, did_you_mean

MAX_NESTING = 50  # levels of lists and mappings: no carescore file needs ten, and ruamel recurses once per level
MAX_VALUES = 100_000  # after aliases are expanded: a few lines of `*alias` can otherwise stand for billions
MISSING, UNKNOWN, WRONG_TYPE, NOT_ALLOWED, WRONG_SHAPE = "M002", "M003", "M004", "M005", "M035"


class Node:
    """A value read from YAML (`value`, as ruamel gives it) and where it is; `what` names it in messages:
    a dotted path such as `columns.admit_date.type`, or what the file is for its top mapping."""

    __slots__ = ("path", "value", "loc", "label", "what")

    def __init__(self, path: str, value, loc: Loc, label: str = "", what: str | None = None):
        self.path, self.value, self.loc, self.label = path, value, loc, label
        self.what = what or label

    def _lc(self, how: str, key) -> Loc | None:
        try:
            line, col = getattr(self.value.lc, how)(key)
        except (AttributeError, KeyError, IndexError, TypeError):
            return None
        return Loc(self.path, line + 1, col + 1)

    def key_loc(self, key) -> Loc:
        return self._lc("key", key) or self.loc

    def value_loc(self, key) -> Loc:
        """Where the value of `key` starts (of item `key` for a list)."""
        if isinstance(self.value, list):
            return self._lc("item", key) or self.loc
        return self._lc("value", key) or self.key_loc(key)

    def __getitem__(self, key) -> Node:
        if isinstance(self.value, list):
            label = f"{self.label}[{key}]"
        else:
            label = f"{self.label}.{key}" if self.label else str(key)
        return Node(self.path, self.value[key], self.value_loc(key), label)

    def __contains__(self, key) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def is_block(self, key) -> bool:
        """Whether the value of `key` was written as a `|` block (its lines are kept as they stand)."""
        return isinstance(self.value[key], LiteralScalarString)

    def get(self, key, default=None):
        """The plain value of `key`, or `default` when it is absent."""
        return plain(self.value[key]) if key in self else default

    def items(self) -> list[tuple[str, Node]]:
        return [(str(k), self[k]) for k in self.value] if isinstance(self.value, dict) else []

    def nodes(self) -> list[Node]:
        return [self[i] for i in range(len(self.value))] if isinstance(self.value, list) else []


def plain(value):
    """`value` as plain Python (dict, list, str, int, float, bool, date, None): what a checked node holds once
    it leaves the reader."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    for kind in (bool, int, float, str):  # ruamel's scalar subclasses keep their style; callers need none of it
        if isinstance(value, kind):
            return kind(value)
    return value


def shown(value, room: int = 40) -> str:
    """A short rendering of a value for a message; bounded, so a value built from aliases cannot blow it up."""
    out: list[str] = []
    size = 0

    def put(text: str) -> bool:
        nonlocal size
        out.append(text)
        size += len(text)
        return size <= room

    def render(v) -> bool:
        if isinstance(v, dict):
            if not put("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not put(", ")) or not put(f"{k}: ") or not render(item):
                    return False
            return put("}")
        if isinstance(v, list):
            if not put("["):
                return False
            for i, item in enumerate(v):
                if (i and not put(", ")) or not render(item):
                    return False
            return put("]")
        if v is None:
            return put("nothing")
        if isinstance(v, bool):
            return put("true" if v else "false")
        if isinstance(v, str):
            return put(repr(str(v)))
        return put(v.isoformat() if isinstance(v, dt.date) else str(v))

    render(value)
    text = "".join(out)
    return text if len(text) <= room else text[:room - 3] + "..."


# ------------------------------------------------------------------------------------------------ schema


@dataclass(frozen=True)
class Scalar:
    """A single value: `test` says which."""
    words: str
    test: Callable[[object], bool] = field(compare=False)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


TEXT = Scalar("text", lambda v: isinstance(v, str))
NUMBER = Scalar("a number", _number)
WHOLE = Scalar("a whole number", lambda v: _number(v) and isinstance(v, int))
FLAG = Scalar("true or false", lambda v: isinstance(v, bool))
SINGLE = Scalar("a single value", lambda v: isinstance(v, (str, int, float, dt.date)))
NULL = Scalar("nothing (null)", lambda v: v is None)


def whole(minimum: int) -> Scalar:
    return Scalar(f"a whole number ≥ {minimum}", lambda v: WHOLE.test(v) and v >= minimum)


def number(low: float | None = None, above: float | None = None, below: float | None = None) -> Scalar:
    """A number within bounds: `low` inclusive, `above` and `below` exclusive."""
    bounds = [(low, "≥", lambda v, b: v >= b), (above, ">", lambda v, b: v > b), (below, "<", lambda v, b: v < b)]
    bounds = [(b, sign, ok) for b, sign, ok in bounds if b is not None]
    words = " and ".join(f"{sign} {b:g}" for b, sign, _ in bounds)
    return Scalar(f"a number {words}", lambda v: _number(v) and all(ok(v, b) for b, _, ok in bounds))


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of text values; anything else is M005 with a suggestion."""
    options: tuple

    @property
    def words(self) -> str:
        return f"one of {', '.join(map(str, self.options))}"


@dataclass(frozen=True)
class ListOf:
    """A list. An item of the wrong type or shape makes the whole list wrong (reported once, at the list, with the
    list's words); an item outside its choices (OneOf) is reported at the item."""
    item: object
    words: str | None = None


@dataclass(frozen=True)
class Field:
    """A value at a key, with its own code and words for a wrong value (e.g. M030 for `reporting`)."""
    schema: object
    required: bool = False
    code: str | None = None
    words: str | None = None


@dataclass(frozen=True)
class Keys:
    """A mapping of known keys, each a `Field` or a schema (optional)."""
    fields: dict
    words: str = "a mapping of keys"

    def field(self, key) -> Field | None:
        f = self.fields.get(key)
        return f if f is None or isinstance(f, Field) else Field(f)


@dataclass(frozen=True)
class MapOf:
    """A mapping from names the author chooses (groups, columns, measures) to values of one schema."""
    value: object
    words: str = "a mapping of names to values"


@dataclass(frozen=True)
class AnyOf:
    """One of several schemas, chosen by the value's shape (a single value, a list or a mapping)."""
    options: tuple
    words: str | None = None


def _words(schema) -> str:
    if isinstance(schema, ListOf):
        return schema.words or f"a list of {_plural(schema.item)}"
    if isinstance(schema, AnyOf):
        return schema.words or " or ".join(_words(s) for s in schema.options)
    return schema.words


def _plural(schema) -> str:
    return {TEXT.words: "text values", NUMBER.words: "numbers", WHOLE.words: "whole numbers",
            SINGLE.words: "single values"}.get(_words(schema), "values")


def _shape(schema) -> type:
    if isinstance(schema, (Keys, MapOf)):
        return dict
    return list if isinstance(schema, ListOf) else object  # object: a single value


def _of_shape(value, shape: type) -> bool:
    return not isinstance(value, (dict, list)) if shape is object else isinstance(value, shape)


def _pick(schema, value):
    """The option of an AnyOf that fits `value` by shape (the first single-value option that accepts it)."""
    if not isinstance(schema, AnyOf):
        return schema
    fits = [s for s in schema.options if _of_shape(value, _shape(s))]
    for s in fits:
        if not isinstance(s, Scalar) or s.test(value):
            return s
    return fits[0] if fits else None


def _fits(schema, value) -> bool:
    """Whether `value` has the type and shape `schema` wants at its own level (not what is inside it)."""
    schema = _pick(schema, value)
    if schema is None:
        return False
    if isinstance(schema, Scalar):
        return schema.test(value)
    if isinstance(schema, OneOf):
        return _of_shape(value, object)  # which value: checked next, with a suggestion
    if isinstance(schema, ListOf):
        return isinstance(value, list) and all(_fits(schema.item, v) for v in value)
    return isinstance(value, dict)


def check(node: Node, schema, problems: list[Diagnostic], spec: Field | None = None) -> bool:
    """Report every way `node` differs from `schema`; True when its values can be read as the schema says (an
    unknown key is reported, but leaves it readable)."""
    spec = spec or Field(schema)
    words = spec.words or _words(schema)
    if not _fits(schema, node.value):
        single = isinstance(_pick(schema, node.value), Scalar) and _of_shape(node.value, object)
        problems.append(Diagnostic(node.loc, spec.code or (WRONG_TYPE if single else WRONG_SHAPE),
                                   f"{node.what} must be {words}; got {shown(node.value)}"))
        return False
    schema = _pick(schema, node.value)
    if isinstance(schema, OneOf):
        if node.value in schema.options:
            return True
        problems.append(Diagnostic(node.loc, spec.code or NOT_ALLOWED, f"{node.what} must be {words}; got "
                                   f"{shown(node.value)}" + did_you_mean(str(node.value), map(str, schema.options))))
        return False
    if isinstance(schema, ListOf):
        return all([check(item, schema.item, problems) for item in node.nodes()])
    if isinstance(schema, MapOf):
        return all([check(child, schema.value, problems) for _, child in node.items()])
    if isinstance(schema, Keys):
        return _check_keys(node, schema, problems)
    return True


def _check_keys(node: Node, schema: Keys, problems: list[Diagnostic]) -> bool:
    ok = True  # an unknown key is reported, but nothing reads it: the rest of the mapping can still be checked
    for key in node.value:
        spec = schema.field(key)
        if spec is None:
            problems.append(Diagnostic(node.key_loc(key), UNKNOWN, f"unknown key '{key}' in {node.what}"
                                       + did_you_mean(str(key), schema.fields)))
        elif not check(node[key], spec.schema, problems, spec):
            ok = False
    for key in schema.fields:
        if schema.field(key).required and key not in node.value:
            problems.append(Diagnostic(node.loc, MISSING, f"{node.what} is missing required key '{key}'"))
            ok = False
    return ok


# ------------------------------------------------------------------------------------------------ reading


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # round trip: keeps the position of every key and value
    yaml.allow_duplicate_keys = False
    return yaml


def _text_loc(path: str, text, offset: int) -> Loc:
    """Line and column of a character (or byte) offset in `text`."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    return Loc(path, text.count(newline, 0, offset) + 1, offset - (text.rfind(newline, 0, offset) + 1) + 1)


def _bracket_too_deep(path: str, text: str) -> Loc:
    # ruamel ran out of stack: point at the first bracket past the nesting allowed.
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "[{") - (ch in "]}")
        if depth > MAX_NESTING:
            return _text_loc(path, text, i)
    return Loc(path)


def _not_text(value) -> bool:
    # a double-quoted "\ud800" is a lone surrogate: no encoding can write it, so nothing downstream could use it
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _scan(path: str, value) -> Diagnostic | None:
    """A list or mapping more than MAX_NESTING levels below the top, or a string that is not text, if any."""
    stack, seen = [(value, 0)], set()
    while stack:
        v, depth = stack.pop()
        if id(v) in seen:  # aliases: each node once
            continue
        seen.add(id(v))
        if depth > MAX_NESTING:
            return Diagnostic(Loc(path, v.lc.line + 1, v.lc.col + 1), "M008",
                              f"the YAML is nested too deeply (more than {MAX_NESTING} levels)")
        for key in v if isinstance(v, dict) else range(len(v)):
            child, how = v[key], "value" if isinstance(v, dict) else "item"
            for text, place in ((key, "key"), (child, how)):
                if isinstance(text, str) and _not_text(text):
                    line, col = getattr(v.lc, place)(key)
                    return Diagnostic(Loc(path, line + 1, col + 1), "M006",
                                      "the value is not text: it holds an unpaired surrogate escape such as \\ud800")
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    if _expanded(value, {}) > MAX_VALUES:
        return Diagnostic(Loc(path), "M008", f"the YAML stands for more than {MAX_VALUES:,} values once its aliases "
                          "(*name) are expanded")
    return None


def _expanded(value, sizes: dict) -> int:
    """How many values `value` holds with every alias written out (each node counted once, so this is fast)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in sizes:
        sizes[id(value)] = 1 + sum(_expanded(v, sizes) for v in (value.values() if isinstance(value, dict) else value))
    return sizes[id(value)]


def _first_line(text: str, key: str, start: int, again) -> int | None:
    """The line of the first `key` of a block mapping repeated at `again` (ruamel marks only the mapping)."""
    lines = text.splitlines()
    for i in range(start, again.line):
        head, rest = lines[i][:again.column], lines[i][again.column:]
        if head.strip(" -") == "" and re.match(rf"""['"]?{re.escape(key)}['"]?\s*:""", rest):
            return i + 1
    return None


def read(path: Path, problems: list[Diagnostic], kind: str) -> Node | None:
    """The file's top mapping, or None with one located problem. `kind` says what the file is, for messages
    ('a metric definition', 'a table contract')."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        problems.append(Diagnostic(Loc(where), "M000", f"cannot read {kind}: {reason[:1].lower() + reason[1:]}"))
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        problems.append(Diagnostic(_text_loc(where, data, err.start), "M006",
                                   f"the file is not text: byte 0x{data[err.start]:02x} is not UTF-8"))
        return None
    try:
        value = _yaml().load(text)
    except DuplicateKeyError as err:
        mark = err.problem_mark
        key = (re.search(r'duplicate key "(.*?)"', str(err.problem)) or [None, "?"])[1]
        first = _first_line(text, key, err.context_mark.line, mark)
        problems.append(Diagnostic(Loc(where, mark.line + 1, mark.column + 1), "M009", f"duplicate key '{key}'"
                                   + (f" (first at line {first})" if first else "") + "; each key may appear once"))
        return None
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
        problems.append(Diagnostic(_bracket_too_deep(where, text), "M008",
                                   f"the YAML is nested too deeply (more than {MAX_NESTING} levels)"))
        return None
    if value is None:
        problems.append(Diagnostic(Loc(where), "M007", f"the file is empty; {kind} is a mapping of keys"))
        return None
    if not isinstance(value, dict):
        problems.append(Diagnostic(Loc(where), WRONG_SHAPE, f"{kind} must be a mapping of keys; got {shown(value)}"))
        return None
    problem = _scan(where, value)
    if problem:
        problems.append(problem)
        return None
    return Node(where, value, Loc(where), what=kind)


def load(path: Path, schema, problems: list[Diagnostic], kind: str, what: str | None = None) -> Node | None:
    """`read` and `check`: the file's top mapping when it can be read as `schema` says, else None (every problem
    reported). `what` names the top mapping in messages ('metric readmission_30d'; default `kind`)."""
    doc = read(path, problems, kind)
    if doc is None:
        return None
    doc.what = what or kind
    return doc if check(doc, schema, problems) else None
