"""How DVC starts a training stage: params `launch:` chooses plain python, `accelerate launch` on
one node, or accelerate across nodes (a DeepSpeed hostfile, or SLURM). stages/launch.py builds
the command here and execs it, so the stage is the same process: signals and the exit code are
the stage's own, and `dvc.lock` records the launch params that chose it. Under accelerate its
launcher sits between: torchrun (several processes) forwards SIGINT/SIGTERM to the workers and
fails when one fails; the one-process launcher reports any failure as status 1 and does not
forward SIGTERM, so one process is `launcher: python`'s job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from data_core.config import Strict, parse_section
from data_core.errors import ConfigError

Launcher = Literal["python", "accelerate", "slurm"]
SLURM_TASK = "ULTRAMEDICAL_SLURM_TASK"  # set on the per-node tasks stages/launch.py starts


class LaunchConfig(Strict):
    """params `launch:`; the accelerate keys mirror `accelerate launch`'s flags of the same name."""

    launcher: Launcher = "python"
    config_file: str | None = None  # an accelerate config (configs/accelerate/zero3.yaml)
    num_processes: int | None = Field(None, ge=1)  # all machines together; None: config_file's
    num_machines: int = Field(1, ge=1)
    machine_rank: int | None = Field(None, ge=0)  # launcher accelerate only; slurm: SLURM_NODEID
    main_process_ip: str | None = None  # None under slurm: the job's first host
    main_process_port: int = Field(29500, ge=1, le=65535)
    hostfile: str | None = None  # DeepSpeed hostfile: one launch on the head node reaches all
    multinode_launcher: Literal["pdsh", "standard", "openmpi", "mvapich", "mpich"] = "pdsh"
    mixed_precision: Literal["no", "fp16", "bf16", "fp8"] | None = None  # None: config_file's
    cpu: bool = False  # accelerate --cpu (a launch check without a GPU)
    python_stages: list[str] = Field(default_factory=list)  # always one process (pretrain's copy)
    srun_args: list[str] = Field(default_factory=list)  # the cluster's own (--gpus-per-node=8, ...)

    @model_validator(mode="after")
    def _consistent(self) -> LaunchConfig:
        if self.launcher == "python":
            return self
        if self.config_file is None:
            raise ValueError(f"launcher {self.launcher} needs config_file (configs/accelerate/)")
        multi = self.num_machines > 1 or self.launcher == "slurm"
        if multi and self.num_processes is None:
            raise ValueError("a multi-node launch needs num_processes (all machines together)")
        if self.num_processes is not None and self.num_processes % self.num_machines:
            raise ValueError(
                f"num_processes {self.num_processes} is not a multiple of num_machines "
                f"{self.num_machines} (the same number of processes on every machine)"
            )
        unplaced = self.hostfile is None and None in (self.main_process_ip, self.machine_rank)
        if self.launcher == "accelerate" and self.num_machines > 1 and unplaced:
            raise ValueError(
                "num_machines > 1 needs a hostfile, or main_process_ip and machine_rank "
                "(or launcher slurm, which takes them from the job)"
            )
        return self


def parse_launch(params: Mapping[str, Any]) -> LaunchConfig:
    """The `launch:` section, validated; a params file without one runs stages with python."""
    return parse_section({"launch": {}, **params}, "launch", LaunchConfig)


