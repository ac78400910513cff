"""DVC stage `preference@<loss>`: TRL DPO / KTO / NCA from models/sft -> models/<loss>/.

Usage: `python stages/preference.py --loss dpo` (or kto, nca); settings from params `preference:`.
"""

import sys
from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.io import read_records
from data_core.paths import stage_paths
from data_core.schemas import Preference
from trainers.config import LOSSES, parse
from trainers.preference import pair_rows, train_preference
from trainers.training_stage import TrainingStage
from transformers import AutoTokenizer


def take_loss() -> str:
    """Pop `--loss NAME` from argv (stage_main parses the rest)."""
    if "--loss" not in sys.argv:
        sys.exit(f"usage: {sys.argv[0]} --loss {{{','.join(LOSSES)}}} [--root ROOT]")
    i = sys.argv.index("--loss")
    loss = sys.argv[i + 1] if i + 1 < len(sys.argv) else ""
    del sys.argv[i : i + 2]
    if loss not in LOSSES:
        sys.exit(f"error: --loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    return loss


LOSS = take_loss() if __name__ == "__main__" else "dpo"


@stage_main
def main(root: Path) -> None:
    """Preference learning (DPO / KTO / NCA) from the SFT model against its frozen copy."""
    params = load_params(root / "params.yaml")
    paths, cfg = stage_paths(params, root), parse(params, "preference")
    inputs = {"sft": paths["models.sft"], "preferences": paths["sets.preferences"]}
    records = read_records(inputs["preferences"], Preference)
    train = pair_rows(records, "train", cfg.max_train_records)
    test = pair_rows(records, "test", cfg.max_eval_records)
    tokenizer = AutoTokenizer.from_pretrained(inputs["sft"])
    stage = TrainingStage(LOSS, paths, inputs, {"preference": params["preference"], "loss": LOSS})
    with stage.training(paths["models.preference"] / LOSS) as job:
        result = train_preference(LOSS, inputs["sft"], tokenizer, train, test, cfg, job)
        stage.publish(
            result,
            model=LOSS,
            title=f"{LOSS.upper()} model (TRL, reference = models/sft)",
            base=paths.relative("models.sft"),
        )


if __name__ == "__main__":
    main()
