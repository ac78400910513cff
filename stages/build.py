"""DVC stage `build`: judged completions -> data/sets/{sft,preferences}.{parquet,jsonl} + card."""

import time
from pathlib import Path

from data_core import io
from data_core.entrypoint import stage_main
from data_core.schemas import Completion, Instruction, Judgement, Preference
from data_core.tracking import stage_run
from synth.build import build_sets, dataset_card
from synth.stage_support import load_config

SOURCES = {  # input name -> (params `paths:` entry, record schema)
    "scored": ("synth.scored", Instruction),
    "completions": ("synth.completions", Completion),
    "judgements": ("synth.judgements", Judgement),
    "manual": ("clean.instructions", Instruction),
}


@stage_main
def main(root: Path) -> None:
    """Write the SFT and preference sets with their splits and dataset card."""
    raw, cfg, paths = load_config(root)
    sets = paths["sets.dir"]
    with stage_run("build", raw, root=root) as run:
        start = time.perf_counter()
        inputs = [io.read_records(paths[name], schema) for name, schema in SOURCES.values()]
        sft, prefs, metrics = build_sets(*inputs, cfg.build)
        io.write_records(sets / "sft.parquet", sft, Instruction)
        io.export_chat_jsonl(sets / "sft.jsonl", sft)
        io.write_records(sets / "preferences.parquet", prefs, Preference)
        io.write_jsonl(sets / "preferences.jsonl", (p.model_dump() for p in prefs))
        io.write_text(sets / "README.md", dataset_card(sft, prefs, metrics, cfg.build))
        io.write_json(paths["metrics"] / "build.json", metrics)  # results only: committed to git
        for name, (entry, _) in SOURCES.items():
            run.log_input(paths[entry], name)
        for name in ("sft.parquet", "sft.jsonl", "preferences.parquet", "preferences.jsonl"):
            run.log_output(sets / name, name)
        run.log_artifact(sets / "README.md")
        run.log_metrics({**metrics, "seconds": round(time.perf_counter() - start, 2)})


if __name__ == "__main__":
    main()
