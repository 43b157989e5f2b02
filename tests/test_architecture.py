"""The boundaries ARCHITECTURE.md draws, checked on the source: who imports whom (read with ast, lazy imports
included), which package alone may use DuckDB, Great Expectations and Streamlit, and that no SQL is built by
formatting strings. Each check is also run on a copy of the source with a planted violation, so it can fail."""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
APP = REPO / "app"

# Inside carescore: what each package may import besides itself and the SHARED modules every stage may import
# (`issues`, the error root; `yamldoc`, the one located-YAML reader). The wiring (pipeline.py, cli.py,
# __init__.py) may import anything; nothing else may import the wiring.
SHARED = {"issues", "yamldoc"}
MAY_IMPORT = {
    "issues": set(),
    "yamldoc": {"issues"},
    "define": set(),
    "extracts": {"define"},
    "dq": {"define", "extracts"},
    "compute": {"define", "extracts"},
    "publish": set(),
    "payer": set(),
}
WIRING = {"cli", "pipeline", "__init__"}
# The shared modules sit under every stage, so they use only the standard library and these.
SHARED_LIBRARIES = {"issues": set(), "yamldoc": {"ruamel"}}
# Libraries only some modules may import (a module name, or a package and everything in it); streamlit: none in src.
CONFINED = {
    "duckdb": ("carescore.compute.engine", "carescore.dq"),
    "duckdb_engine": ("carescore.dq",),
    "sqlalchemy": ("carescore.dq",),
    "great_expectations": ("carescore.dq",),
    "streamlit": (),
    "ruamel": ("carescore.yamldoc",),  # one reader of YAML
}
# The app reads the published bundle: it never loads extracts, checks data, compiles or runs SQL.
APP_MAY_NOT = ("duckdb", "great_expectations", "sqlglot", "carescore.extracts", "carescore.dq",
               "carescore.compute.compile", "carescore.compute.engine", "carescore.pipeline", "carescore.cli")
