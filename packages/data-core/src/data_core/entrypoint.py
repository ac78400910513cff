"""Entry-point helper for stage scripts: known errors print one clear message, not a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from data_core.errors import DataCoreError


def stage_main(main: Callable[[Path], None]) -> Callable[[], None]:
    """Wrap `main(root)`: parse `--root`, set up logging, turn DataCoreError into exit code 2."""

    def run() -> None:
        parser = argparse.ArgumentParser(description=main.__doc__)
        default_root = Path(sys.argv[0]).resolve().parent.parent
        parser.add_argument(
            "--root", type=Path, default=default_root, help="repository root (params.yaml)"
        )
        args = parser.parse_args()
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
        )
        try:
            main(args.root.resolve())
        except DataCoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return run
