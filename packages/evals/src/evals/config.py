"""Typed views of the evaluate, dev_eval, diagnose and report sections of params.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from data_core.config import Strict, parse_section
from data_core.errors import ConfigError
from data_core.paths import StagePaths
from pydantic import Field, model_validator

from evals.tasks import FileTask, Scorer, TaskSpec, task_catalog

C = TypeVar("C", "EvaluateConfig", "DevEvalConfig", "DiagnoseConfig", "ReportConfig")


# ModelSpec's vLLM engine settings, named as generation.vllm_engine.VllmOptions names them
ENGINE = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "distributed_executor_backend",
    "gpu_memory_utilization",
    "enable_prefix_caching",
)


class ModelSpec(Strict):
    """One model to evaluate: a local directory (hf / vllm) or an OpenAI-compatible endpoint."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    path: str
    backend: Literal["hf", "vllm", "openai"] = "hf"
    model_id: str | None = None  # served model name for `openai` (default: path)
    base_url: str | None = None
    api_key_env: str | None = None  # name of the env var holding the key; the key is never logged
    stage: str | None = None  # recipe stage shown on the per-stage plot (default: name)
    # the model's natural format: `never` for a base (cloze), `always` for a chat model;
    # a task run's own chat_template wins (e.g. the all-cloze comparison); None: evaluate's
    chat_template: Literal["auto", "always", "never"] | None = None
    # the model's natural scorer for task runs that name none (e.g. `generate` for a chat model:
    # greedy answers it can be parsed from); None: loglik
    scorer: Scorer | None = None
    # vllm only: GPUs the weights are split over (tensor parallel, within a node), stages
    # (pipeline parallel; across nodes with the ray executor, for a model one node cannot hold),
    # the GPU memory share, prefix caching
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    distributed_executor_backend: Literal["mp", "ray"] | None = None
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enable_prefix_caching: bool = True

    @model_validator(mode="after")
    def _vllm_settings(self) -> ModelSpec:
        if self.backend != "vllm" and self.engine_settings():
            key = next(iter(self.engine_settings()))
            raise ValueError(f"{key} applies to the vllm backend only (this is {self.backend})")
        return self

    def engine_settings(self) -> dict[str, Any]:
        """The vLLM engine settings that differ from their defaults."""
        fields = type(self).model_fields
        return {k: getattr(self, k) for k in ENGINE if getattr(self, k) != fields[k].default}

    def identity(self, exclude: set[str]) -> dict[str, Any]:
        """The spec as cache keys and reports record it: engine settings only where set, so
        adding them left every existing key (and cached result) as it was."""
        unset = set(ENGINE) - set(self.engine_settings())
        return self.model_dump(exclude=exclude | unset)


class TaskRun(Strict):
    """One task as evaluated: a declared task's name and how to score it."""

    name: str
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$")  # metrics key; default: name
    scorer: Scorer | None = None  # None: the task's, else each model's own, else loglik
    num_fewshot: int = Field(0, ge=0)
    choices: Literal["letters", "texts"] | None = None  # default: the task's
    chat_template: Literal["auto", "always", "never"] | None = None  # default: evaluate's
    limit: int | None = Field(None, ge=1)
    # sampled scorers (self_consistency, best_of_n): samples per item and their length; None:
    # evaluate.generation's samples and cot_max_new_tokens
    samples: int | None = Field(None, ge=1)
    max_new_tokens: int | None = Field(None, ge=1)
    optional: bool = False  # skip (and say so) when the items file is absent
    models: list[str] | None = None  # only these models (names); None: every model
    # when the task's prefill opens the answer: inside a chat template (chat), also after a cloze
    # prompt (always: a base primed with the answer's opening, a probe of what it knows), never
    prefill: Literal["chat", "always", "never"] = "chat"

    @property
    def key(self) -> str:
        """Where this run's numbers go: metrics, predictions file, comparisons."""
        return self.label or self.name


class GenerationParams(Strict):
    max_new_tokens: int = Field(16, ge=1)
    cot_max_new_tokens: int = Field(256, ge=1)
    samples: int = Field(10, ge=1)  # self-consistency / best-of-n
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    seed: int = 0


class BootstrapParams(Strict):
    resamples: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0


