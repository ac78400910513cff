"""CI check: fail when code, params or dvc.yaml changed and the committed dvc.lock did not follow.

`dvc status` mixes two things: lock drift (a stage's command, params or a tracked dependency no
longer match what dvc.lock recorded) and a workspace that simply lacks data (a fresh clone has
no DVC outputs until `dvc pull` or `dvc repro`). Only the first is an error here. Drift that
`dvc status` cannot see on a fresh clone is found by comparing dvc.yaml with dvc.lock: a stage
that was never locked, an out or dependency declared but not recorded, or recorded but no longer
declared.

    uv run python tools/dvc_lock_check.py [REPO_ROOT]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

# Missing files are a data question (pull or reproduce), never lock drift; "not in cache" means
# the workspace matches dvc.lock but the local cache lacks a copy; "always changed" is declared.
_FINE = {"deleted", "not in cache"}


def status_problems(status: Mapping[str, Any]) -> dict[str, list[str]]:
    """Stage -> lock-drift reasons found in `dvc status --json` output (empty: nothing drifted)."""
    problems: dict[str, list[str]] = {}
    for stage, entries in status.items():
        reasons: list[str] = []
        for entry in entries:
            if entry == "changed command":
                reasons.append("its cmd differs from dvc.lock")
            elif isinstance(entry, str):
                if entry != "always changed":
                    reasons.append(entry)
                continue
            for kind, changes in entry.items() if isinstance(entry, Mapping) else ():
                for path, change in changes.items():
                    if isinstance(change, Mapping):  # a params file: {key: new|modified|deleted}
                        reasons += [f"param {key} {what}" for key, what in change.items()]
                    elif change not in _FINE:
                        reasons.append(f"{kind.removeprefix('changed ')[:-1]} {path} {change}")
        if reasons:
            problems[stage] = reasons
    return problems


def declaration_problems(
    declared: Mapping[str, Mapping[str, Iterable[str]]], lock: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Stage -> mismatches between dvc.yaml's deps/outs (`declared`) and dvc.lock's records."""
    locked = lock.get("stages") or {}
    problems: dict[str, list[str]] = {}
    for stage, kinds in declared.items():
        if stage not in locked:
            problems[stage] = ["not in dvc.lock (never reproduced)"]
            continue
        reasons = []
        for kind in ("deps", "outs"):
            want = set(kinds.get(kind, ()))
            have = {e["path"] for e in locked[stage].get(kind) or []}
            what = kind.removesuffix("s")
            reasons += [f"{what} {p} is declared but not in dvc.lock" for p in sorted(want - have)]
            reasons += [f"dvc.lock records {what} {p}, not declared" for p in sorted(have - want)]
        if reasons:
            problems[stage] = reasons
    for stage in sorted(set(locked) - set(declared)):
        problems[stage] = ["in dvc.lock but no longer in dvc.yaml"]
    return problems


def collect(root: Path) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]], dict[str, Any]]:
    """`dvc status` of every stage, each stage's declared deps/outs, and dvc.lock (parsed)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        status = repo.status()
        declared = {
            stage.addressing: {
                "deps": [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)],
                "outs": [o.def_path for o in stage.outs],
            }
            for stage in repo.index.stages
            if stage.path_in_repo.endswith("dvc.yaml")  # pipeline stages, not `dvc add` files
        }
    lock_file = root / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) if lock_file.exists() else {}
    return status, declared, lock or {}


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    """Dotted key -> value of every leaf under `prefix`."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    return {k: v for key, sub in value.items() for k, v in _leaves(sub, f"{prefix}.{key}").items()}


def param_changes(recorded: Mapping[str, Mapping[str, Any]], root: Path) -> list[str]:
    """Every params-file leaf that differs from what dvc.lock recorded for a stage, as
    `param <dotted key>: <locked> -> <now>` (`recorded`: file -> declared key -> value)."""
    changes = []
    for name, keys in recorded.items():
        current = yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}
        for key, old in keys.items():
            now: Any = current
            for part in key.split("."):
                now = now.get(part, "(absent)") if isinstance(now, Mapping) else "(absent)"
            before, after = _leaves(old, key), _leaves(now, key)
            for leaf in sorted(set(before) | set(after)):
                was, new = before.get(leaf, "(absent)"), after.get(leaf, "(absent)")
                if was != new:
                    changes.append(f"param {leaf}: {was} -> {new}")
    return changes


def check(root: Path) -> dict[str, list[str]]:
    """Stage -> every reason its dvc.lock entry does not follow dvc.yaml, params and code."""
    status, declared, lock = collect(root)
    problems = declaration_problems(declared, lock)
    for stage, reasons in status_problems(status).items():
        recorded = ((lock.get("stages") or {}).get(stage) or {}).get("params") or {}
        detail = (
            param_changes(recorded, root) if any(r.startswith("param ") for r in reasons) else []
        )
        if detail:  # name the leaf and both values, not just the declared section
            reasons = [r for r in reasons if not r.startswith("param ")] + detail
        problems.setdefault(stage, []).extend(r for r in reasons if r not in problems[stage])
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print the stale stages and what to run; exit 1 when there is any."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".").resolve()
    problems = check(root)
    if not problems:
        print("dvc.lock follows dvc.yaml, params.yaml and the code: OK")
        return 0
    print("dvc.lock is stale: commit the lock that matches the code, params and dvc.yaml.")
    for stage, reasons in problems.items():
        print(f"  stage {stage}:")
        for reason in reasons:
            print(f"    - {reason}")
    print(
        "Fix: `uv run dvc repro <stage>` (or `uv run dvc commit <stage>` when the outputs are known"
        " to be unchanged), then commit dvc.lock."
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
