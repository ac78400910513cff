"""DVC stage `build`: judged completions -> data/sets/{sft,preferences}.{parquet,jsonl} + card."""

import time
from pathlib import Path

from data_core.cli import stage_main
from data_core.io import (
    export_chat_jsonl,
    read_records,
    write_json,
    write_jsonl,
    write_records,
    write_text,
)
from data_core.schemas import Completion, Instruction, Judgement, Preference
from data_core.tracking import stage_run
from synth.build import build_sets, dataset_card
from synth.runtime import load_config


@stage_main
def main(root: Path) -> None:
    """Write the SFT and preference sets with their splits and dataset card."""
    raw, cfg = load_config(root)
    src = {"scored": root / "data/synth/scored.parquet",
           "completions": root / "data/synth/completions.parquet",
           "judgements": root / "data/synth/judgements.parquet",
           "manual": root / "data/clean/instructions.parquet"}  # fmt: skip
    sets = root / "data/sets"
    with stage_run("build", raw, root=root) as run:
        start = time.perf_counter()
        sft, prefs, metrics = build_sets(
            read_records(src["scored"], Instruction), read_records(src["completions"], Completion),
            read_records(src["judgements"], Judgement), read_records(src["manual"], Instruction),
            cfg.build)  # fmt: skip
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_records(sets / "sft.parquet", sft, Instruction)
        export_chat_jsonl(sets / "sft.jsonl", sft)
        write_records(sets / "preferences.parquet", prefs, Preference)
        write_jsonl(sets / "preferences.jsonl", (p.model_dump() for p in prefs))
        write_text(sets / "README.md", dataset_card(sft, prefs, metrics, cfg.build))
        write_json(root / "metrics/build.json", metrics)
        for name, path in src.items():
            run.log_input(path, name)
        for name in ("sft.parquet", "sft.jsonl", "preferences.parquet", "preferences.jsonl"):
            run.log_output(sets / name, name)
        run.log_artifact(sets / "README.md")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()
