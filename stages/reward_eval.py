"""DVC stage `reward_eval`: models/reward and three baselines on the held-out preference pairs
-> the pairs in RewardBench's format, per-pair predictions, metrics/reward_eval.json."""

from pathlib import Path

from data_core.config import load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json
from data_core.paths import stage_paths
from data_core.schemas import Preference
from data_core.tracking import stage_run
from rewards import benchmark as bench
from rewards.baselines import baseline_scores
from rewards.rewardbench import score_file, write_rewardbench
from rewards.scoring import RewardModel


@stage_main
def main(root: Path) -> None:
    """Strict pair accuracy per category of the reward model, next to its baselines."""
    params = load_params(root / "params.yaml")
    paths = stage_paths(params, root)
    cfg = parse_section(params, "reward_eval", bench.RewardEvalConfig)
    beta = float(params["preference"]["beta"])
    logged = {"reward_eval": params["reward_eval"], "preference.beta": beta}
    with stage_run("reward_eval", logged, root=root) as run:
        records = read_records(paths["sets.preferences"], Preference)
        pairs = bench.reward_pairs(records, cfg.split, cfg.max_pairs)
        write_rewardbench(paths["reward.rewardbench"], pairs)
        rm = RewardModel.load(paths["models.reward"], device=cfg.device,
                              batch_size=cfg.batch_size, max_length=cfg.max_length)  # fmt: skip
        models = (paths["models.sft"], paths["models.preference"] / "dpo", beta)
        scores = {"reward": bench.pair_rewards(rm, pairs)}
        scores |= baseline_scores(pairs, *models, cfg.max_length, cfg.batch_size)
        metrics = bench.reward_metrics(pairs, scores, cfg.bootstrap)
        if cfg.rewardbench_files:
            metrics["rewardbench"] = {
                f: score_file(rm, root / f, cfg.bootstrap) for f in cfg.rewardbench_files
            }
        bench.write_predictions(paths["reward.predictions"], pairs, scores)
        write_json(paths["metrics"] / "reward_eval.json", metrics)  # results only
        run.set_tags({"reward_model": rm.digest})
        run.log_metrics(metrics)
        run.log_input(paths["sets.preferences"], "preferences")
        run.log_output(paths["reward.predictions"], "reward_predictions")


if __name__ == "__main__":
    main()
