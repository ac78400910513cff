"""Typed view of the `synth:` section of params.yaml."""

from __future__ import annotations

from typing import Literal

from data_core.config import Strict
from pydantic import Field, model_validator


class SamplingConfig(Strict):
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, ge=1)


class BackendConfig(Strict):
    """One named generator; which fields matter depends on `kind`."""

    kind: Literal["kb", "transformers", "openai", "vllm"]
    model: str | None = None  # kb: display name; transformers/vllm: path; openai: model name
    error_rate: float = Field(0.0, ge=0, le=1)  # kb: share of deliberately wrong answers
    detail_rate: float = Field(0.5, ge=0, le=1)  # kb: share of long answers
    latency_s: float = Field(0.0, ge=0)  # kb: simulated latency
    batch_size: int = Field(8, ge=1)  # transformers / vllm
    device: str = "cpu"
    dtype: str = "float32"
    base_url: str | None = None  # openai
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0)
    retry_initial_s: float = Field(0.5, ge=0)  # exponential backoff with jitter
    retry_max_s: float = Field(20.0, ge=0)
    # Requests allowed to fail after their retries before the stage stops (0: every response is
    # needed). Within it a failed request reads as an empty response, which the stage drops.
    max_failures: int = Field(0, ge=0)
    price_prompt_per_1k: float = Field(0.0, ge=0)
    price_completion_per_1k: float = Field(0.0, ge=0)
    tensor_parallel_size: int = Field(1, ge=1)  # vllm
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enable_prefix_caching: bool = True  # vllm: the panel's and judge's prompts share prefixes
    pipeline_parallel_size: int = Field(1, ge=1)  # vllm, across nodes when a model spans them
    distributed_executor_backend: Literal["mp", "ray"] | None = None  # vllm; ray: multi-node

    @model_validator(mode="after")
    def _model_needed(self) -> BackendConfig:
        if self.kind != "kb" and not self.model:
            raise ValueError(f"a {self.kind} backend needs `model`")
        return self


class HeldoutConfig(Strict):
    """Eval items per knowledge task; which diseases are held out is params.yaml `knowledge`."""

    diagnosis: int = Field(300, ge=0)  # gold held-out, distractors any disease
    diagnosis_heldout: int = Field(300, ge=0)  # gold and distractors all held-out
    diagnosis_dev: int = Field(300, ge=0)  # dev part, all options dev: recipe selection
    dev_per_subject: int = Field(1, ge=1)  # dev vignettes per dev disease (other findings each)
    definition: int = Field(300, ge=0)


class SynthesizeConfig(Strict):
    backend: str = "kb"
    counts: dict[Literal["definition", "diagnosis", "phenotype", "hierarchy"], int] = Field(
        default_factory=lambda: {
            "definition": 1500,
            "diagnosis": 1500,
            "phenotype": 800,
            "hierarchy": 800,
        }
    )
    n_options: int = Field(4, ge=2, le=8)
    n_options_max: int = Field(5, ge=2, le=8)  # diagnosis vignettes draw 4..5 options
    findings: tuple[int, int] = (3, 6)
    min_phenotypes: int = Field(5, ge=3)
    max_per_subject: int = Field(1, ge=1)  # disease/term questions per subject (new findings each)
    # LLM backends: generate from text seeds (params `paths.clean.passages`).
    seed_sources: list[str] = Field(default_factory=lambda: ["textbooks"])
    max_seeds: int = Field(200, ge=0)


class EvolveConfig(Strict):
    backend: str = "kb"
    fraction: float = Field(0.5, ge=0, le=1)  # share of instructions that get one evolution
    operations: list[str] = Field(
        default_factory=lambda: [
            "more_findings",
            "negative_findings",
            "harder_distractors",
            "add_constraint",
            "definition_to_mc",
        ]
    )


class ScoreConfig(Strict):
    backend: str = "kb"
    min_quality: float = Field(5.0, ge=0, le=10)
    min_difficulty: float = Field(1.0, ge=0, le=10)
    max_difficulty: float = Field(10.0, ge=0, le=10)
    max_per_kind: int | None = Field(None, ge=1)


class PanelMember(Strict):
    backend: str
    n: int = Field(1, ge=1)
    max_instructions: int | None = Field(None, ge=1)  # subset (keeps slow members cheap)
    enabled: bool = True


class SampleConfig(Strict):
    panel: list[PanelMember] = Field(min_length=1)
    max_instructions: int | None = Field(None, ge=1)
    chunk: int = Field(64, ge=1)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


class JudgeConfig(Strict):
    backend: str = "kb"  # kb: verification + rubric by the knowledge base; else an LLM judge
    open_threshold: float = Field(0.8, ge=0, le=1)  # gold-token recall: open answer verified
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0.0))


class BuildConfig(Strict):
    test_fraction: float = Field(0.05, ge=0, lt=1)
    salt: str = "synth-sets"
    manual_fraction: float = Field(1.0, ge=0, le=1)  # share of data/clean instructions mixed in
    min_margin: float = Field(1.0, ge=0)
    hard_margin: float = Field(6.0, ge=0)  # margin below this between two verified answers: hard
    length_ratio: float = Field(1.5, ge=1)  # chosen this much longer than rejected: length
    max_pairs_per_prompt: int = Field(2, ge=1)


class SynthConfig(Strict):
    """synth: backends, cache and the six data-engine steps."""

    seed: int = 42
    # how the kb teachers open an MC answer: "The answer is C. ..." (letter),
    # "<option text>. The answer is C. ..." (option_first: the name first, what a small model
    # recalls), or for diagnoses "A patient with <findings> may have <option text>. The answer is
    # C." (findings_first: the findings, then the disease, in the words the base read its facts in)
    answer_style: Literal["letter", "option_first", "findings_first"] = "letter"
    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig)
    backends: dict[str, BackendConfig] = Field(
        default_factory=lambda: {"kb": BackendConfig(kind="kb")}
    )
    synthesize: SynthesizeConfig = Field(default_factory=SynthesizeConfig)
    evolve: EvolveConfig = Field(default_factory=EvolveConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    sample: SampleConfig
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)

    @model_validator(mode="after")
    def _backends_exist(self) -> SynthConfig:
        used = [
            ("synthesize.backend", self.synthesize.backend),
            ("evolve.backend", self.evolve.backend),
            ("score.backend", self.score.backend),
            ("judge.backend", self.judge.backend),
        ]
        used += [(f"sample.panel[{i}].backend", m.backend) for i, m in enumerate(self.sample.panel)]
        for where, name in used:
            if name not in self.backends:
                raise ValueError(
                    f"{where}: unknown backend {name!r}; known: {sorted(self.backends)}"
                )
        return self
