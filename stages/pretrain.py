"""DVC stage `pretrain`: the tiny Llama-3 base pretrained on knowledge text -> models/base/."""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.knowledge import parse_domain
from data_core.paths import stage_paths
from generation.weights import load_tokenizer
from trainers.config import parse
from trainers.knowledge import pretrain_corpus
from trainers.pretrain import pretrain
from trainers.training_stage import TrainingStage


@stage_main
def main(root: Path) -> None:
    """Pretrain the base model (or take over `model.base_path`)."""
    params = load_params(root / "params.yaml")
    paths = stage_paths(params, root)
    cfg, model_cfg = parse(params, "pretrain"), parse(params, "model")
    inputs = {
        "tokenizer": paths["models.tokenizer"],
        "hpo_diseases": paths["interim.hpo_diseases"],
        "passages": paths["clean.passages"],
    }
    tokenizer = load_tokenizer(inputs["tokenizer"])
    logged = {k: params[k] for k in ("pretrain", "model", "knowledge")}
    stage = TrainingStage("pretrain", paths, inputs, logged)
    with stage.training(paths["models.base"]) as job:
        train, evals = pretrain_corpus(
            inputs["hpo_diseases"],
            inputs["passages"],
            parse_domain(params),
            cfg.knowledge,
            cfg.passages_limit,
            cfg.eval_fraction,
        )
        result = pretrain(train, evals, tokenizer, model_cfg, cfg, job)
        result.metrics.update(train_documents=len(train), eval_documents=len(evals))
        stage.publish(
            result,
            model="base",
            title="Tiny Llama-3 base (pretrained on HPO knowledge text)",
            base=model_cfg.base_path or "random init (params.yaml model)",
        )


if __name__ == "__main__":
    main()
