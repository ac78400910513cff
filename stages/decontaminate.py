"""DVC stage `decontaminate`: data/interim/ -> deduplicated, decontaminated, split data/clean/."""

from pathlib import Path

from data_core.clean import decontaminate
from data_core.config import DecontaminateConfig, load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.io import export_chat_jsonl, read_records, write_json, write_records
from data_core.paths import stage_paths
from data_core.schemas import EvalItem, Instruction, Passage
from data_core.screen import write_removals
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """Remove duplicates and benchmark-contaminated records; assign splits."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "decontaminate", DecontaminateConfig)
    paths = stage_paths(params, root)
    inputs = {name: paths[f"interim.{name}"] for name in ("instructions", "passages", "eval_items")}
    outputs = {name: paths[f"clean.{name}"] for name in ("instructions", "passages", "removed")}
    outputs["instructions_chat"] = paths["clean.instructions_jsonl"]
    metrics = paths["metrics"] / "decontaminate.json"  # contamination.json: every stage's
    with stage_run("decontaminate", {"decontaminate": params["decontaminate"]}, root=root) as run:
        result = decontaminate(
            read_records(inputs["instructions"], Instruction),
            read_records(inputs["passages"], Passage),
            read_records(inputs["eval_items"], EvalItem),
            cfg,
        )
        write_records(outputs["instructions"], result.instructions, Instruction)
        export_chat_jsonl(outputs["instructions_chat"], result.instructions)
        write_records(outputs["passages"], result.passages, Passage)
        write_removals(outputs["removed"], result.removed)
        write_json(metrics, result.report)
        for name, path in inputs.items():
            run.log_input(path, name)
        for name, path in outputs.items():
            run.log_output(path, name)
        run.log_metrics({k: v for k, v in result.report.items() if k != "examples"})
        run.log_artifact(metrics)


if __name__ == "__main__":
    main()
