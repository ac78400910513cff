"""DVC stage `sample`: scored instructions -> completions from the panel (data/synth/completions.parquet)."""

from pathlib import Path

from data_core.cli import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Completion, Instruction
from data_core.tracking import stage_run
from synth.runtime import backend_metrics, load_config, open_backend, open_kb
from synth.sample import sample


@stage_main
def main(root: Path) -> None:
    """Ask every enabled panel member for n completions per instruction (resumable)."""
    raw, cfg = load_config(root)
    src, out = root / "data/synth/scored.parquet", root / "data/synth/completions.parquet"
    with stage_run("sample", raw, root=root) as run:
        records = read_records(src, Instruction)
        members = [m for m in cfg.sample.panel if m.enabled]
        kb = (
            open_kb(root, cfg)
            if any(cfg.backends[m.backend].kind == "kb" for m in members)
            else None
        )
        backends = {m.backend: open_backend(root, cfg, m.backend, "sample", kb) for m in members}
        try:
            completions, metrics = sample(records, cfg.sample, backends, cfg.seed)
        finally:
            for backend in backends.values():
                backend.close()
        metrics.update(backend_metrics(backends))
        write_records(out, completions, Completion)
        write_json(root / "metrics/sample.json", metrics)
        run.log_input(src, "scored")
        run.log_output(out, "completions")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()
