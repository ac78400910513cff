"""Stage inputs and outputs, named once in params.yaml `paths:`.

`dvc.yaml` refers to the same entries with DVC templating (`${paths.synth.scored}`), so a stage
script and its DVC declaration cannot disagree about where a file lives.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_core.errors import ConfigError


class StagePaths:
    """Dotted names of params `paths:` -> absolute paths under the repository root."""

    def __init__(self, mapping: Mapping[str, Any], root: Path) -> None:
        self._mapping, self.root = mapping, root

    def __getitem__(self, name: str) -> Path:
        node: Any = self._mapping
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"params.yaml paths: no entry {name!r}")
            node = node[part]
        if not isinstance(node, str):
            raise ConfigError(f"params.yaml paths.{name}: expected a path, got {node!r}")
        return self.root / node

    def relative(self, name: str) -> str:
        """The entry as written in params.yaml (relative to the root): for model cards and logs."""
        return self[name].relative_to(self.root).as_posix()


def stage_paths(params: Mapping[str, Any], root: Path) -> StagePaths:
    """The `paths:` section of loaded params, resolved against `root`."""
    mapping = params.get("paths")
    if not isinstance(mapping, Mapping):
        raise ConfigError("params.yaml: the `paths:` section is missing")
    return StagePaths(mapping, root)
