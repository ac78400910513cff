"""`ultramedical-eval`: score one model on benchmark tasks from one command.

The flags become an EvaluateConfig (one model, a TaskRun per task) over the evaluate stage's own
settings, scored by the stage's runner: same catalog, prompts, scorers, intervals and unit cache.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

PROG = "ultramedical-eval"
SCORERS = ["loglik", "generate", "cot", "self_consistency", "best_of_n"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (exit code 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _max_length(text: str) -> int:
    if text.lower() in ("none", "model"):
        return 0  # explicit: no truncation beyond the model's own limit
    value = int(text)
    if value < 16:
        raise argparse.ArgumentTypeError("must be at least 16 (or `none`: the model's limit)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Every flag, with the help `--help` prints."""
    p = _Parser(
        prog=PROG,
        description="Score a model on medical benchmarks with the evaluate stage's tasks, "
        "prompts, scorers, bootstrap intervals and unit cache. Settings not given here come "
        "from params.yaml's `evaluate:` section when run inside the project.",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        required=True,
        metavar="PATH_OR_URL",
        help="local Hugging Face model directory (hf, vllm) or the base URL of an "
        "OpenAI-compatible server (openai), e.g. http://localhost:8000/v1",
    )
    m.add_argument(
        "--backend",
        choices=["auto", "hf", "vllm", "openai"],
        default="auto",
        help="auto: openai for an http(s) URL, else hf",
    )
    m.add_argument(
        "--name",
        help="model name in outputs and cache (default: the directory "
        "name, or the served model id)",
    )
    m.add_argument(
        "--model-id",
        help="served model name on the OpenAI-compatible server (required with --backend openai)",
    )
    m.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the "
        "server's API key (the key itself is never logged); unset: no key",
    )
    m.add_argument(
        "--chat-template",
        choices=["auto", "always", "never"],
        default="auto",
        help="wrap prompts in the model's chat template: auto = when it has one",
    )
    m.add_argument("--device", help="torch device for hf (default: evaluate.device, auto)")
    t = p.add_argument_group("tasks")
    t.add_argument(
        "--tasks",
        required=True,
        metavar="LIST",
        help="comma-separated: declared task names (ingest.eval_sets, "
        "evaluate.heldout_sets: medqa, medmcqa, pubmedqa, mmlu_medical, hpo_*), "
        "FILE.jsonl of EvalItem records (id, question, options, answer, meta), or "
        "FORMAT:PATH, a benchmark file in a reader format (medqa:dev.jsonl); "
        "NAME=FILE names a file task",
    )
    t.add_argument(
        "--scorer", choices=SCORERS, help="default: the task's declared scorer, else loglik"
    )
    t.add_argument(
        "--num-fewshot",
        type=_non_negative,
        default=0,
        metavar="K",
        help="seeded exemplars from the task's own items",
    )
    t.add_argument("--limit", type=_positive, metavar="N", help="the first N items of each task")
    t.add_argument(
        "--choices", choices=["letters", "texts"], help="loglik continuations (default: the task's)"
    )
    t.add_argument(
        "--group-by",
        metavar="META_KEY",
        help="accuracy per value of this item "
        "meta key for file tasks (declared tasks keep their own, e.g. MMLU subject)",
    )
    t.add_argument(
        "--samples",
        type=_positive,
        help="samples per item for self_consistency "
        "and best_of_n (default: evaluate.generation.samples)",
    )
    t.add_argument(
        "--max-new-tokens",
        type=_positive,
        help="length of sampled answers (default: evaluate.generation.cot_max_new_tokens)",
    )
    t.add_argument(
        "--reward-model",
        metavar="DIR",
        help="reward model directory for best_of_n (default: evaluate.reward_model)",
    )
    r = p.add_argument_group("run")
    r.add_argument(
        "--max-length",
        type=_max_length,
        metavar="TOKENS",
        help="left-truncate "
        "contexts to this many tokens; `none`: the model's limit (default: "
        "evaluate.max_length)",
    )
    r.add_argument(
        "--batch-tokens",
        type=_positive,
        metavar="TOKENS",
        help="tokens per log-likelihood forward batch (default: evaluate.batch_tokens)",
    )
    r.add_argument(
        "--seed",
        type=int,
        help="one seed for few-shot draws, sampling and "
        "bootstrap (default: evaluate's fewshot_seed, generation.seed, bootstrap.seed)",
    )
    r.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="predictions (Parquet) and metrics.json go here (default: eval_results/<name>)",
    )
    r.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="finished (model, task) units, "
        "shared with the evaluate stage (default: its data/eval/cache; outside the "
        "project: <output>/cache)",
    )
    r.add_argument("--no-cache", action="store_true", help="score everything, store nothing")
    r.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="project root with params.yaml (default: the nearest one above the current directory)",
    )
    r.add_argument("-v", "--verbose", action="store_true", help="log progress per task")
    return p


