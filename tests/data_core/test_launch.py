"""params `launch:` -> the command each launcher builds, its validation, and stages/launch.py run
for real: the stage replaces the launcher (exec), so its exit code and signals are the stage's."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from data_core.errors import ConfigError
from data_core.launch import build_command, parse_launch, slurm_first_host

REPO = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository root with the launcher, one stage script and the accelerate configs."""
    (tmp_path / "stages").mkdir()
    shutil.copy(REPO / "stages/launch.py", tmp_path / "stages/launch.py")
    (tmp_path / "stages/train.py").write_text(FAKE_STAGE)
    shutil.copytree(REPO / "configs/accelerate", tmp_path / "configs/accelerate")
    return tmp_path


def command(root: Path, launch: dict, env: dict[str, str] | None = None) -> list[str]:
    cfg = parse_launch({"launch": launch})
    return build_command(cfg, "train", ["--loss", "dpo"], root, env=env or {})


def test_python_runs_the_stage_script_as_today(root: Path) -> None:
    assert command(root, {}) == [sys.executable, str(root / "stages/train.py"), "--loss", "dpo"]


def test_accelerate_on_one_node(root: Path) -> None:
    cmd = command(
        root,
        {
            "launcher": "accelerate",
            "config_file": "configs/accelerate/zero3.yaml",
            "num_processes": 8,
            "mixed_precision": "bf16",
        },
    )
    assert cmd == [
        ACCELERATE,
        "launch",
        "--config_file",
        str(root / "configs/accelerate/zero3.yaml"),
        "--num_processes",
        "8",
        "--mixed_precision",
        "bf16",
        str(root / "stages/train.py"),
        "--loss",
        "dpo",
    ]


MULTI = {
    "launcher": "accelerate",
    "config_file": "configs/accelerate/zero3.yaml",
    "num_processes": 16,
    "num_machines": 2,
}


def test_accelerate_across_nodes_from_params(root: Path) -> None:
    cmd = command(root, {**MULTI, "machine_rank": 1, "main_process_ip": "10.0.0.1"})
    flags = cmd[cmd.index("--num_machines") : cmd.index(str(root / "stages/train.py"))]
    assert flags == [
        "--num_machines",
        "2",
        "--main_process_ip",
        "10.0.0.1",
        "--machine_rank",
        "1",
        "--main_process_port",
        "29500",
    ]


def test_accelerate_across_nodes_with_a_deepspeed_hostfile(root: Path) -> None:
    cmd = command(root, {**MULTI, "hostfile": "/etc/hostfile"})
    at = cmd.index("--deepspeed_hostfile")
    assert cmd[at : at + 4] == [
        "--deepspeed_hostfile",
        "/etc/hostfile",
        "--deepspeed_multinode_launcher",
        "pdsh",
    ]
    assert cmd[cmd.index("--machine_rank") + 1] == "0"  # the head node starts every node
    single = {**MULTI, "hostfile": "h", "config_file": "configs/accelerate/single_gpu.yaml"}
    with pytest.raises(ConfigError, match=r"launch.hostfile: .*single_gpu.yaml is not a DeepSpeed"):
        command(root, single)


SLURM = {**MULTI, "launcher": "slurm", "num_machines": 4, "num_processes": 32}


def test_slurm_batch_step_fans_out_one_task_per_node(root: Path) -> None:
    # an interactive step (salloc with use_interactive_step) has Slurm step variables too
    env = {"SLURM_JOB_NODELIST": "gpu[07-10]", "SLURM_NODEID": "0", "SLURM_STEP_ID": "0"}
    cmd = command(root, {**SLURM, "srun_args": ["--gpus-per-node=8"]}, env=env)
    assert cmd == [
        "srun",
        "--nodes=4",
        "--ntasks-per-node=1",
        "--export=ALL,ULTRAMEDICAL_SLURM_TASK=1",
        "--gpus-per-node=8",
        sys.executable,
        str(root / "stages/launch.py"),
        "train",
        "--loss",
        "dpo",
    ]


