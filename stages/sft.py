"""DVC stage `sft`: TRL SFTTrainer on data/sets/sft.parquet from models/base -> models/sft/.

Runs unchanged on the CPU, one GPU, or under
`accelerate launch --config_file configs/accelerate/zero3.yaml stages/sft.py`.
"""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.io import read_records
from data_core.paths import stage_paths
from data_core.schemas import Instruction
from generation.weights import load_tokenizer
from trainers.config import parse
from trainers.knowledge import pretrain_documents
from trainers.sft import conversations, replay_documents, train_sft
from trainers.training_stage import TrainingStage

REPLAY_INPUTS = (("interim", "hpo_diseases"), ("clean", "passages"))


@stage_main
def main(root: Path) -> None:
    """Supervised fine-tuning of the base model."""
    params = load_params(root / "params.yaml")
    paths, cfg = stage_paths(params, root), parse(params, "sft")
    inputs = {"base": paths["models.base"], "sft_set": paths["sets.sft"]}
    records = read_records(inputs["sft_set"], Instruction)
    train = conversations(records, "train", cfg.max_train_records)
    test = conversations(records, "test", cfg.max_eval_records)
    replay = []
    if cfg.replay_ratio > 0:  # the base's own pretraining documents (knowledge replay)
        inputs |= {name: paths[f"{group}.{name}"] for group, name in REPLAY_INPUTS}
        count = round(cfg.replay_ratio * len(train))
        replay = replay_documents(pretrain_documents(root, params), count)
    tokenizer = load_tokenizer(inputs["base"])
    stage = TrainingStage("sft", paths, inputs, {"sft": params["sft"]})
    with stage.training(paths["models.sft"]) as job:
        result = train_sft(inputs["base"], tokenizer, train, test, cfg, job, replay=replay)
        stage.publish(
            result,
            model="sft",
            title="SFT model (TRL SFTTrainer, assistant-only loss)",
            base=paths.relative("models.base"),
        )


if __name__ == "__main__":
    main()
