"""kill -9 synthesize, sample and judge at seeded points chosen by progress, with an API teacher.

The teacher is the fake OpenAI-compatible server on 127.0.0.1 answering like a real teacher
(tests.fixtures.fake_teacher). A kill point is a number of answered requests: the server holds
every request after it (`pause_after`), the test waits until the stage has committed those
answers, then kills the process, so the point does not depend on the machine's speed. The re-run
must end with outputs byte-identical to an uninterrupted run's, and the server must never have
answered one request twice across all runs (no paid call repeated).

`FAULTS_SEED` (environment) changes the kill points; `-m slow_faults` adds one fresh root per
kill point (each killed once) on top of the default chain of kills in one root.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.faults.synth_stages import (
    STAGES,
    Stage,
    cached_rows,
    expected_requests,
    kill_at,
    make_root,
    run_healthy,
)
from tests.faults.tally import Tally

KILLS = 5
SEED = int(os.environ.get("FAULTS_SEED", "19"))
# What identifies one row of each stage's main table (duplicates and gaps are checked on it).
ROW_KEYS = {
    "synthesize": ["id"],
    "sample": ["prompt_id", "model", "sample"],
    "judge": ["prompt_id", "model", "sample"],
}


def kill_points(stage: Stage, requests: int, count: int = KILLS) -> list[int]:
    """`count` distinct seeded answer counts strictly inside the stage's run."""
    rng = random.Random(f"{SEED}:{stage.name}")
    return sorted(rng.sample(range(1, requests), count))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    """One pristine input root per stage, copied for each run (cheaper than rebuilding), with an
    empty MLflow store already migrated (creating one costs a stage run seconds)."""
    from mlflow import MlflowClient

    made: dict[str, Path] = {}
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{store}").search_experiments()

    def get(name: str) -> Path:
        if name not in made:
            made[name] = make_root(tmp_path_factory.mktemp(f"inputs-{name}"), name)
            shutil.copy(store, made[name] / "mlflow.db")
        return made[name]

    return get


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted run per stage: its root (with the outputs), the request keys answered
    and how many there are."""
    done: dict[str, tuple[Path, set[str], int]] = {}

    def get(name: str) -> tuple[Path, set[str], int]:
        if name not in done:
            stage = STAGES[name]
            root = fresh(inputs(name), tmp_path_factory.mktemp(f"reference-{name}"))
            server, code, output = run_healthy(root, stage, root / "run.log")
            assert code == 0, output[-3000:]
            requests = expected_requests(root, stage)
            assert server.answered_total == requests  # one request per planned response
            assert set(server.answered.values()) == {1}, "a request was answered twice"
            done[name] = root, set(server.answered), requests
        return done[name]

    return get


def fresh(source: Path, target: Path) -> Path:
    """A copy of an input root (inputs only: no outputs, cache or MLflow runs yet)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def assert_same_outputs(root: Path, ref_root: Path, stage: Stage, tally: Tally) -> None:
    """Every output byte-identical to the uninterrupted run's; the main table has each row once."""
    table = pl.read_parquet(stage.files(root)[0])
    keys = table.select(ROW_KEYS[stage.name])
    assert keys.unique().height == table.height, "duplicated rows"
    expected = pl.read_parquet(stage.files(ref_root)[0]).select(ROW_KEYS[stage.name])
    missing = expected.join(keys, on=ROW_KEYS[stage.name], how="anti")
    tally.add(records_lost=missing.height)
    assert missing.height == 0, f"rows missing: {missing.head(5).to_dicts()}"
    for mine, theirs in zip(stage.files(root), stage.files(ref_root), strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), f"{mine.relative_to(root)} differs"


def assert_never_repaid(servers: list, ref_keys: set[str], tally: Tally) -> None:
    """Across the runs, each reference request was answered exactly once, and no run even asked
    for a response an earlier run had already received."""
    answered: Counter[str] = Counter()
    for run, server in enumerate(servers):
        asked_again = set(server.calls) & set(answered)
        tally.add(calls_repaid=len(asked_again), requests=server.answered_total)
        assert not asked_again, f"run {run} re-requested {len(asked_again)} answered request(s)"
        answered.update(server.answered)
    assert set(answered) == ref_keys, "the runs together answered other requests than a clean run"
    repaid = {k: n for k, n in answered.items() if n != 1}
    assert not repaid, f"answered more than once: {len(repaid)} request(s)"


