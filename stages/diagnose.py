"""DVC stage `diagnose`: held-out predictions -> metrics/diagnosis.json (why items are right)."""

from pathlib import Path

import polars as pl
from data_core.config import load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json
from data_core.knowledge import domain_parts, parse_domain, read_knowledge
from data_core.paths import stage_paths
from data_core.schemas import EvalItem, Instruction
from data_core.tracking import stage_run
from evals.analysis import diagnose, read_by_base, training_answers
from evals.config import DiagnoseConfig, load_evaluate, located
from trainers.knowledge import pretrain_documents


@stage_main
def main(root: Path) -> None:
    """Split each held-out task's accuracy by what the base read and by SFT-answer distractors."""
    params = load_params(root / "params.yaml")
    paths = stage_paths(params, root)
    cfg = located(parse_section(params, "diagnose", DiagnoseConfig), paths)
    ev = located(load_evaluate(params), paths)
    with stage_run("diagnose", {"diagnose": params["diagnose"]}, root=root) as run:
        items = read_records(root / ev.heldout_items, EvalItem)
        names = {t.key: t.name for t in ev.tasks}
        by_task = {k: [i for i in items if i.task == names[k]] for k in cfg.tasks}
        domain = domain_parts(read_knowledge(root / cfg.hpo_diseases), parse_domain(params))
        definitions = [i for i in items if i.task == "hpo_definition"]
        read = read_by_base(domain, definitions, "\n".join(pretrain_documents(root, params)))
        answers = training_answers(read_records(root / cfg.sft_set, Instruction))
        preds = {
            k: {
                m: pl.read_parquet(root / ev.predictions_dir / f"{m}__{k}.parquet")
                for m in cfg.models
            }
            for k in cfg.tasks
        }
        metrics = diagnose(preds, by_task, {k: read for k in cfg.tasks}, answers)
        write_json(root / cfg.metrics, metrics)
        run.log_input(root / cfg.sft_set, "sft_set")
        run.log_output(root / cfg.metrics, "diagnosis")


if __name__ == "__main__":
    main()