def slurm_first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (`gpu[01-04]`): scontrol expands it where present."""
    if shutil.which("scontrol"):
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
        ).stdout.split()
        if out:
            return out[0]
    # no scontrol: the common forms `a,b` and `gpu[01-04,07]` by hand
    match = re.match(r"([^,\[]+)(?:\[([^\],-]+))?", nodelist)
    if match is None:
        raise ConfigError(f"SLURM_JOB_NODELIST {nodelist!r}: no host in it")
    return match.group(1) + (match.group(2) or "")


def _accelerate() -> str:
    """The `accelerate` script of this interpreter's environment (the one DVC runs), else PATH's."""
    local = Path(sys.executable).parent / "accelerate"
    return str(local) if local.is_file() else "accelerate"


def build_command(
    cfg: LaunchConfig,
    stage: str,
    args: Sequence[str],
    root: Path,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv that runs `stages/<stage>.py args` with the configured launcher."""
    env = os.environ if env is None else env
    script = root / "stages" / f"{stage}.py"
    if not re.fullmatch(r"[a-z_]+", stage) or not script.is_file():
        raise ConfigError(f"no stage script stages/{stage}.py under {root}")
    if cfg.launcher == "python" or stage in cfg.python_stages:
        return [sys.executable, str(script), *args]
    if cfg.launcher == "slurm" and env.get(SLURM_TASK) != "1":
        # where `dvc repro` runs (the batch script, an salloc shell): one task per node, each
        # re-entering here marked as a task (our own mark: Slurm's step variables differ between
        # a batch script and an interactive step)
        return [
            "srun",
            f"--nodes={cfg.num_machines}",
            "--ntasks-per-node=1",
            f"--export=ALL,{SLURM_TASK}=1",
            *cfg.srun_args,
            sys.executable,
            str(root / "stages" / "launch.py"),
            stage,
            *args,
        ]
    config_file = root / str(cfg.config_file)
    if not config_file.is_file():
        raise ConfigError(f"params.yaml: launch.config_file: {cfg.config_file} does not exist")
    kind = (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("distributed_type")
    if cfg.hostfile is not None and kind != "DEEPSPEED":
        # accelerate reaches a hostfile's nodes only through DeepSpeed's runner
        raise ConfigError(f"params.yaml: launch.hostfile: {cfg.config_file} is not a DeepSpeed one")
    cmd = [_accelerate(), "launch", "--config_file", str(config_file)]
    if cfg.cpu:
        cmd.append("--cpu")
    if cfg.num_processes is not None:
        cmd += ["--num_processes", str(cfg.num_processes)]
    if cfg.mixed_precision is not None:
        cmd += ["--mixed_precision", cfg.mixed_precision]
    cmd += _machines(cfg, env)
    return [*cmd, str(script), *args]


def _machines(cfg: LaunchConfig, env: Mapping[str, str]) -> list[str]:
    """accelerate's multi-node flags: from the SLURM job (launcher slurm) or from params."""
    if cfg.launcher == "accelerate" and cfg.num_machines == 1:
        return []
    rank, ip = cfg.machine_rank, cfg.main_process_ip
    if cfg.launcher == "slurm":
        if "SLURM_NODEID" not in env or "SLURM_JOB_NODELIST" not in env:
            raise ConfigError("launch.launcher slurm: SLURM_NODEID / SLURM_JOB_NODELIST unset")
        rank = int(env["SLURM_NODEID"])
        ip = ip or slurm_first_host(env["SLURM_JOB_NODELIST"])
    cmd = ["--num_machines", str(cfg.num_machines)]
    if cfg.hostfile is not None and cfg.launcher == "accelerate":
        # DeepSpeed's runner starts every node from here (ssh/pdsh): rank 0 is this machine
        cmd += ["--deepspeed_hostfile", cfg.hostfile]
        cmd += ["--deepspeed_multinode_launcher", cfg.multinode_launcher]
        rank = 0 if rank is None else rank
    if ip is not None:
        cmd += ["--main_process_ip", ip]
    cmd += ["--machine_rank", str(rank), "--main_process_port", str(cfg.main_process_port)]
    return cmd


def launch(stage: str, args: Sequence[str], root: Path, params: Mapping[str, Any]) -> None:
    """Replace this process by the stage's launch (never returns)."""
    cmd = build_command(parse_launch(params), stage, args, root)
    print(f"launch: {' '.join(cmd)}", file=sys.stderr, flush=True)
    os.execvp(cmd[0], cmd)
