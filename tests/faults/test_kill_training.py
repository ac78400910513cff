"""kill -9 of the real training stages (pretrain, sft, dpo) at seeded points chosen by progress;
the re-run ends with the model directory (md5 of every file), the metrics file and every step's
loss of an uninterrupted run.

Default: for each stage one run killed six times in a row (kill, re-run, kill later, ...): five
seeded points, between checkpoints ("step": step k logged, the steps since the last checkpoint
are lost and redone) and during a checkpoint save ("save": checkpoint-k being written), then one
during the final save of the model; the stages start forked from a warm launcher (no import
time). `uv run pytest -m slow_faults tests/faults/test_kill_training.py`: five independent kills
per stage, each in a fresh copy and with cold `python stages/<stage>.py` processes.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.kill_points import (
    KillPoint,
    checkpoint_dir,
    digest,
    kill_at,
    logged_losses,
    resumed_steps,
    run_to_end,
)
from tests.faults.stage_launcher import Launcher
from tests.faults.tally import Tally
from tests.faults.training_root import STAGES, build_root

SEED = 19


@pytest.fixture(scope="module")
def warm() -> Iterator[Launcher]:
    launcher = Launcher(warm=True)
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, warm: Launcher) -> Path:
    """The uninterrupted pipeline: pretrain -> sft -> dpo, each reading the previous model."""
    root = build_root(tmp_path_factory.mktemp("reference"))
    for stage in STAGES:
        run_to_end(warm, stage, root)
    return root


def stage_root(reference: Path, stage: str, dest: Path) -> Path:
    """A copy of the reference repo without `stage`'s outputs (its inputs stay as they were)."""
    shutil.copytree(reference, dest, ignore=shutil.ignore_patterns("logs", "mlruns"))
    _, model_dir, metrics, _ = STAGES[stage]
    shutil.rmtree(dest / model_dir)
    (dest / metrics).unlink()
    return dest


# files of a checkpoint in the order the Trainer writes them (then loss_sums.json, the manifest)
SAVE_FILES = ("model.safetensors", "optimizer.pt", "rng_state.pth", "trainer_state.json")


def schedule(stage: str, seed: int, count: int = 5) -> list[tuple[int, str, str]]:
    """`count` increasing seeded kill points (step, trigger, file): odd steps die between
    checkpoints (save_steps 2), even ones while their checkpoint is written, as soon as a
    seeded one of its files appears; at least two of each."""
    steps = STAGES[stage][3]
    rng = random.Random(f"{seed}:{stage}")
    while True:
        points = sorted(rng.sample(range(1, steps), count))
        if 2 <= sum(p % 2 for p in points) <= count - 2:
            break
    return [(p, "step", "") if p % 2 else (p, "save", rng.choice(SAVE_FILES)) for p in points]


def kill_chain(
    launcher: Launcher, stage: str, root: Path, points: list[tuple[int, str, str]]
) -> list[KillPoint]:
    """Kill at each point in turn, each time re-running the stage killed before."""
    kills: list[KillPoint] = []
    for wanted, trigger, file in points:
        if kills and wanted <= kills[-1].resume_step:  # the last kill landed late: move on
            wanted = kills[-1].resume_step + (2 if trigger == "save" else 1)
        kills.append(kill_at(launcher, stage, root, wanted, trigger, file))
    return kills


def assert_same_as_reference(
    stage: str, root: Path, reference: Path, kills: list[KillPoint], since_ms: int
) -> None:
    """Outputs, per-step losses and resume points against the uninterrupted run (the runs of
    the copied MLflow database started before `since_ms` are the reference's)."""
    _, model_dir, metrics, steps = STAGES[stage]
    # the outputs DVC records: every file of the model dir, byte for byte, and the metrics file
    assert digest(root / model_dir) == digest(reference / model_dir)
    assert (root / metrics).read_bytes() == (reference / metrics).read_bytes()
    assert json.loads((root / metrics).read_text())["global_step"] == steps
    # nothing half-written left behind: no temp model dir, no checkpoints of a finished run
    assert not list((root / model_dir).parent.glob(".*.tmp"))
    assert not checkpoint_dir(root, stage).exists()
    # every step any attempt ran (the redone ones too) had the uninterrupted run's loss
    (ref,) = logged_losses(reference, stage).values()
    assert sorted(ref) == list(range(1, steps + 1))
    runs = logged_losses(root, stage, since_ms)
    for losses in runs.values():
        assert losses == {step: ref[step] for step in losses}
    # each re-run resumed from the newest whole checkpoint the kill left, not from step 0
    expected = [k.resume_step for k in kills if k.resume_step]
    assert resumed_steps(root, stage) == expected
    assert len(runs) == len(kills) + 1
    for kill, losses in zip(kills, list(runs.values())[1:], strict=True):
        assert min(losses, default=kill.resume_step + 1) == kill.resume_step + 1


def report(kills: list[KillPoint]) -> None:
    for k in kills:
        print(
            f"{k.stage}: kill at {k.trigger} {k.wanted}: logged {k.logged}, whole checkpoints "
            f"{list(k.complete)}, partial {list(k.partial)} -> resume {k.resume_step}"
        )


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_killed_six_times_ends_as_uninterrupted(
    stage: str, reference: Path, warm: Launcher, tmp_path: Path, tally: Tally
) -> None:
    root = stage_root(reference, stage, tmp_path / "repo")
    since_ms = int(time.time() * 1000)
    kills = kill_chain(warm, stage, root, schedule(stage, SEED))
    # and once more after training, while the model dir is being saved (all steps checkpointed)
    kills.append(kill_at(warm, stage, root, STAGES[stage][3], "final"))
    run_to_end(warm, stage, root)
    report(kills)
    tally.add(crashes=len(kills))
    assert any(k.trigger == "step" and k.logged > k.resume_step for k in kills)  # steps redone
    assert_same_as_reference(stage, root, reference, kills, since_ms)


def cold_points(stage: str, count: int = 5) -> list[tuple[int, str, str]]:
    """`count` distinct seeded kill points for the independent kills (one each)."""
    rng = random.Random(f"cold:{SEED}:{stage}")
    steps = sorted(rng.sample(range(1, STAGES[stage][3]), count))
    return [(p, "step", "") if p % 2 else (p, "save", rng.choice(SAVE_FILES)) for p in steps]


@pytest.mark.slow_faults
@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("stage", list(STAGES))
def test_fresh_cold_kill_ends_as_uninterrupted(
    stage: str,
    index: int,
    reference: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    tally: Tally,
) -> None:
    """One kill in a fresh copy, the stage started as `python stages/<stage>.py` each time."""
    if "slow_faults" not in request.config.option.markexpr:
        pytest.skip("long variant: run with -m slow_faults")
    root = stage_root(reference, stage, tmp_path / "repo")
    since_ms = int(time.time() * 1000)
    cold = Launcher(warm=False)
    kills = [kill_at(cold, stage, root, *cold_points(stage)[index])]
    run_to_end(cold, stage, root)
    report(kills)
    tally.add(crashes=len(kills))
    assert_same_as_reference(stage, root, reference, kills, since_ms)
