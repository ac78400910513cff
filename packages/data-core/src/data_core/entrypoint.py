"""Entry-point helper for stage scripts: known errors print one clear message, not a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from data_core import security
from data_core.errors import DataCoreError

StageMain = Callable[..., None]


def stage_main(
    main: StageMain | None = None, *, choices: Mapping[str, Sequence[str]] | None = None
) -> Any:
    """Wrap `main(root, **choices)`: parse `--root` (and a required `--<name>` per entry of
    `choices`, e.g. a matrix stage's `--loss dpo`), set up logging, turn DataCoreError into exit
    code 2. Use as `@stage_main` or `@stage_main(choices={"loss": LOSSES})`."""

    def wrap(func: StageMain) -> Callable[[], None]:
        def run() -> None:
            parser = argparse.ArgumentParser(description=func.__doc__)
            default_root = Path(sys.argv[0]).resolve().parent.parent
            parser.add_argument(
                "--root", type=Path, default=default_root, help="repository root (params.yaml)"
            )
            for name, allowed in (choices or {}).items():
                parser.add_argument(f"--{name}", required=True, choices=list(allowed))
            args = vars(parser.parse_args())
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
            )
            try:
                root = args.pop("root").resolve()
                security.configure(root)  # params `security:` reaches every model loader
                func(root, **args)
            except DataCoreError as exc:
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(2)

        return run

    return wrap(main) if main is not None else wrap