class EvaluateConfig(Strict):
    """evaluate: every model on every task; predictions, metrics and paired comparisons."""

    eval_items: str = "data/interim/eval_items.parquet"
    heldout_items: str = "data/synth/heldout_eval.parquet"
    predictions_dir: str = "data/eval/predictions"
    metrics: str = "metrics/eval.json"
    cache_dir: str | None = "data/eval/cache"  # finished (model, task) units: resume; None: off
    models: list[ModelSpec] = Field(min_length=1)
    tasks: list[TaskRun] = Field(min_length=1)
    # the declared tasks: benchmark files (filled from ingest.eval_sets by `load_evaluate`) and
    # tasks over the held-out items
    eval_sets: list[FileTask] = Field(default_factory=list)
    heldout_sets: list[TaskSpec] = Field(default_factory=list)
    chat_template: Literal["auto", "always", "never"] = "auto"  # auto: when the model has one
    fewshot_seed: int = 1234
    batch_tokens: int = Field(16384, ge=256)  # tokens per log-likelihood forward batch
    # left-truncate contexts (lm-eval max_length); None: the model's limit
    max_length: int | None = Field(None, ge=16)
    device: str = "auto"
    generation: GenerationParams = Field(default_factory=GenerationParams)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    comparisons: list[tuple[str, str]] = Field(default_factory=list)  # (a, b): b vs a, same items
    reward_scorer: str | None = None  # "module:factory" returning a RewardScorer, for best_of_n
    reward_model: str | None = None  # the reward model's dir, passed to the factory; cache keys

    @property
    def catalog(self) -> dict[str, TaskSpec]:
        """Every declared task by name."""
        return task_catalog(self.eval_sets, self.heldout_sets)

    @model_validator(mode="after")
    def _consistent(self) -> EvaluateConfig:
        catalog = self.catalog
        for i, t in enumerate(self.tasks):
            if t.name not in catalog:
                raise ValueError(
                    f"tasks[{i}].name: unknown task {t.name!r}; declared (ingest.eval_sets, "
                    f"evaluate.heldout_sets): {', '.join(sorted(catalog))}"
                )
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique: {names}")
        keys = [t.key for t in self.tasks]
        if len(set(keys)) != len(keys):  # e.g. medqa greedy and medqa self-consistency
            raise ValueError(f"two runs of one task need distinct `label`s: {keys}")
        for a, b in self.comparisons:
            for n in (a, b):
                if n not in names:
                    raise ValueError(f"comparison names unknown model {n!r}")
        for t in self.tasks:
            unknown = sorted(set(t.models or ()) - set(names))
            if unknown:
                raise ValueError(f"task {t.key!r} names unknown models {unknown}")
        scorers = [t.scorer for t in self.tasks] + [m.scorer for m in self.models]
        scorers += [t.scorer for t in catalog.values()]
        if "best_of_n" in scorers and not self.reward_scorer:
            raise ValueError("a best_of_n task needs reward_scorer: 'module:factory'")
        return self


class ReportConfig(Strict):
    """report: where the HTML and Markdown go and which metrics files feed them."""

    html: str = "reports/report.html"
    markdown: str = "reports/summary.md"
    plots_dir: str = "plots"
    eval_metrics: str = "metrics/eval.json"
    diagnosis_metrics: str = "metrics/diagnosis.json"
    predictions_dir: str = "data/eval/predictions"  # their md5s are listed under the report
    # the held-out task keys of "Does the recipe work?", in the order shown
    heldout_tasks: list[str] = Field(default_factory=list)
    reward_metrics: str = "metrics/reward_eval.json"
    # every screening stage's counts, the per-benchmark table (the `contamination` stage)
    contamination_metrics: str = "metrics/contamination.json"
    funnel_metrics: list[str] = Field(
        default_factory=lambda: [
            "metrics/ingest.json",
            "metrics/decontaminate.json",
            "metrics/contamination.json",
        ]
    )
    training_stages: list[str] = Field(
        default_factory=lambda: ["pretrain", "sft", "dpo", "kto", "nca", "online_dpo", "reward"]
    )
    stage_order: list[str] = Field(
        default_factory=lambda: ["base", "sft", "dpo", "kto", "nca", "online_dpo"]
    )


