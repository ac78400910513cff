"""DVC stage `reward`: a Bradley-Terry reward model (TRL RewardTrainer) from models/sft on the
preference set (+ decontaminated extra pair files) -> models/reward/, metrics/reward.json."""

from pathlib import Path

from data_core.config import DecontaminateConfig, load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.io import read_records
from data_core.paths import stage_paths
from data_core.schemas import EvalItem, Preference
from generation.weights import load_tokenizer
from rewards.config import parse, rewardbench_files
from rewards.pairs import extra_pairs, preference_pairs
from rewards.training import CARD_TITLE, CARD_USAGE, train_reward
from trainers.training_stage import TrainingStage


@stage_main
def main(root: Path) -> None:
    """Train the reward model; report strict held-out pair accuracy per category."""
    params = load_params(root / "params.yaml")
    paths, cfg, benchmarks = stage_paths(params, root), parse(params), rewardbench_files(params)
    screen = parse_section(params, "decontaminate", DecontaminateConfig)
    inputs = {"start": cfg.start_model(paths), "preferences": paths["sets.preferences"]}
    inputs |= {"eval_items": paths["interim.eval_items"]}
    inputs |= {f"source.{s.name}": root / s.path for s in cfg.sources}
    inputs |= {f"rewardbench{i}": root / f for i, f in enumerate(benchmarks)}
    records = read_records(inputs["preferences"], Preference)
    train = preference_pairs(records, "train", cfg.max_train_records, seed=cfg.seed)
    heldout = {"test": preference_pairs(records, "test", cfg.max_eval_records)}
    if cfg.dev_records:
        heldout["dev"] = preference_pairs(records, "train", cfg.dev_records, len(train), cfg.seed)
    items = read_records(inputs["eval_items"], EvalItem)
    clean = preference_pairs(records, "test")  # extra pairs must not contain any test prompt
    extra, counts = extra_pairs(root, cfg.sources, items, benchmarks, clean, screen)
    tokenizer = load_tokenizer(inputs["start"])
    stage_params = {"reward": params["reward"], "rewardbench_files": benchmarks}
    rules = screen.model_dump(include={"ngram", "short_items"})
    stage_params |= {"decontaminate": rules} if cfg.sources else {}
    stage = TrainingStage("reward", paths, inputs, stage_params)
    with stage.training(paths["models.reward"]) as job:
        result = train_reward(inputs["start"], tokenizer, train + extra, heldout, cfg, job)
        result.metrics |= {"extra_pairs": len(extra), "extra_sources": counts}
        base = paths.relative(f"models.{cfg.init_from}")
        stage.publish(result, model="reward", title=CARD_TITLE, base=base, usage=CARD_USAGE)


if __name__ == "__main__":
    main()
