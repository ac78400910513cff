"""DVC stage `decontaminate`: data/interim/ -> deduplicated, decontaminated, split data/clean/."""

from pathlib import Path

import polars as pl
from data_core.clean import decontaminate, removal_rows
from data_core.cli import stage_main
from data_core.config import DecontaminateConfig, load_params, parse_section
from data_core.io import atomic_path, export_chat_jsonl, read_records, write_json, write_records
from data_core.schemas import EvalItem, Instruction, Passage
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """Remove duplicates and benchmark-contaminated records; assign splits."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "decontaminate", DecontaminateConfig)
    interim, clean = root / "data/interim", root / "data/clean"
    inputs = {
        name: interim / f"{name}.parquet" for name in ("instructions", "passages", "eval_items")
    }
    with stage_run("decontaminate", {"decontaminate": params["decontaminate"]}, root=root) as run:
        result = decontaminate(
            read_records(inputs["instructions"], Instruction),
            read_records(inputs["passages"], Passage),
            read_records(inputs["eval_items"], EvalItem),
            cfg,
        )
        outputs = {
            "instructions": clean / "instructions.parquet",
            "instructions_chat": clean / "instructions.jsonl",
            "passages": clean / "passages.parquet",
            "removed": clean / "removed.parquet",
        }
        write_records(outputs["instructions"], result.instructions, Instruction)
        export_chat_jsonl(outputs["instructions_chat"], result.instructions)
        write_records(outputs["passages"], result.passages, Passage)
        removed = pl.DataFrame(
            removal_rows(result.removed),
            schema={
                "id": pl.String,
                "kind": pl.String,
                "reason": pl.String,
                "matched_id": pl.String,
                "matched_task": pl.String,
                "score": pl.Float64,
                "record": pl.String,
            },
        )
        with atomic_path(outputs["removed"]) as tmp:
            removed.write_parquet(tmp, compression="zstd")
        write_json(root / "metrics/contamination.json", result.report)
        for name, path in inputs.items():
            run.log_input(path, name)
        for name, path in outputs.items():
            run.log_output(path, name)
        run.log_metrics({k: v for k, v in result.report.items() if k != "examples"})
        run.log_artifact(root / "metrics/contamination.json")


if __name__ == "__main__":
    main()