class DiagnoseConfig(Strict):
    """diagnose: held-out accuracy split by what the base read and by SFT-answer distractors."""

    tasks: list[str] = Field(min_length=1)  # evaluate task keys (labels) over held-out items
    models: list[str] = Field(min_length=1)
    sft_set: str = "data/sets/sft.parquet"
    hpo_diseases: str = "data/interim/hpo_diseases.parquet"
    metrics: str = "metrics/diagnosis.json"


class DevEvalConfig(Strict):
    """dev_eval: a few models on the dev tasks, where the recipe is chosen (not the held-out)."""

    models: list[str] = Field(min_length=1)  # names from evaluate.models
    tasks: list[TaskRun] = Field(min_length=1)
    comparisons: list[tuple[str, str]] = Field(default_factory=list)
    predictions_dir: str = "data/eval/dev"
    metrics: str = "metrics/dev.json"

    def evaluate_config(self, base: EvaluateConfig) -> EvaluateConfig:
        """evaluate's settings with these models, tasks and outputs (no unit cache: it is small)."""
        known = {m.name: m for m in base.models}
        missing = [m for m in self.models if m not in known]
        if missing:
            raise ValueError(f"dev_eval.models not in evaluate.models: {missing}")
        data = base.model_dump()
        data.update(
            models=[known[m].model_dump() for m in self.models],
            tasks=[t.model_dump() for t in self.tasks],
            comparisons=self.comparisons,
            predictions_dir=self.predictions_dir,
            metrics=self.metrics,
            cache_dir=None,
        )
        return EvaluateConfig.model_validate(data)


EVERY_BENCHMARK = "eval_sets"  # an evaluate.tasks run of every ingest.eval_sets entry


def load_evaluate(params: Mapping[str, Any]) -> EvaluateConfig:
    """The `evaluate:` section with the benchmark tasks declared in `ingest.eval_sets`.

    A run named `eval_sets` stands for one run of every declared benchmark, in declared order, so
    adding a benchmark is one `ingest.eval_sets` entry.
    """
    section = dict(params.get("evaluate") or {})
    section["eval_sets"] = list((params.get("ingest") or {}).get("eval_sets") or [])
    runs: list[Any] = []
    for run in section.get("tasks") or []:
        if not (isinstance(run, Mapping) and run.get("name") == EVERY_BENCHMARK):
            runs.append(run)
        elif "label" in run:
            raise ConfigError("params.yaml: evaluate.tasks: a run of every benchmark has no label")
        else:
            runs += [{**run, "name": entry["name"]} for entry in section["eval_sets"]]
    section["tasks"] = runs
    try:
        return parse_section({"evaluate": section}, "evaluate", EvaluateConfig)
    except ConfigError as exc:  # the entries' own keys are ingest's
        raise ConfigError(str(exc).replace("evaluate.eval_sets", "ingest.eval_sets")) from None


def located(cfg: C, paths: StagePaths) -> C:
    """A config with its files where params `paths:` names them (the stages' view; the defaults
    above are the same places, for library use and tests)."""
    metrics = paths.relative("metrics")
    where: dict[type, dict[str, str]] = {
        EvaluateConfig: {
            "eval_items": paths.relative("interim.eval_items"),
            "heldout_items": paths.relative("synth.heldout_eval"),
            "predictions_dir": paths.relative("eval.predictions"),
            "cache_dir": paths.relative("eval.cache"),
            "metrics": f"{metrics}/eval.json",
        },
        DevEvalConfig: {
            "predictions_dir": paths.relative("eval.dev"),
            "metrics": f"{metrics}/dev.json",
        },
        DiagnoseConfig: {
            "sft_set": paths.relative("sets.sft"),
            "hpo_diseases": paths.relative("interim.hpo_diseases"),
            "metrics": f"{metrics}/diagnosis.json",
        },
        ReportConfig: {
            "html": paths.relative("reports.html"),
            "markdown": paths.relative("reports.markdown"),
            "plots_dir": paths.relative("reports.plots"),
            "predictions_dir": paths.relative("eval.predictions"),
            "eval_metrics": f"{metrics}/eval.json",
            "diagnosis_metrics": f"{metrics}/diagnosis.json",
            "reward_metrics": f"{metrics}/reward_eval.json",
            "contamination_metrics": f"{metrics}/contamination.json",
        },
    }
    return cfg.model_copy(update=where[type(cfg)])