def results_table(result, model: str, title: str, confidence: float):
    """accuracy with its bootstrap interval per task; grouped tasks list each group and the
    macro average (MMLU subjects)."""
    from rich.table import Table

    table = Table(title=title)
    ci_name = f"{confidence:.0%} CI"
    for column in ("task", "n", "scorer", "acc", ci_name, "acc_norm", "unparsed"):
        table.add_column(column, justify="left" if column in ("task", "scorer") else "right")
    for key, m in result.metrics["models"][model].items():
        norm = f"{m['acc_norm']:.4f}" if "acc_norm" in m else ""
        ci = f"[{m['acc_low']:.4f}, {m['acc_high']:.4f}]"
        table.add_row(
            key, str(m["n"]), m["scorer"], f"{m['acc']:.4f}", ci, norm, f"{m['unparsed']}"
        )
        if "subjects" in m:
            for group, g in m["subjects"].items():
                table.add_row(f"  {group}", str(g["n"]), "", f"{g['acc']:.4f}")
            groups = f"{len(m['subjects'])} groups"
            table.add_row("  macro average", groups, "", f"{m['macro']:.4f}")
    return table


def _report(cfg, result, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    model = cfg.models[0]
    per_task = result.metrics["models"][model.name]
    return {
        # the variable's name only: the key itself never reaches a file or a log
        "model": model.identity(exclude={"stage", "scorer"}),
        "tasks": {k: {**result.metrics["tasks"][k], **v} for k, v in per_task.items()},
        "predictions": {k: p.name for k, p in result.predictions.items()},
        "settings": {
            "command": [PROG, *args.argv],
            "fewshot_seed": cfg.fewshot_seed,
            "max_length": cfg.max_length,
            "batch_tokens": cfg.batch_tokens,
            "device": cfg.device,
            "generation": cfg.generation.model_dump(),
            "bootstrap": cfg.bootstrap.model_dump(),
            "cache_dir": cfg.cache_dir,
        },
        "cache": result.cache,
        "seconds": round(seconds, 2),
    }


def run(args: argparse.Namespace, fail: Callable[[str], NoReturn]) -> int:
    """Build the config, run the evaluate stage's runner, print the table, write the outputs."""
    from data_core.io import write_json
    from rich.console import Console

    from evals.cli_config import build_config
    from evals.runner import evaluate

    with tempfile.TemporaryDirectory(prefix="ultramedical-eval-") as tmp:
        cfg, root, output = build_config(args, fail, Path(tmp))
        t0 = time.perf_counter()
        # the stage prunes its cache; a one-off run sharing that cache must not
        result = evaluate(cfg, root, prune=False)
        seconds = time.perf_counter() - t0
    name = cfg.models[0].name
    write_json(output / "metrics.json", _report(cfg, result, args, seconds))
    console = Console()
    if not console.is_terminal:  # piped or captured: 80 columns would crop task names
        console = Console(width=max(console.width, 120))
    title = f"{name} ({cfg.models[0].path})"
    console.print(results_table(result, name, title, cfg.bootstrap.confidence))
    cache = result.cache
    console.print(f"predictions and metrics.json: {output}", soft_wrap=True)
    console.print(
        f"cache {cfg.cache_dir or 'off'}: {cache['hits']} hit(s), {cache['misses']} miss(es); "
        f"{seconds:.1f} s",
        soft_wrap=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors (exit 2: usage and input), never a traceback."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = list(argv)  # recorded in metrics.json: the run can be repeated
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from data_core.errors import DataCoreError
    from pydantic import ValidationError

    try:
        return run(args, parser.error)
    except (DataCoreError, ValidationError, ValueError) as exc:
        text = str(exc)
        if isinstance(exc, ValidationError):
            text = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        print(f"{PROG}: error: {' '.join(text.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a one-line message, not a traceback (--verbose logs it in full)
        logging.getLogger(PROG).info("failure", exc_info=True)
        print(f"{PROG}: error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


def entry() -> NoReturn:
    """`[project.scripts]` target."""
    sys.exit(main())
