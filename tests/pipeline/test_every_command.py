"""Every command of `carescore`, found in the typer app (so a command is covered the day it is added), run as a user
would run it (a real subprocess) with bad arguments: an unknown option, required arguments left out, and each
parameter in turn given a bad value — a path under a plain file (it can be neither read nor written), a word where a
number is wanted, a value for a flag, a name nothing has — with no publication in the store. Each must fail in one
sentence (one line, or one line per located problem and their count), never with a traceback or an internal error."""

import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import typer

from carescore import cli

COMMANDS = typer.main.get_command(cli.app).commands
LOCATED = re.compile(r"^\S+:\d+:\d+: (error|warning)\[[A-Z]\d{3}\] \S")


def _leaf(hint):
    """The type of one value of a parameter: Path for `Path | None` and `list[Path] | None`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) in (typing.Union, list):
        return _leaf(args[0])
    return hint


def _bad(param, hint, tmp: Path) -> list[str]:
    kind = _leaf(hint)
    if getattr(param, "is_flag", False):
        return [f"{param.opts[0]}=maybe"]
    value = {Path: str(tmp / "a-file" / "nothing"), int: "many"}.get(kind, "no-such-thing")
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


def _invocations(name: str, command, tmp: Path) -> list[list[str]]:
    hints = typing.get_type_hints(command.callback)
    bad = {p.name: _bad(p, hints[p.name], tmp) for p in command.params}
    required = [p.name for p in command.params if p.required]
    out = [[name, "--no-such-option"]] + ([[name]] if required else [])
    for p in command.params:  # this parameter bad, the required others bad as well
        out.append([name, *(v for other in required if other != p.name for v in bad[other]), *bad[p.name]])
    return out


def test_every_command_is_covered():
    assert {"demo", "check", "sql", "run", "validate", "results", "explain", "diff", "stars", "incentives"} <= set(COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bad_arguments_are_one_sentence(name, tmp_path):
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "CARESCORE_STORE": str(tmp_path / "empty-store"), "PYTHONPATH": os.pathsep.join(sys.path)}
    for argv in _invocations(name, COMMANDS[name], tmp_path):
        # in an empty folder: the defaults (data/demo, metrics, data/published) name nothing either
        out = subprocess.run([sys.executable, "-m", "carescore.cli", *argv], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        said = out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert out.returncode != 0, (argv, said)
        assert "Traceback" not in said and "internal error" not in said, (argv, said)
        assert len(lines) == 1 or (all(LOCATED.match(line) for line in lines[:-1])
                                   and re.fullmatch(r"\d+ error\(s\)", lines[-1])), (argv, said)
