"""The model card (README.md) written into every trained model directory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainers.reporting import split_results

CAUSAL_LM_USAGE = "Loadable with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer`."


def model_card(
    out_dir: Path,
    *,
    title: str,
    base: str,
    data: Mapping[str, str],
    recipe: Mapping[str, Any],
    metrics: Mapping[str, Any],
    usage: str = CAUSAL_LM_USAGE,
) -> Path:
    """Write README.md (a model card: base, data digests, recipe, metrics, how to load it).

    Timings and resume paths stay out (they are in MLflow): the card is part of the model
    directory whose md5 DVC tracks, so it holds only what the weights depend on and a re-run
    that reproduces the weights reproduces the directory's md5.
    """
    results, _ = split_results(metrics)
    lines = [f"# {title}", "", f"- base: `{base}`", "", "## Data", ""]
    lines += [f"- `{path}` md5 `{digest}`" for path, digest in data.items()]
    lines += ["", "## Recipe", "", "```json", json.dumps(recipe, indent=2, default=str), "```"]
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    for key, value in sorted(results.items()):
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    lines += ["", usage]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
