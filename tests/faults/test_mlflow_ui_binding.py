"""Every `mlflow ui` / `mlflow server` instruction in the repository binds to 127.0.0.1.

The tracking store holds params, metrics and traces of paid API runs; a UI bound to 0.0.0.0
would serve them to the whole network. A command line (flags or `uv run`) must say
`--host 127.0.0.1`; a bare mention relies on MLflow's own default, which is checked here too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEXT = {".md", ".py", ".yaml", ".yml", ".toml", ".sh", ".txt", ".cfg", ".ini", ".html"}
# `mlflow ui ...` up to the end of its code span or line: what a person would copy
COMMAND = re.compile(r"((?:uv run\s+)?mlflow\s+(?:ui|server)\b[^`\n]*)")
HOST = re.compile(r"(?:--host|-h)[ =](\S+)")


def instructions() -> list[tuple[str, str]]:
    """(file:line, command) for every mlflow ui/server mention in tracked text files."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in files:
        path = REPO / name
        if path.suffix not in TEXT or name.startswith("tests/") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found += [(f"{name}:{number}", m.strip()) for m in COMMAND.findall(line)]
    return found


def binds_loopback(command: str) -> bool:
    hosts = HOST.findall(command)
    if hosts:
        return all(h.strip("'\"") == "127.0.0.1" for h in hosts)
    is_command_line = command.startswith("uv run") or " -" in command
    return not is_command_line  # a bare mention: MLflow's default (checked below)


def test_every_mlflow_ui_instruction_binds_127_0_0_1() -> None:
    found = instructions()
    assert any("README.md" in where for where, _ in found), "the README's instruction is gone"
    wrong = [(where, cmd) for where, cmd in found if not binds_loopback(cmd)]
    assert wrong == []


def test_the_check_catches_a_public_binding() -> None:
    assert not binds_loopback("uv run mlflow ui --host 0.0.0.0")
    assert not binds_loopback("mlflow server -h 0.0.0.0 --port 5000")
    assert not binds_loopback("uv run mlflow ui --backend-store-uri sqlite:///mlflow.db")
    assert binds_loopback("uv run mlflow ui --backend-store-uri sqlite:///m.db --host 127.0.0.1")
    assert binds_loopback("mlflow ui")


def test_mlflows_own_default_is_loopback() -> None:
    import click
    from mlflow.cli import cli

    for name in ("ui", "server"):
        command = cli.get_command(click.Context(cli), name)
        (host,) = [p for p in command.params if p.name == "host"]
        assert host.default == "127.0.0.1", name
