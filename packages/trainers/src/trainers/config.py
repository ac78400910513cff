"""Typed views of params.yaml sections: tokenizer, model, pretrain, sft, preference."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from data_core.config import Strict, parse_section
from pydantic import Field, model_validator

SPECIAL_TOKENS = {
    "bos": "<|begin_of_text|>",
    "eos": "<|end_of_text|>",
    "start_header": "<|start_header_id|>",
    "end_header": "<|end_header_id|>",
    "eot": "<|eot_id|>",
    "pad": "<|finetune_right_pad_id|>",
}


Phrasing = Literal["characterized", "present", "features", "suggest"]


class PhrasingConfig(Strict):
    """How disease facts are written as text: phrasings in rotation, several per disease."""

    variants: int = Field(3, ge=1)  # sentence sets per disease, each with its own phenotype order
    # one per variant, in rotation; `suggest` puts the findings before the disease's name
    phrasings: list[Phrasing] = Field(
        default_factory=lambda: ["characterized", "present", "features"], min_length=1
    )
    max_phenotypes: int = Field(12, ge=1)  # per sentence, so one sentence stays short
    suggest_findings: int = Field(4, ge=1)  # findings per `suggest` sentence
    seed: int = 0


class KnowledgeConfig(PhrasingConfig):
    """Which HPO diseases become tokenizer text (pretraining reads the `knowledge` domain)."""

    prefixes: list[str] = Field(default_factory=lambda: ["OMIM"])  # id prefixes kept
    min_phenotypes: int = Field(5, ge=1)
    max_diseases: int | None = Field(300, ge=1)  # None: every disease that passes the filters


class TokenizerConfig(Strict):
    """tokenizer: byte-level BPE trained here, or the real model's tokenizer at full scale."""

    vocab_size: int = Field(4096, ge=300)
    min_frequency: int = Field(2, ge=1)
    model_max_length: int = Field(2048, ge=16)
    passages: bool = True
    synth_instructions: bool = True  # data/synth/scored.parquet when it exists
    knowledge: KnowledgeConfig = Field(
        default_factory=lambda: KnowledgeConfig(max_diseases=None, variants=1)
    )


class ModelConfig(Strict):
    """model: the Llama-3 architecture of the tiny base, or `base_path` to real weights."""

    base_path: str | None = None  # full scale: a local HF model dir (e.g. Meta-Llama-3-8B)
    hidden_size: int = Field(192, ge=8)
    intermediate_size: int = Field(512, ge=8)
    num_hidden_layers: int = Field(4, ge=1)
    num_attention_heads: int = Field(6, ge=1)
    num_key_value_heads: int = Field(2, ge=1)
    max_position_embeddings: int = Field(512, ge=16)
    rope_theta: float = Field(500000.0, gt=0)
    rms_norm_eps: float = Field(1e-5, gt=0)
    hidden_act: Literal["silu"] = "silu"  # SwiGLU
    tie_word_embeddings: bool = True
    initializer_range: float = Field(0.02, gt=0)
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads (GQA)")
        return self


class TrainConfig(Strict):
    """Knobs shared by every training stage; they map onto transformers.TrainingArguments."""

    section: ClassVar[str] = "training"  # the params.yaml section, for error messages

    learning_rate: float = Field(gt=0, le=1)
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int = Field(8, ge=1)
    per_device_eval_batch_size: int = Field(16, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(512, ge=16)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    gradient_checkpointing: bool = False
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int = Field(2, ge=1)
    eval_steps: int | None = Field(None, ge=1)  # None: evaluate once at the end
    seed: int = 42
    deepspeed: str | None = None  # path to a DeepSpeed JSON (configs/deepspeed/zero3.json)
    max_time_s: float | None = Field(None, gt=0)  # soft cap: stop training after this long
    attn_implementation: str | None = None  # e.g. flash_attention_2 on GPUs; None: as saved
    # Liger's Triton kernels (RMSNorm, RoPE, SwiGLU) patched into the model by transformers;
    # needs `liger-kernel` and a GPU
    use_liger_kernel: bool = False
    output_dir: str


class PretrainConfig(TrainConfig):
    """pretrain: causal-LM training of the tiny base on knowledge text."""

    section: ClassVar[str] = "pretrain"

    learning_rate: float = Field(2e-3, gt=0, le=1)
    max_length: int = Field(256, ge=16)
    output_dir: str = "models/base"
    knowledge: PhrasingConfig = Field(default_factory=PhrasingConfig)
    passages_limit: int | None = Field(2000, ge=0)  # HPO definitions + textbook paragraphs mixed in
    eval_fraction: float = Field(0.02, ge=0, lt=0.5)


class SftConfig(TrainConfig):
    """sft: TRL SFTTrainer on the SFT set (assistant-only loss, packing)."""

    section: ClassVar[str] = "sft"

    learning_rate: float = Field(1e-3, gt=0, le=1)
    output_dir: str = "models/sft"
    packing: bool = True
    assistant_only_loss: bool = True
    max_train_records: int | None = Field(None, ge=1)
    max_eval_records: int | None = Field(500, ge=1)
    # knowledge replay: pretraining documents mixed in (plain LM loss), as a share of the
    # conversations, so fine-tuning does not overwrite what the base read
    replay_ratio: float = Field(0.0, ge=0)


class LossConfig(Strict):
    """Per-loss overrides of the shared preference settings."""

    beta: float | None = Field(None, gt=0)
    learning_rate: float | None = Field(None, gt=0, le=1)
    desirable_weight: float = Field(1.0, gt=0)  # KTO only
    undesirable_weight: float = Field(1.0, gt=0)  # KTO only


class PreferenceConfig(TrainConfig):
    """preference: DPO / KTO / NCA from the SFT model against a frozen reference copy."""

    section: ClassVar[str] = "preference"

    learning_rate: float = Field(5e-4, gt=0, le=1)
    output_dir: str = "models/{loss}"
    beta: float = Field(0.1, gt=0)
    max_train_records: int | None = Field(None, ge=1)
    max_eval_records: int | None = Field(500, ge=1)
    # TRL computes the frozen reference's log-probs of every training pair before training, kept
    # on disk (models/checkpoints/ref_logps) by the tokenized pairs and the reference's weights
    precompute_ref_log_probs: bool = False
    precompute_ref_batch_size: int | None = Field(None, ge=1)  # None: the train batch size
    dpo: LossConfig = Field(default_factory=LossConfig)
    kto: LossConfig = Field(default_factory=LossConfig)
    nca: LossConfig = Field(default_factory=LossConfig)

    def for_loss(self, loss: str) -> PreferenceConfig:
        """The shared settings with the loss's overrides applied and its output dir filled in."""
        over: LossConfig = getattr(self, loss)
        data = self.model_dump()
        data["output_dir"] = self.output_dir.format(loss=loss)
        if over.beta is not None:
            data["beta"] = over.beta
        if over.learning_rate is not None:
            data["learning_rate"] = over.learning_rate
        return PreferenceConfig.model_validate(data)


LOSSES = ("dpo", "kto", "nca")
SECTIONS: dict[str, type[Strict]] = {
    "tokenizer": TokenizerConfig,
    "model": ModelConfig,
    "pretrain": PretrainConfig,
    "sft": SftConfig,
    "preference": PreferenceConfig,
}


def parse(params: dict[str, Any], section: str) -> Any:
    """Validate one trainers section; errors read `params.yaml: section.key: message`."""
    return parse_section(params, section, SECTIONS[section])
