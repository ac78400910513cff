"""Run a training stage through the launcher params `launch:` chooses (dvc.yaml's training cmds).

Usage: `python stages/launch.py STAGE [ARGS...]`, e.g. `python stages/launch.py preference --loss
dpo`. launcher python: `python stages/STAGE.py ARGS` (the embedded default, one process);
accelerate: `accelerate launch --config_file ... stages/STAGE.py ARGS`; slurm: one `srun` task per
node, each an accelerate launch with its node's rank. The launch replaces this process (exec), so
signals reach the stage and its exit code is DVC's.
"""

import sys
from pathlib import Path

from data_core.config import load_params
from data_core.errors import DataCoreError
from data_core.launch import launch


def main(argv: list[str]) -> None:
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    root = Path(__file__).resolve().parent.parent
    try:
        launch(argv[0], argv[1:], root, load_params(root / "params.yaml"))
    except DataCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
