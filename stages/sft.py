"""DVC stage `sft`: TRL SFTTrainer on data/sets/sft.parquet from models/base -> models/sft/.

Runs unchanged on the CPU, one GPU, or under
`accelerate launch --config_file configs/accelerate/zero3.yaml stages/sft.py`.
"""

from pathlib import Path

from data_core.cli import stage_main
from data_core.config import load_params
from data_core.io import file_digest, read_records
from data_core.schemas import Instruction
from data_core.tracking import stage_run
from trainers.common import maybe_run, model_card, model_reference, system_metrics, write_metrics
from trainers.config import parse
from trainers.knowledge import pretrain_documents
from trainers.sft import conversations, replay_documents, train_sft
from transformers import AutoTokenizer


@stage_main
def main(root: Path) -> None:
    """Supervised fine-tuning of the base model."""
    params = load_params(root / "params.yaml")
    cfg = parse(params, "sft")
    inputs = {"base": root / "models/base", "sft_set": root / "data/sets/sft.parquet"}
    records = read_records(inputs["sft_set"], Instruction)
    train = conversations(records, "train", cfg.max_train_records)
    test = conversations(records, "test", cfg.max_eval_records)
    replay = []
    if cfg.replay_ratio > 0:  # the base's own pretraining documents (knowledge replay)
        inputs["hpo_diseases"] = root / "data/interim/hpo_diseases.parquet"
        inputs["passages"] = root / "data/clean/passages.parquet"
        replay = replay_documents(
            pretrain_documents(root, params), round(cfg.replay_ratio * len(train))
        )
    tokenizer = AutoTokenizer.from_pretrained(inputs["base"])
    digests = {name: file_digest(path) for name, path in inputs.items()}
    with maybe_run(stage_run("sft", {"sft": params["sft"]}, root=root)) as run, system_metrics(run):
        metrics = train_sft(
            inputs["base"],
            tokenizer,
            train,
            test,
            cfg,
            root,
            checkpoints=root / "models/checkpoints/sft",
            fingerprint={"params": params["sft"], "data": digests},
            run=run,
            replay=replay,
        )
        if run is None:
            return
        out_dir = root / cfg.output_dir
        card = model_card(out_dir, title="SFT model (TRL SFTTrainer, assistant-only loss)",
                          base="models/base", recipe={"sft": params["sft"]}, metrics=metrics,
                          data={str(p.relative_to(root)): digests[n] for n, p in inputs.items()})  # fmt: skip
        metrics["model"] = model_reference(run, out_dir, "sft", root)
        write_metrics(root / "metrics/sft.json", metrics)
        for name, path in inputs.items():
            run.log_input(path, name)
        run.log_metrics(metrics)
        run.log_artifact(card)


if __name__ == "__main__":
    main()
