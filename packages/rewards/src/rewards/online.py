"""Reward-model-guided online (iterative) DPO, as RLHFlow's recipe (which UltraMedical follows).

Per iteration: a fresh disjoint slice of train prompts; `samples` responses each from the current
policy at temperature 1 (the project's generation layer, behind a crash-safe response cache); the
reward model scores them; its best vs worst response makes a DPO pair (ties and small gaps are
dropped); DPO trains the previous policy against a frozen reference (the initial policy, or the
previous one). Each finished iteration leaves its model and a marker under the stage's checkpoint
folder, so a re-run resumes at the first unfinished iteration; inside that one, the response cache
spares the generation done and the Trainer resumes its own checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from data_core.errors import DataCoreError
from data_core.io import write_json
from data_core.schemas import Instruction
from data_core.screen import Screen, write_removals
from data_core.tracking import flatten
from generation import CachedGenerator, Generator, Request, ResponseCache, Sampling
from synth.sample import prompt_messages
from trainers.callbacks import MlflowStepCallback
from trainers.lifecycle import TrainingJob, TrainingResult
from trainers.preference import train_preference

from rewards.online_config import OnlineDpoConfig
from rewards.online_heldout import heldout_figures
from rewards.online_metrics import round_metrics, verified_rates
from rewards.online_pairs import Messages, PromptSamples, make_pairs, prompt_slices
from rewards.online_screen import counts, round_removals, screen_round

STAMP = "online.json"  # the recipe's fingerprint, at the checkpoint folder's root
MARKER = "done.json"  # an iteration's finished marker (its round metrics)


class RewardScorer(Protocol):
    """What the loop needs of a reward model (rewards.scoring.RewardModel has it)."""

    def rewards(self, prompts: Sequence[Messages], responses: Sequence[str]) -> list[float]: ...


# the current policy's model dir -> a generator sampling from it
GeneratorFactory = Callable[[Path], Generator]


def cached_policy_generators(cache: Path, cfg: OnlineDpoConfig, device: str) -> GeneratorFactory:
    """Policies as generators behind one SQLite response cache (keys hold the model's
    fingerprint, so a retrained policy is never served another's responses): transformers, or
    with `sampler: vllm` a vLLM engine per round (closed before the round trains)."""

    def make(policy: Path) -> Generator:
        if cfg.sampler == "vllm":
            from generation.vllm_engine import VllmGenerator, VllmOptions

            options = VllmOptions(cfg.tensor_parallel_size, cfg.gpu_memory_utilization)
            inner: Generator = VllmGenerator(str(policy), options=options)
        else:
            from generation.hf import HFGenerator

            inner = HFGenerator(
                str(policy), batch_size=cfg.generation_batch_size, device=device, dtype="auto"
            )
        return CachedGenerator(inner, ResponseCache(cache))

    return make


@dataclass
class OnlineInputs:
    """What the loop runs on: the prompt pool, the initial policy, the judge of responses."""

    pool: list[Instruction]  # train-split prompts (rewards.online_pairs.prompt_pool)
    start: Path  # the initial policy's model dir
    reward_model: RewardScorer
    make_generator: GeneratorFactory
    screen: Screen | None = None  # the benchmark screen of the responses (None: none)
    removed_out: Path | None = None  # where the removal table goes (rewards.online_screen)


def sample_round(
    generator: Generator, records: Sequence[Instruction], cfg: OnlineDpoConfig, tokenizer: Any
) -> list[PromptSamples]:
    """`cfg.samples` responses per prompt (rewards filled in later), one generation batch per
    call, so a kill loses at most one batch of fresh responses."""
    sampling = Sampling(cfg.temperature, cfg.top_p, cfg.max_new_tokens)
    prompts = [prompt_messages(r) for r in records]
    requests = [Request(m, sampling, cfg.seed, k) for m in prompts for k in range(cfg.samples)]
    generations = []
    chunk = cfg.generation_batch_size
    for lo in range(0, len(requests), chunk):
        generations += generator.generate(requests[lo : lo + chunk])
    groups = []
    for i, (record, messages) in enumerate(zip(records, prompts, strict=True)):
        mine = generations[i * cfg.samples : (i + 1) * cfg.samples]
        texts = [g.text for g in mine]
        tokens = [
            g.completion_tokens
            if g.completion_tokens is not None
            else len(tokenizer(g.text, add_special_tokens=False)["input_ids"])
            for g in mine
        ]
        groups.append(PromptSamples(record, messages, texts, [], tokens))
    return groups


def score_round(groups: Sequence[PromptSamples], reward_model: RewardScorer) -> None:
    """Fill in every response's reward (one batched call)."""
    prompts = [g.messages for g in groups for _ in g.texts]
    responses = [t for g in groups for t in g.texts]
    rewards = reward_model.rewards(prompts, responses)
    if len(rewards) != len(responses):
        raise DataCoreError(f"reward model: {len(rewards)} rewards for {len(responses)} responses")
    start = 0
    for group in groups:
        group.rewards = [float(r) for r in rewards[start : start + len(group.texts)]]
        start += len(group.texts)


def _prepare(folder: Path, fingerprint: Any) -> None:
    """Keep the iterations of the same recipe; clear a folder another recipe left."""
    stamp, wanted = folder / STAMP, json.dumps(fingerprint, sort_keys=True, default=str)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stamp.write_text(wanted, encoding="utf-8")


def _finished(folder: Path) -> dict[str, Any] | None:
    marker = folder / MARKER
    if marker.exists() and (folder / "model").is_dir():
        return json.loads(marker.read_text(encoding="utf-8"))
    return None


def run_iteration(
    i: int,
    records: Sequence[Instruction],
    policy: Path,
    cfg: OnlineDpoConfig,
    job: TrainingJob,
    tokenizer: Any,
    inputs: OnlineInputs,
) -> dict[str, Any]:
    """One round: sample, score, pair, train from `policy`; save the model and the marker."""
    folder = job.checkpoints / f"iter-{i}"
    started = time.perf_counter()
    generator = inputs.make_generator(policy)
    try:
        groups = sample_round(generator, records, cfg, tokenizer)
        stats = {f"generation_{k}": v for k, v in generator.stats.items()}
    finally:
        generator.close()
    stats["sample_seconds"] = round(time.perf_counter() - started, 1)
    screened = screen_round(groups, inputs.screen, i)  # before any reward: none is wasted
    groups = screened.groups
    started = time.perf_counter()
    score_round(groups, inputs.reward_model)
    stats["reward_seconds"] = round(time.perf_counter() - started, 1)
    rows, kept, dropped = make_pairs(groups, cfg.min_margin, cfg.length_penalty)
    dropped += screened.dropped
    if not rows:
        raise DataCoreError(
            f"online_dpo iteration {i}: every pair was dropped ({dict(dropped)}); "
            "lower params.yaml online_dpo.min_margin or raise online_dpo.samples"
        )
    verified = verified_rates(
        groups, cfg.verified_sample, cfg.seed + i, cfg.length_penalty, cfg.open_threshold
    )
    metrics = round_metrics(groups, kept, dropped, verified=verified)
    reference = inputs.start if cfg.reference == "initial" else policy
    step_log = MlflowStepCallback(job.run, prefix=f"round_{i}.")
    round_job = TrainingJob(
        job.root,
        folder / "model",
        folder / "trainer",
        {"recipe": job.fingerprint, "iteration": i},
        None,  # steps go to the stage's run under the round's prefix
        (step_log, *job.callbacks),
    )
    result = train_preference(
        "dpo", policy, tokenizer, rows, [], cfg.preference(), round_job, reference=reference
    )
    metrics |= {k: result.metrics[k] for k in ("global_step", "train_loss")}
    done = {"metrics": metrics, "mlflow_only": result.mlflow_only | stats}
    done["screen"] = screened.record() if inputs.screen is not None else None
    write_json(folder / MARKER, done)
    return done


def run_online(
    cfg: OnlineDpoConfig, job: TrainingJob, tokenizer: Any, inputs: OnlineInputs
) -> tuple[Path, list[dict[str, Any]]]:
    """Every iteration (finished ones are read back); the final policy's dir and each round."""
    _prepare(job.checkpoints, job.fingerprint)
    slices = prompt_slices(inputs.pool, cfg.iterations, cfg.prompts_per_iteration, cfg.seed)
    policy, rounds = inputs.start, []
    for i, records in enumerate(slices, start=1):
        folder = job.checkpoints / f"iter-{i}"
        done = _finished(folder)
        if done is None:
            done = run_iteration(i, records, policy, cfg, job, tokenizer, inputs)
        if job.run is not None:
            job.run.log_metrics({f"online.{k}": v for k, v in done["metrics"].items()}, step=i)
        rounds.append(done)
        policy = folder / "model"
    return policy, rounds


def _install(model_dir: Path, out_dir: Path) -> None:
    """Copy the final policy into place whole (temp folder, then rename)."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def train_online(
    cfg: OnlineDpoConfig,
    job: TrainingJob,
    tokenizer: Any,
    inputs: OnlineInputs,
    test: Sequence[dict],
    heldout_reference: Path | None,
) -> TrainingResult:
    """The whole loop, then held-out pair accuracy of the start and final policies (implicit
    reward against `heldout_reference`, as the dpo stage reports it); the final policy is
    installed at `job.out_dir` and the iterations' folder cleared (a finished run leaves no
    resumable state, so a forced re-run trains again; the response cache stays)."""
    final, rounds = run_online(cfg, job, tokenizer, inputs)
    metrics: dict[str, Any] = {
        "iterations": cfg.iterations,
        "reference": cfg.reference,
        "beta": cfg.beta,
        "pairs_trained": sum(r["metrics"]["pairs_kept"] for r in rounds),
    }
    metrics |= {f"round_{i}": r["metrics"] for i, r in enumerate(rounds, start=1)}
    if test:
        models = {"start": inputs.start, "online": final}
        metrics |= heldout_figures(models, heldout_reference, tokenizer, test, cfg)
    mlflow_only = flatten({f"round_{i}": r["mlflow_only"] for i, r in enumerate(rounds, start=1)})
    results = flatten(metrics)
    if inputs.screen is not None:  # nested, as every screening stage reports it
        removed, screened = round_removals(rounds)
        results["contamination"] = counts(removed, screened)
        if inputs.removed_out is not None:
            write_removals(inputs.removed_out, removed)
    _install(final, job.out_dir)
    shutil.rmtree(job.checkpoints, ignore_errors=True)
    return TrainingResult(results, mlflow_only)
