"""DVC stage `build`: screened synth data -> data/sets/{sft,preferences}.{parquet,jsonl} + card."""

import time
from pathlib import Path

from data_core import io
from data_core.entrypoint import stage_main
from data_core.schemas import Completion, EvalItem, Instruction, Judgement
from data_core.tracking import stage_run
from synth.build import SET_FILES, build_sets, write_sets
from synth.build_screen import screen_build, screen_config
from synth.stage_support import load_config

SOURCES = {  # input name -> (params `paths:` entry, record schema)
    "scored": ("synth.scored", Instruction),
    "completions": ("synth.completions", Completion),
    "judgements": ("synth.judgements", Judgement),
    "manual": ("clean.instructions", Instruction),  # screened by decontaminate already
    "eval_items": ("interim.eval_items", EvalItem),
}


@stage_main
def main(root: Path) -> None:
    """Screen the synthesized data; write the SFT and preference sets, splits and card."""
    raw, cfg, paths = load_config(root)
    sets, screen_cfg = paths["sets.dir"], screen_config(root)
    raw["decontaminate"] = screen_cfg.model_dump(include={"ngram", "short_items"})
    with stage_run("build", raw, root=root) as run:
        start = time.perf_counter()
        data = {name: io.read_records(paths[e], schema) for name, (e, schema) in SOURCES.items()}
        kept = screen_build(data["scored"], data["completions"], data["eval_items"], screen_cfg)
        sft, prefs, metrics = build_sets(
            kept.instructions, kept.completions, data["judgements"], data["manual"], cfg.build
        )
        metrics["contamination"] = kept.counts
        write_sets(sets, sft, prefs, metrics, cfg.build)
        kept.write(paths["synth.removed"])  # what the screen removed, and why
        io.write_json(paths["metrics"] / "build.json", metrics)  # results only: committed to git
        for name, (entry, _) in SOURCES.items():
            run.log_input(paths[entry], name)
        for name in SET_FILES:
            run.log_output(sets / name, name)
        run.log_output(paths["synth.removed"], "removed")
        run.log_artifact(sets / "README.md")
        run.log_metrics({**metrics, "seconds": round(time.perf_counter() - start, 2)})


if __name__ == "__main__":
    main()
