"""params.yaml `online_dpo:`: the reward-model-guided online (iterative) DPO loop, RLHFlow-style."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from data_core.config import parse_section
from data_core.errors import ConfigError
from pydantic import Field
from trainers.config import PreferenceConfig

SECTION = "online_dpo"


class OnlineDpoConfig(PreferenceConfig):
    """Per iteration: fresh train prompts, `samples` responses each from the current policy, the
    reward model's best vs worst as a DPO pair, DPO from the previous policy against a frozen
    reference. The training knobs (learning rate, beta, steps, ...) are `preference`'s."""

    output_dir: str = "models/online_dpo"
    iterations: int = Field(2, ge=1)
    prompts_per_iteration: int = Field(48, ge=1)  # disjoint seeded slices of the prompt pool
    samples: int = Field(4, ge=2)  # responses per prompt (n)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(64, ge=1)
    min_margin: float = Field(0.0, ge=0)  # best - worst reward below this: the pair is dropped
    length_penalty: float = Field(0.0, ge=0)  # pairs ranked by reward - alpha * response tokens
    reference: Literal["initial", "previous"] = "initial"  # the frozen DPO reference
    start_from: str = "models/dpo"  # the initial policy's dir, relative to the repository root
    # the prompt pool (train split only): the preference set's train prompts, or every SFT one
    prompts: Literal["preferences", "sft"] = "preferences"
    verified_sample: int | None = Field(48, ge=1)  # prompts per iteration gold-checked; None: all
    open_threshold: float = Field(0.8, gt=0, le=1)  # gold-token recall of a verified open answer
    generation_batch_size: int = Field(64, ge=1)  # CPU: few wide batches beat many narrow
    reward_batch_size: int = Field(16, ge=1)
    device: str = "auto"  # generation and reward scoring: auto | cpu | cuda[:i]
    # the policy's samples: transformers (CPU, one GPU) or a vLLM engine per round (GPU hosts),
    # tensor parallel over `tensor_parallel_size` GPUs, prefix caching on
    sampler: Literal["transformers", "vllm"] = "transformers"
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)  # the trainer shares the GPU

    def preference(self) -> PreferenceConfig:
        """The training knobs alone, as the preference trainer takes them."""
        return PreferenceConfig.model_validate(
            self.model_dump(include=set(PreferenceConfig.model_fields))
        )


def parse(params: dict[str, Any]) -> OnlineDpoConfig:
    """Validate `online_dpo`; errors read `params.yaml: online_dpo.<key>: message`."""
    return parse_section(params, SECTION, OnlineDpoConfig)


def start_dir(cfg: OnlineDpoConfig, root: Path) -> Path:
    """The initial policy's model dir (`start_from`), checked to hold a model."""
    path = root / cfg.start_from
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"params.yaml: {SECTION}.start_from: {cfg.start_from} is not a model directory "
            "(no config.json; run the stage that trains it first)"
        )
    return path
