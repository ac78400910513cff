"""DVC stages `dpo`, `kto`, `nca`: TRL preference learning from models/sft -> models/<loss>/.

Usage: `python stages/preference.py --loss dpo` (or kto, nca); settings from params `preference:`.
"""

import sys
from pathlib import Path

from data_core.cli import stage_main
from data_core.config import load_params
from data_core.io import file_digest, read_records
from data_core.schemas import Preference
from data_core.tracking import stage_run
from trainers.common import maybe_run, model_card, model_reference, system_metrics, write_metrics
from trainers.config import LOSSES, parse
from trainers.preference import pair_rows, train_preference
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
    cfg = parse(params, "preference")
    inputs = {"sft": root / "models/sft", "preferences": root / "data/sets/preferences.parquet"}
    records = read_records(inputs["preferences"], Preference)
    train = pair_rows(records, "train", cfg.max_train_records)
    test = pair_rows(records, "test", cfg.max_eval_records)
    tokenizer = AutoTokenizer.from_pretrained(inputs["sft"])
    digests = {name: file_digest(path) for name, path in inputs.items()}
    logged = {"preference": params["preference"], "loss": LOSS}
    with maybe_run(stage_run(LOSS, logged, root=root)) as run, system_metrics(run):
        metrics = train_preference(LOSS, inputs["sft"], tokenizer, train, test, cfg, root,
                                   checkpoints=root / f"models/checkpoints/{LOSS}",
                                   fingerprint={"params": logged, "data": digests}, run=run)  # fmt: skip
        if run is None:
            return
        out_dir = root / cfg.for_loss(LOSS).output_dir
        card = model_card(out_dir, title=f"{LOSS.upper()} model (TRL, reference = models/sft)",
                          base="models/sft", recipe=logged, metrics=metrics,
                          data={str(p.relative_to(root)): digests[n] for n, p in inputs.items()})  # fmt: skip
        metrics["model"] = model_reference(run, out_dir, LOSS, root)
        write_metrics(root / f"metrics/{LOSS}.json", metrics)
        for name, path in inputs.items():
            run.log_input(path, name)
        run.log_metrics(metrics)
        run.log_artifact(card)


if __name__ == "__main__":
    main()
