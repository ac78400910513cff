"""SFT and DPO steps through the project's training lifecycle (trainers.lifecycle.run_training)
with TRL, timed step by step: tokens/s, MFU and peak memory of the ~1B model."""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu import hardware
from benchmarks.gpu.workload import REPO

WARMUP_STEPS = 2  # the first steps pay allocation, kernel selection and the first batch's load
DEEPSPEED_CONFIG = "configs/deepspeed/zero2.json"  # one GPU: ZeRO-3's partitioning buys nothing


def batch_lengths(batch: dict[str, Any]) -> list[int]:
    """Real (non-padding) tokens of each sequence in a collated batch.

    Padded batches carry an attention mask; padding-free ones (BFD packing) are one flattened row
    whose position_ids restart at 0 for each sequence; wrapped packing has neither.
    """
    if batch.get("attention_mask") is not None:
        return [int(n) for n in batch["attention_mask"].sum(dim=1).tolist()]
    ids = batch["input_ids"]
    if batch.get("position_ids") is not None:
        lengths: list[int] = []
        for row in batch["position_ids"].tolist():
            starts = [i for i, p in enumerate(row) if p == 0] + [len(row)]
            lengths += [b - a for a, b in itertools.pairwise(starts) if b > a]
        return lengths
    return [ids.shape[1]] * ids.shape[0]


class CountingCollator:
    """Wraps a trainer's collator and records each batch's sequence lengths in collation order
    (the dataloader may collate one batch ahead of the step that uses it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[list[int]] = []

    def __call__(self, examples: list[Any]) -> Any:
        batch = self.inner(examples)
        self.batches.append(batch_lengths(batch))
        return batch


def step_meter() -> Any:
    """A TrainerCallback recording the wall time at the end of each optimizer step."""
    from transformers import TrainerCallback

    class StepMeter(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()  # kernels are asynchronous: time what has finished
            self.ends.append(time.perf_counter())

    return StepMeter()


def throughput(ends: list[float], batches: list[list[int]], accumulation: int) -> dict[str, Any]:
    """Tokens/s over the steps after WARMUP_STEPS, and the token-weighted attended context."""
    warm = min(WARMUP_STEPS, len(ends) - 1)
    if warm < 1:
        raise RuntimeError(f"only {len(ends)} step(s) ran: need at least 2 to time one")
    rows = [n for b in batches[warm * accumulation : len(ends) * accumulation] for n in b]
    tokens, seconds = sum(rows), ends[-1] - ends[warm - 1]
    return {
        "steps_run": len(ends),
        "steps_timed": len(ends) - warm,
        "tokens_timed": tokens,
        "seconds_timed": round(seconds, 3),
        "tokens_per_s": tokens / seconds,
        "sequences_per_step": len(rows) / max(len(ends) - warm, 1),
        # PaLM's T per token: a sequence of t tokens gives each of its t tokens context t
        "context": sum(n * n for n in rows) / max(tokens, 1),
    }


def deepspeed_choice(device: str, wanted: bool) -> tuple[str | None, str]:
    """(config path relative to the repo, or None; what the report says about DeepSpeed)."""
    if not wanted:
        return None, "off (--no-deepspeed)"
    if not device.startswith("cuda"):
        return None, "off: DeepSpeed training needs a CUDA device"
    why = hardware.missing("deepspeed")
    if why:
        return None, f"off: {why}"
    # one process without a launcher: the process-group settings a launcher would export
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
    }.items():
        os.environ.setdefault(key, value)
    return DEEPSPEED_CONFIG, f"on: ZeRO-2 ({DEEPSPEED_CONFIG})"


def common_settings(spec: dict[str, Any], phase: str) -> dict[str, Any]:
    """TrainConfig fields shared by both phases, from the run's spec."""
    cuda = spec["device"].startswith("cuda")
    steps = spec[f"{phase}_steps"]
    return {
        "output_dir": str(Path(spec["work"]) / f"{phase}_model"),
        "max_steps": steps,
        "per_device_train_batch_size": spec[f"{phase}_batch"],
        "gradient_accumulation_steps": 1,
        "max_length": spec[f"{phase}_max_length"],
        "precision": "bf16" if cuda else "fp32",
        "gradient_checkpointing": True,
        "attn_implementation": "sdpa",
        "logging_steps": max(steps, 1),
        "save_steps": steps + 1,  # no mid-run checkpoint: a 1B optimizer state is ~12 GB to write
        "max_time_s": spec[f"{phase}_budget_s"],
    }