# A SQL statement or clause in the literal text of an f-string (placeholders read as {}). English words such as
# "from" or "where" alone do not count: messages use them.
SQL_SHAPE = re.compile(r"\bselect\b[\s\S]*\bfrom\b|\binsert\s+into\b|\bdelete\s+from\b|\bupdate\s+\S+\s+set\b"
                       r"|\bcreate\s+(or\s+replace\s+)?(temp(orary)?\s+)?(table|view|macro|schema|index)\b"
                       r"|\bwhere\s*\(?\{\}|\bfrom\s+\{\}\s*(as|where|join|left|group|order|limit|union)\b",
                       re.IGNORECASE)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file; `from x import y` gives x.y, as y may be a module."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def stage(module: str) -> str:
    """carescore.compute.engine → compute; carescore.issues → issues; carescore.__version__ → __init__."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in MAY_IMPORT or parts[1] in WIRING else "__init__"


def boundary_violations(src: Path = SRC) -> list[str]:
    out = []
    for path in sorted((src / "carescore").rglob("*.py")):
        here = module_name(path, src)
        for line, target in imports(path, src):
            where = f"{path.relative_to(src)}:{line}: {here} imports {target}"
            top = target.split(".")[0]
            if top in CONFINED and not within(here, CONFINED[top]):
                out.append(f"{where}, which only {', '.join(CONFINED[top]) or 'app/'} may import")
            if top in ("lib", "app"):
                out.append(f"{where}: the package never imports the app's library")
            mine = stage(here)
            if mine in SHARED and top not in (*sys.stdlib_module_names, "carescore", *SHARED_LIBRARIES[mine]):
                libraries = " and ".join(sorted(SHARED_LIBRARIES[mine]))
                out.append(f"{where}: {mine} uses only the standard library{' and ' + libraries if libraries else ''}")
            if top != "carescore":
                continue
            theirs = stage(target)
            if mine in WIRING or theirs == mine or target == "carescore.__version__":
                continue
            if theirs not in MAY_IMPORT[mine] | (set() if mine in SHARED else SHARED):
                out.append(f"{where}: {mine} may import {allowed(mine)}")
    return out


def allowed(mine: str) -> str:
    names = ", ".join(sorted(MAY_IMPORT[mine]))
    if mine in SHARED:
        return names or "nothing"
    return names or "nothing but " + " and ".join(sorted(SHARED))


def app_violations(app: Path = APP) -> list[str]:
    out = []
    for path in sorted(app.rglob("*.py")):
        for line, target in imports(path, app):
            if within(target, APP_MAY_NOT):
                out.append(f"app/{path.relative_to(app)}:{line}: imports {target}; the app reads the published bundle")
    return out


def streamlit_outside_app() -> list[str]:
    out = []
    for folder in (SRC, REPO / "bench"):
        for path in sorted(folder.rglob("*.py")):
            out += [f"{path.relative_to(REPO)}:{line}: imports {target}" for line, target in imports(path, folder)
                    if target.split(".")[0] == "streamlit"]
    return out


def sql_fstrings(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                if SQL_SHAPE.search(text):
                    out.append(f"{path.relative_to(folder.parent)}:{node.lineno}: {text[:80]!r}")
    return out


def test_packages_import_only_what_architecture_allows():
    assert boundary_violations() == []


def test_the_app_reads_the_publication_only():
    assert app_violations() == []


def test_streamlit_is_imported_only_under_app():
    assert streamlit_outside_app() == []


def test_no_fstring_builds_sql():
    """SQL is built as sqlglot trees (compute/compile.py, dq/validate.py), never by formatting text."""
    assert sql_fstrings(SRC) + sql_fstrings(APP) == []


def test_the_checks_catch_planted_violations(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SRC / "carescore", src / "carescore", ignore=shutil.ignore_patterns("__pycache__"))
    plants = {
        "compute/stats.py": "import duckdb\n",
        "compute/suppress.py": "from ..publish import store\n",
        "define/spec.py": "from ..compute import compile\n",
        "publish/store.py": "def _later():\n    import streamlit\n    from lib import data\n",
        "extracts/demo.py": "import great_expectations\n",
        "payer/stars.py": "from carescore import pipeline\n",
        "yamldoc.py": "from .define import spec\nimport polars\n",
        "issues.py": ("from .yamldoc import Keys\n"
                      "QUERY = f\"SELECT * FROM {'t'} WHERE x\"\nFRAGMENT = f\"{'c'} NOT IN (SELECT k FROM {'t'})\"\n"),
    }
    for name, code in plants.items():
        path = src / "carescore" / name
        path.write_text(path.read_text() + code)
    found = "\n".join(boundary_violations(src))
    assert "carescore.compute.stats imports duckdb, which only" in found
    assert "carescore.compute.suppress imports carescore.publish.store: compute may import define, extracts" in found
    assert ("carescore.define.spec imports carescore.compute.compile: define may import nothing but issues and yamldoc"
            in found)
    assert "carescore.publish.store imports streamlit, which only app/ may import" in found
    assert "carescore.publish.store imports lib.data: the package never imports the app's library" in found
    assert "carescore.extracts.demo imports great_expectations" in found
    assert "carescore.payer.stars imports carescore.pipeline: payer may import nothing but issues and yamldoc" in found
    assert "carescore.yamldoc imports carescore.define.spec: yamldoc may import issues" in found
    assert "carescore.yamldoc imports polars: yamldoc uses only the standard library and ruamel" in found
    assert "carescore.issues imports carescore.yamldoc.Keys: issues may import nothing" in found
    assert len(sql_fstrings(src)) == 2
    assert sql_fstrings(REPO / "tests" / "app") == []  # English with "from" and "where" is not SQL


def test_the_app_check_catches_a_planted_import(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    page = app / "pages_" / "find.py"
    page.write_text(page.read_text() + "from carescore.compute import engine\n")
    line = len(page.read_text().splitlines())
    assert app_violations(app) == [f"app/pages_/find.py:{line}: imports carescore.compute.engine; the app reads the "
                                   "published bundle"]
