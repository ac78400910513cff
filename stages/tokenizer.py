"""DVC stage `tokenizer`: byte-level BPE with Llama-3 special tokens -> models/tokenizer/.

At full scale (`model.base_path` set) the real model's tokenizer is copied there instead, so the
stage keeps the same output and downstream stages do not change.
"""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.paths import stage_paths
from data_core.tracking import stage_run
from trainers.config import parse
from trainers.knowledge import tokenizer_corpus
from trainers.reporting import write_metrics
from trainers.tokenizer import build_tokenizer


@stage_main
def main(root: Path) -> None:
    """Train (or copy) the tokenizer."""
    params = load_params(root / "params.yaml")
    paths, cfg, model = (
        stage_paths(params, root),
        parse(params, "tokenizer"),
        parse(params, "model"),
    )
    inputs = {
        "hpo_diseases": paths["interim.hpo_diseases"],
        "passages": paths["clean.passages"],
        "scored": paths["synth.scored"],
    }
    scored = inputs["scored"] if cfg.synth_instructions and inputs["scored"].exists() else None
    passages = inputs["passages"] if cfg.passages else None
    out_dir = paths["models.tokenizer"]
    logged = {"tokenizer": params["tokenizer"], "model": params["model"]}
    with stage_run("tokenizer", logged, root=root) as run:
        texts = tokenizer_corpus(inputs["hpo_diseases"], passages, scored, cfg.knowledge)
        stats = build_tokenizer(texts, cfg, model.base_path, out_dir)
        stats["used_synth_instructions"] = scored is not None
        write_metrics(paths["metrics"] / "tokenizer.json", stats)  # `seconds`: MLflow only
        for name, path in inputs.items():
            if path.exists() and (name != "scored" or scored is not None):
                run.log_input(path, name)
        run.log_output(out_dir, "tokenizer")
        run.log_metrics(stats)


if __name__ == "__main__":
    main()