def test_slurm_task_takes_rank_and_head_from_the_job(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the node list parsed here
    env = {"ULTRAMEDICAL_SLURM_TASK": "1", "SLURM_NODEID": "2", "SLURM_PROCID": "2"}
    cmd = command(root, SLURM, env={**env, "SLURM_JOB_NODELIST": "gpu[07-10],gpu12"})
    assert cmd[cmd.index("--machine_rank") + 1] == "2"
    assert cmd[cmd.index("--main_process_ip") + 1] == "gpu07"
    assert cmd[cmd.index("--num_machines") + 1] == "4"
    assert cmd[cmd.index("--num_processes") + 1] == "32"  # accelerate's total, all nodes


def test_first_host_of_a_node_list_without_scontrol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert slurm_first_host("gpu[07-10],gpu12") == "gpu07"
    assert slurm_first_host("a1,b2") == "a1"
    assert slurm_first_host("node5") == "node5"


def test_python_stages_stay_one_process(root: Path) -> None:
    cmd = command(root, {**MULTI, "hostfile": "h", "python_stages": ["train"]})
    assert cmd[0] == sys.executable


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        ({"launcher": "deepspeed"}, r"launch.launcher: Input should be 'python', 'accelerate'"),
        ({"launcher": "accelerate"}, r"launch: launcher accelerate needs config_file"),
        ({"num_processes": 0}, r"launch.num_processes: Input should be greater than or equal"),
        ({"num_proceses": 8}, r"launch.num_proceses: unknown key"),
        ({**MULTI, "num_processes": 15}, r"not a multiple of num_machines"),
        (MULTI, r"num_machines > 1 needs a hostfile, or main_process_ip and machine_rank"),
        ({**SLURM, "num_processes": None}, r"multi-node launch needs num_processes"),
    ],
)
def test_invalid_launch_params_name_the_key(launch: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_launch({"launch": launch})


def test_missing_config_file_and_stage_are_named(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"launch.config_file: configs/nope.yaml does not exist"):
        command(root, {"launcher": "accelerate", "config_file": "configs/nope.yaml"})
    with pytest.raises(ConfigError, match=r"no stage script stages/nope.py"):
        build_command(parse_launch({}), "nope", [], root, env={})


# A stage that records its pid, then exits with --code or waits for SIGTERM and records it.
FAKE_STAGE = """\
import argparse, os, pathlib, signal, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--code", type=int, default=0)
parser.add_argument("--wait", action="store_true")
args = parser.parse_args()
out = pathlib.Path(__file__).resolve().parent.parent / "ran"
def on_term(signum, frame):
    (out.parent / "terminated").write_text(str(signum))
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
out.write_text(str(os.getpid()))
while args.wait:
    time.sleep(0.05)
sys.exit(args.code)
"""


def run_launcher(root: Path, *args: str) -> subprocess.Popen[bytes]:
    (root / "params.yaml").write_text(yaml.safe_dump({"launch": {"launcher": "python"}}))
    return subprocess.Popen(
        [sys.executable, str(root / "stages/launch.py"), "train", *args], stderr=subprocess.PIPE
    )


def test_the_stage_exit_code_is_the_launchers(root: Path) -> None:
    proc = run_launcher(root, "--code", "3")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert f"launch: {sys.executable} {root / 'stages/train.py'} --code 3" in err.decode()
    assert (root / "ran").read_text() == str(proc.pid)  # exec: the same process, no wrapper


def test_sigterm_reaches_the_stage(root: Path) -> None:
    proc = run_launcher(root, "--wait")
    deadline = time.monotonic() + 60
    while not (root / "ran").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert (root / "terminated").read_text() == str(int(signal.SIGTERM))


def test_bad_params_stop_the_launcher_with_one_line(root: Path) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump({"launch": {"launcher": "mpi"}}))
    done = subprocess.run(
        [sys.executable, str(root / "stages/launch.py"), "train"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "error: params.yaml: launch.launcher: Input should be" in done.stderr
    assert not (root / "ran").exists()


ACCELERATED_STAGE = """\
import sys
from accelerate import PartialState
state = PartialState()
print(f"rank {state.process_index} of {state.num_processes} on {state.device.type}", flush=True)
sys.exit(5)
"""


def test_accelerate_launch_runs_the_stage_on_the_cpu(root: Path) -> None:
    """A real `accelerate launch --cpu` (one process): the stage runs under accelerate's state
    and its failure fails the launch (accelerate reports exit status 1, not the stage's 5)."""
    (root / "stages/train.py").write_text(ACCELERATED_STAGE)
    launch = {
        "launcher": "accelerate",
        "config_file": "configs/accelerate/single_gpu.yaml",
        "num_processes": 1,
        "cpu": True,
    }
    (root / "params.yaml").write_text(yaml.safe_dump({"launch": launch}))
    done = subprocess.run(
        [sys.executable, str(root / "stages/launch.py"), "train"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "rank 0 of 1 on cpu" in done.stdout, done.stderr[-2000:]
    assert done.returncode != 0
    assert "launch --config_file" in done.stderr and " --cpu --num_processes 1 " in done.stderr
