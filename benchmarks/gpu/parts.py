"""The benchmark's parts, each run in its own process under a time limit.

A fresh process per part gives each its own peak-memory figure and GPU memory back at its end
(vLLM reserves most of the GPU), and a hung or crashing part costs only itself. `python -m
benchmarks.gpu.parts NAME SPEC OUT` runs one part; the parent reads OUT or records why not.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.gpu.workload import REPO

# name -> (module:function, modules it needs, needs CUDA)
PARTS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "model": ("benchmarks.gpu.model_setup:run_build", (), False),
    "sft": ("benchmarks.gpu.train_steps:run_sft", ("trl", "datasets"), False),
    "dpo": ("benchmarks.gpu.train_steps:run_dpo", ("trl", "datasets"), False),
    "hf_generate": ("benchmarks.gpu.gen_speed:run_hf_generate", (), False),
    "vllm_generate": ("benchmarks.gpu.gen_speed:run_vllm_generate", ("vllm",), True),
    "project_eval": ("benchmarks.gpu.eval_speed:run_project_eval", (), False),
    "lm_eval": ("benchmarks.gpu.eval_speed:run_lm_eval", ("lm_eval",), False),
}


def function(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    module, attr = PARTS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


def why_not(name: str, device: str) -> str | None:
    """Why `name` cannot run here (a module not installed, no CUDA), or None.

    find_spec only: importing vLLM in the parent would start CUDA and hold GPU memory."""
    _, modules, cuda = PARTS[name]
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if cuda and not device.startswith("cuda"):
        return "needs a CUDA GPU; running on the CPU"
    return None


def _last_error(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return (errors or lines or ["(no output)"])[-1][:500]


def run_isolated(name: str, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run part `name` in a child process; its figures, or status failed/timeout with the reason."""
    work = Path(spec["work"])
    (work / "logs").mkdir(parents=True, exist_ok=True)
    spec_path, out_path = work / f"{name}.spec.json", work / f"{name}.result.json"
    log = work / "logs" / f"{name}.log"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    }
    cmd = [sys.executable, "-m", "benchmarks.gpu.parts", name, str(spec_path), str(out_path)]
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as sink:
        # its own session: a timeout kills the part and whatever it started (vLLM's workers)
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {
                "status": "timeout",
                "reason": f"stopped at its {timeout_s:g} s time box",
                "wall_s": round(time.perf_counter() - start, 1),
                "log": str(log),
            }
    wall = round(time.perf_counter() - start, 1)
    if code != 0 or not out_path.exists():
        return {"status": "failed", "reason": _last_error(log), "wall_s": wall, "log": str(log)}
    return {"status": "ok", "reason": None, "wall_s": wall} | json.loads(out_path.read_text())


def run_inline(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The same in this process (tests, or debugging): no time box beyond the parts' own."""
    start = time.perf_counter()
    try:
        figures = function(name)(spec)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        return {
            "status": "failed",
            "reason": reason,
            "wall_s": round(time.perf_counter() - start, 1),
        }
    return {
        "status": "ok",
        "reason": None,
        "wall_s": round(time.perf_counter() - start, 1),
    } | figures


def main(argv: list[str]) -> None:
    name, spec_path, out_path = argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    figures = function(name)(json.loads(Path(spec_path).read_text(encoding="utf-8")))
    Path(out_path).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