def _train(phase: str, spec: dict, cfg: Any, tokenizer: Any, factory: Any, attn_extra: float):
    """Run `factory`'s trainer through run_training; time it; the phase's figures."""
    import torch
    from trainers.lifecycle import TrainingJob, run_training

    work = Path(spec["work"])
    meter, counter = step_meter(), {}

    def make_trainer(arguments: dict[str, Any], callbacks: list[Any]) -> Any:
        trainer = factory(arguments, callbacks)
        counter["c"] = trainer.data_collator = CountingCollator(trainer.data_collator)
        counter["dtype"] = str(next(trainer.model.parameters()).dtype)
        return trainer

    job = TrainingJob(
        root=REPO,
        out_dir=work / f"{phase}_model",
        checkpoints=work / f"{phase}_checkpoints",
        fingerprint={"benchmark": phase},
        callbacks=[meter],
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = run_training(job, cfg, tokenizer, make_trainer)
    figures = throughput(meter.ends, counter["c"].batches, cfg.gradient_accumulation_steps)
    info = spec["model_info"]
    n, layers, width = info["matmul_parameters"], info["layers"], info["hidden_size"]
    per_token = hardware.train_flops_per_token(n, layers, width, figures["context"])
    per_token += attn_extra * hardware.forward_flops_per_token(n, layers, width, figures["context"])
    peak = spec["env"]["peak_bf16_flops"]
    figures |= {
        "train_loss": result.metrics.get("train_loss"),
        "param_dtype": counter["dtype"],  # as the project loads it (bf16 autocast either way)
        "flops_per_token": per_token,
        "mfu": hardware.mfu(figures["tokens_per_s"], per_token, peak),
        "mfu_6n": hardware.mfu(figures["tokens_per_s"], (6 + 2 * attn_extra) * n, peak),
        "mfu_reason": None if peak else spec["env"]["peak_source"],
        "peak_memory_gb": hardware.peak_memory_gb(),
        "settings": cfg.model_dump(
            include={
                "per_device_train_batch_size",
                "max_length",
                "precision",
                "gradient_checkpointing",
                "max_steps",
            }
        ),
    }
    return figures


def run_sft(spec: dict[str, Any]) -> dict[str, Any]:
    """N SFT steps: trainers.sft.sft_config (the project's SFTConfig) on MedQA chats."""
    from datasets import Dataset
    from trainers.arguments import model_init_kwargs
    from trainers.config import SftConfig
    from trainers.sft import sft_config
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from benchmarks.gpu.workload import medqa_items, sft_conversations

    ds_config, ds_note = deepspeed_choice(spec["device"], spec["deepspeed"])
    packing = spec["packing"]
    cfg = SftConfig(
        **common_settings(spec, "sft"),
        deepspeed=ds_config,
        packing=packing != "none",
        assistant_only_loss=False,  # the mask changes no FLOP; TRL's template swap is skipped
    )
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    items = medqa_items(Path(spec["medqa"]))
    # enough chats for every step's rows at ~300 tokens each (repeated where MedQA runs out)
    need = cfg.max_steps * cfg.per_device_train_batch_size * max(cfg.max_length // 200, 1)
    chats = sft_conversations(items, need)

    def factory(arguments: dict[str, Any], callbacks: list[Any]) -> Any:
        overrides = {"packing_strategy": packing, "padding_free": packing == "bfd"}
        model = AutoModelForCausalLM.from_pretrained(
            spec["model_dir"], trust_remote_code=False, **model_init_kwargs(cfg)
        )
        return SFTTrainer(
            model=model,
            args=sft_config(cfg, arguments, **(overrides if packing != "none" else {})),
            train_dataset=Dataset.from_dict({"messages": chats}),
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    figures = _train("sft", spec, cfg, tokenizer, factory, attn_extra=0.0)
    return figures | {"deepspeed": ds_note, "packing": packing, "chats": len(chats)}


def run_dpo(spec: dict[str, Any]) -> dict[str, Any]:
    """N DPO steps: trainers.preference.preference_trainer (the project's DPO factory)."""
    from trainers.config import PreferenceConfig
    from trainers.preference import preference_trainer
    from transformers import AutoTokenizer

    from benchmarks.gpu.workload import dpo_pairs, medqa_items

    ds_config, ds_note = deepspeed_choice(spec["device"], spec["deepspeed"])
    cfg = PreferenceConfig(**common_settings(spec, "dpo"), deepspeed=ds_config).for_loss("dpo")
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    pairs = dpo_pairs(
        medqa_items(Path(spec["medqa"])), cfg.max_steps * cfg.per_device_train_batch_size
    )
    factory = preference_trainer("dpo", Path(spec["model_dir"]), tokenizer, pairs, [], cfg)
    # the frozen reference runs a forward on every sequence (no precomputed log-probs): + 2N
    ref = 0.0 if cfg.precompute_ref_log_probs else 1.0
    figures = _train("dpo", spec, cfg, tokenizer, factory, attn_extra=ref)
    return figures | {"deepspeed": ds_note, "pairs": len(pairs), "beta": cfg.beta}