@pytest.mark.parametrize("name", list(STAGES))
def test_kill_9_at_seeded_points_then_rerun(name, inputs, reference, tmp_path, tally):
    """Five kills in one root, each later in the run than the last, then a run to the end."""
    stage, (ref_root, ref_keys, requests) = STAGES[name], reference(name)
    root = fresh(inputs(name), tmp_path / "root")
    servers, done = [], 0
    for point in kill_points(stage, requests):
        servers.append(kill_at(root, stage, point - done, tmp_path / f"kill-{point}.log"))
        tally.add(crashes=1)
        done = point
        assert cached_rows(root, stage) == point  # what was received is kept, nothing more
        assert not any(f.exists() for f in stage.files(root)), "a killed run wrote its outputs"
    server, code, output = run_healthy(root, stage, tmp_path / "final.log")
    assert code == 0, output[-3000:]
    servers.append(server)
    assert server.answered_total == requests - done  # only what the kills left unanswered
    assert_never_repaid(servers, ref_keys, tally)
    assert cached_rows(root, stage) == requests
    assert_same_outputs(root, ref_root, stage, tally)


@pytest.mark.parametrize("name", list(STAGES))
def test_teacher_dies_after_half_then_rerun(name, inputs, reference, tmp_path, tally):
    """The teacher answers half the stage's requests, then fails every call (HTTP 500)."""
    stage, (ref_root, ref_keys, requests) = STAGES[name], reference(name)
    root = fresh(inputs(name), tmp_path / "root")
    half = requests // 2
    dying, code, output = run_healthy(root, stage, tmp_path / "dies.log", die_after=half)
    assert code != 0, "the stage succeeded although half its requests failed"
    assert "Traceback" not in output, output[-3000:]
    # Each failed request is recorded; a stage that works in chunks (sample) stops at the first
    # chunk with a failure instead of asking a dead teacher for the rest.
    failed = cached_rows(root, stage, "failures")
    tally.add(teacher_deaths=1, failed_reported=failed)
    assert 0 < failed <= requests - half
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f" {failed} request(s) failed" in errors[0], (
        f"not one error naming the {failed} failed requests: {errors or output[-2000:]}"
    )
    assert not any(f.exists() for f in stage.files(root)), "outputs written despite failures"
    assert dying.answered_total == half and cached_rows(root, stage) == half
    healed, code, output = run_healthy(root, stage, tmp_path / "rerun.log")
    assert code == 0, output[-3000:]
    assert healed.answered_total == requests - half  # only the unanswered half is requested
    assert cached_rows(root, stage, "failures") == 0  # answered since: no longer failures
    assert_never_repaid([dying, healed], ref_keys, tally)
    assert_same_outputs(root, ref_root, stage, tally)


@pytest.mark.slow_faults
@pytest.mark.parametrize("name", list(STAGES))
def test_one_kill_per_fresh_root(name, inputs, reference, tmp_path, request, tally):
    """Each seeded kill point on its own fresh root: killed once, then run to the end."""
    if "slow_faults" not in request.config.option.markexpr:
        pytest.skip("a longer variant: run with -m slow_faults")
    stage, (ref_root, ref_keys, requests) = STAGES[name], reference(name)
    for point in kill_points(stage, requests):
        root = fresh(inputs(name), tmp_path / f"root-{point}")
        killed = kill_at(root, stage, point, tmp_path / f"kill-{point}.log")
        tally.add(crashes=1)
        server, code, output = run_healthy(root, stage, tmp_path / f"rerun-{point}.log")
        assert code == 0, output[-3000:]
        assert server.answered_total == requests - point
        assert_never_repaid([killed, server], ref_keys, tally)
        assert_same_outputs(root, ref_root, stage, tally)
