"""Start stage scripts as processes a test can kill -9: cold (`python stages/x.py --root R`, a
new interpreter each time) or forked from a warm launcher.

The warm launcher is this file run as a script: it imports torch, transformers, TRL and MLflow
once, then for each request forks a child that runs the stage script exactly as `python
stages/x.py` would (its own pid, argv, cwd, environment, stdout/stderr file). Each start then
costs no import time, so a test can kill and restart a stage many times. One request at a time:
the launcher waits for its child and reports how it ended.

Protocol (JSON lines): request {"argv", "cwd", "env", "log"} -> {"pid"} ... {"pid", "code"}
(code: the exit status, or minus the signal that ended the child).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]


class Process(ABC):
    """A started stage: its pid, and its exit code once it has ended."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.code: int | None = None

    @abstractmethod
    def poll(self, timeout: float = 0.0) -> int | None:
        """The exit code, waiting up to `timeout` s; None while it runs."""

    def wait(self, timeout: float) -> int:
        code = self.poll(timeout)
        if code is None:
            raise TimeoutError(f"stage process {self.pid} still running after {timeout} s")
        return code


class ColdProcess(Process):
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        super().__init__(popen.pid)
        self.popen = popen

    def poll(self, timeout: float = 0.0) -> int | None:
        try:
            self.code = self.popen.wait(timeout) if timeout else self.popen.poll()
        except subprocess.TimeoutExpired:
            return None
        return self.code


class WarmProcess(Process):
    def __init__(self, pid: int, replies: IO[str]) -> None:
        super().__init__(pid)
        self.replies = replies

    def poll(self, timeout: float = 0.0) -> int | None:
        if self.code is None and select.select([self.replies], [], [], timeout)[0]:
            reply = json.loads(self.replies.readline())
            assert reply["pid"] == self.pid, reply
            self.code = reply["code"]
        return self.code


class Launcher:
    """Starts `stages/<script> ARGS --root ROOT` in `root` with MLflow runs in root/mlflow.db."""

    def __init__(self, warm: bool) -> None:
        self.warm = warm
        self.server: subprocess.Popen[str] | None = None
        if warm:
            self.server = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )

    @staticmethod
    def environment(root: Path) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }

    def start(self, args: list[str], root: Path, log: Path) -> Process:
        argv = [str(ROOT / args[0]), *args[1:], "--root", str(root)]
        env = self.environment(root)
        if self.server is None:
            with log.open("ab") as out:
                popen = subprocess.Popen(
                    [sys.executable, *argv], cwd=root, env=os.environ | env, stdout=out, stderr=out
                )
            return ColdProcess(popen)
        assert self.server.stdin and self.server.stdout
        request = {"argv": argv, "cwd": str(root), "env": env, "log": str(log)}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        return WarmProcess(json.loads(self.server.stdout.readline())["pid"], self.server.stdout)

    def close(self) -> None:
        if self.server is not None:
            assert self.server.stdin
            self.server.stdin.close()  # the launcher ends at the end of its input
            self.server.wait(30)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become `python <argv>` and never return."""
    import runpy

    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = list(request["argv"])
        sys.path[0] = str(Path(sys.argv[0]).parent)  # as `python stages/x.py` sets it
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # what the interpreter would run at exit (the child's own)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """The warm launcher: pre-import what the stages import, then fork one child per request."""
    import mlflow
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import trainers.preference
    import trainers.pretrain
    import trainers.sft
    import trainers.training_stage  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
