"""DVC stage `preference@<loss>`: TRL DPO / KTO / NCA from models/sft -> models/<loss>/.

Usage: `python stages/preference.py --loss dpo` (or kto, nca); settings from params `preference:`.
"""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.io import read_records
from data_core.paths import stage_paths
from data_core.schemas import Preference
from generation.weights import load_tokenizer
from trainers.config import LOSSES, parse
from trainers.preference import pair_rows, train_preference
from trainers.training_stage import TrainingStage


@stage_main(choices={"loss": LOSSES})
def main(root: Path, loss: str) -> None:
    """Preference learning (DPO / KTO / NCA) from the SFT model against its frozen copy."""
    params = load_params(root / "params.yaml")
    paths, cfg = stage_paths(params, root), parse(params, "preference")
    inputs = {"sft": paths["models.sft"], "preferences": paths["sets.preferences"]}
    records = read_records(inputs["preferences"], Preference)
    train = pair_rows(records, "train", cfg.max_train_records)
    test = pair_rows(records, "test", cfg.max_eval_records)
    tokenizer = load_tokenizer(inputs["sft"])
    stage = TrainingStage(loss, paths, inputs, {"preference": params["preference"], "loss": loss})
    with stage.training(paths["models.preference"] / loss) as job:
        result = train_preference(loss, inputs["sft"], tokenizer, train, test, cfg, job)
        stage.publish(
            result,
            model=loss,
            title=f"{loss.upper()} model (TRL, reference = models/sft)",
            base=paths.relative("models.sft"),
        )


if __name__ == "__main__":
    main()
