"""DVC stage `pretrain`: the tiny Llama-3 base pretrained on knowledge text -> models/base/."""

from pathlib import Path

from data_core.cli import stage_main
from data_core.config import load_params
from data_core.io import file_digest
from data_core.knowledge import parse_domain
from data_core.tracking import stage_run
from trainers.common import maybe_run, model_card, model_reference, system_metrics, write_metrics
from trainers.config import parse
from trainers.knowledge import pretrain_corpus
from trainers.pretrain import pretrain
from transformers import AutoTokenizer


@stage_main
def main(root: Path) -> None:
    """Pretrain the base model (or take over `model.base_path`)."""
    params = load_params(root / "params.yaml")
    cfg, model_cfg = parse(params, "pretrain"), parse(params, "model")
    domain = parse_domain(params)
    inputs = {
        "tokenizer": root / "models/tokenizer",
        "hpo_diseases": root / "data/interim/hpo_diseases.parquet",
        "passages": root / "data/clean/passages.parquet",
    }
    tokenizer = AutoTokenizer.from_pretrained(inputs["tokenizer"])
    digests = {name: file_digest(path) for name, path in inputs.items()}
    logged = {
        "pretrain": params["pretrain"],
        "model": params["model"],
        "knowledge": params["knowledge"],
    }
    with maybe_run(stage_run("pretrain", logged, root=root)) as run, system_metrics(run):
        train, evals = pretrain_corpus(
            inputs["hpo_diseases"],
            inputs["passages"],
            domain,
            cfg.knowledge,
            cfg.passages_limit,
            cfg.eval_fraction,
        )
        result = pretrain(train, evals, tokenizer, model_cfg, cfg, root,
                          checkpoints=root / "models/checkpoints/pretrain",
                          fingerprint={"params": logged, "data": digests}, run=run)  # fmt: skip
        result.metrics.update(train_documents=len(train), eval_documents=len(evals))
        out_dir = root / cfg.output_dir
        if run is None:
            return
        card = model_card(out_dir, title="Tiny Llama-3 base (pretrained on HPO knowledge text)",
                          base=model_cfg.base_path or "random init (params.yaml model)",
                          data={str(p.relative_to(root)): digests[n] for n, p in inputs.items()},
                          recipe=logged, metrics=result.metrics)  # fmt: skip
        result.metrics["model"] = model_reference(run, out_dir, "base", root)
        write_metrics(root / "metrics/pretrain.json", result.metrics)
        for name, path in inputs.items():
            run.log_input(path, name)
        run.log_metrics(result.metrics)
        run.log_artifact(card)


if __name__ == "__main__":
    main()
