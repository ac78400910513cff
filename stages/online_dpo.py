"""DVC stage `online_dpo`: reward-model-guided iterative DPO, models/dpo -> models/online_dpo/;
rounds resume, responses are cached and screened against the benchmarks (params `online_dpo:`)."""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.io import read_records
from data_core.paths import stage_paths
from data_core.schemas import Instruction, Preference
from generation.hf import resolve_device
from generation.weights import load_tokenizer
from rewards.online import OnlineInputs, cached_policy_generators, train_online
from rewards.online_config import parse, start_dir
from rewards.online_pairs import prompt_pool
from rewards.online_screen import online_screen
from rewards.scoring import RewardModel
from trainers.preference import pair_rows
from trainers.training_stage import TrainingStage


@stage_main
def main(root: Path) -> None:
    """Sample, score with the reward model, pair best vs worst, DPO; `iterations` times."""
    params = load_params(root / "params.yaml")
    paths, cfg = stage_paths(params, root), parse(params)
    inputs = {"start": start_dir(cfg, root), "reward": paths["models.reward"]}
    inputs |= {"sft": paths["models.sft"], "sft_set": paths["sets.sft"]}
    inputs |= {"preferences": paths["sets.preferences"], "eval_items": paths["interim.eval_items"]}
    preferences = read_records(inputs["preferences"], Preference)
    instructions = read_records(inputs["sft_set"], Instruction)
    chosen = preferences if cfg.prompts == "preferences" else None
    pool = prompt_pool(instructions, chosen, inputs["sft_set"])
    test = pair_rows(preferences, "test", cfg.max_eval_records)
    device = resolve_device(cfg.device)
    rm = RewardModel.load(inputs["reward"], device=device, batch_size=cfg.reward_batch_size)
    cache = paths["synth.cache"] / "online_dpo.sqlite"
    policies = cached_policy_generators(cache, cfg, device)
    screen, rules = online_screen(params, inputs["eval_items"])
    run = OnlineInputs(pool, inputs["start"], rm, policies, screen, paths["synth.online_removed"])
    stage = TrainingStage("online_dpo", paths, inputs, {"online_dpo": params["online_dpo"]} | rules)
    with stage.training(paths["models.online_dpo"]) as job:
        tokenizer = load_tokenizer(inputs["start"])
        result = train_online(cfg, job, tokenizer, run, test, inputs["sft"])
        title = f"Online DPO model ({cfg.iterations} reward-model-guided rounds)"
        stage.publish(result, model="online_dpo", title=title, base=cfg.start_from)


if __name__ == "__main__":
    main()
