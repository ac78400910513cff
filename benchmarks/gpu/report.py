"""Ratios, the issue's aims, the JSON file and the one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# issue 20's aims on one H100 or H200
AIMS = {
    "sft_mfu": 0.35,  # SFT of the ~1B model
    "eval_speedup": 3.0,  # the project's MedQA scoring vs lm-eval's HF backend, equal accuracy
    "vllm_speedup": 10.0,  # vLLM generation vs transformers
}


def _ok(parts: dict[str, Any], name: str) -> dict[str, Any] | None:
    part = parts.get(name) or {}
    return part if part.get("status") == "ok" else None


def _why(parts: dict[str, Any], *names: str) -> str:
    return "; ".join(
        f"{n}: {(parts.get(n) or {}).get('reason') or 'did not run'}"
        for n in names
        if not _ok(parts, n)
    )


def derive(parts: dict[str, Any], gpu: str | None = None) -> dict[str, Any]:
    """Ratios between parts, and each aim as target / measured / met (or the reason it is open).

    The aims are for one H100 or H200: on any other device `met` stays None, with the reason."""
    hf, vl = _ok(parts, "hf_generate"), _ok(parts, "vllm_generate")
    ours, lm = _ok(parts, "project_eval"), _ok(parts, "lm_eval")
    sft = _ok(parts, "sft")
    out: dict[str, Any] = {}
    out["vllm_vs_transformers"] = vl["tokens_per_s"] / hf["tokens_per_s"] if hf and vl else None
    out["project_vs_lm_eval"] = ours["items_per_s"] / lm["items_per_s"] if ours and lm else None
    if ours and lm:
        same = [a == b for a, b in zip(ours["predictions"], lm["predictions"], strict=False)]
        out["prediction_agreement"] = sum(same) / max(len(same), 1)
        out["accuracy_difference"] = ours["accuracy"] - lm["accuracy"]
    aims = {}
    sft_mfu = sft.get("mfu") if sft else None
    aims["sft_mfu"] = {
        "target": AIMS["sft_mfu"],
        "measured": sft_mfu,
        "met": None if sft_mfu is None else sft_mfu >= AIMS["sft_mfu"],
        "reason": None
        if sft_mfu is not None
        else (sft or {}).get("mfu_reason") or _why(parts, "sft"),
    }
    ratio = out["project_vs_lm_eval"]
    equal = ours and lm and out["prediction_agreement"] >= 0.99
    aims["eval_speedup"] = {
        "target": AIMS["eval_speedup"],
        "measured": ratio,
        "met": None if ratio is None else bool(ratio >= AIMS["eval_speedup"] and equal),
        "reason": _why(parts, "project_eval", "lm_eval") or None,
    }
    ratio = out["vllm_vs_transformers"]
    aims["vllm_speedup"] = {
        "target": AIMS["vllm_speedup"],
        "measured": ratio,
        "met": None if ratio is None else ratio >= AIMS["vllm_speedup"],
        "reason": _why(parts, "hf_generate", "vllm_generate") or None,
    }
    if not gpu or not any(k in gpu.upper() for k in ("H100", "H200")):
        off = f"the aims are for one H100 or H200; this ran on {gpu or 'the CPU'}"
        for aim in aims.values():
            aim["met"] = None
            aim["reason"] = f"{aim['reason']}; {off}" if aim["reason"] else off
    return out | {"aims": aims}


def write_json(path: Path, result: dict[str, Any]) -> None:
    """Written after every part (atomic rename), so a run cut short still leaves its figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _fmt(value: Any, spec: str = ".1f", scale: float = 1.0, unit: str = "") -> str:
    return "-" if value is None else f"{value * scale:{spec}}{unit}"


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(part, status, speed, MFU / accuracy, peak memory or note) for each part."""
    parts, derived = result["parts"], result["derived"]
    out = []
    for name, part in parts.items():
        status = part.get("status", "?")
        speed = quality = memory = ""
        if status == "ok" and name in ("sft", "dpo"):
            speed = _fmt(part["tokens_per_s"], ",.0f", unit=" tok/s")
            quality = "MFU " + _fmt(part["mfu"], ".1f", 100, "%")
            memory = _fmt(part["peak_memory_gb"], ".1f", unit=" GiB") + f"; DS {part['deepspeed']}"
        elif status == "ok" and name.endswith("generate"):
            speed = _fmt(part["tokens_per_s"], ",.0f", unit=" tok/s")
            if name == "vllm_generate":
                quality = "x" + _fmt(derived["vllm_vs_transformers"], ".1f") + " transformers"
            memory = _fmt(part.get("peak_memory_gb"), ".1f", unit=" GiB")
        elif status == "ok" and name in ("project_eval", "lm_eval"):
            speed = _fmt(part["items_per_s"], ",.1f", unit=" items/s")
            quality = f"acc {part['accuracy']:.3f} ({part['items']} items)"
            if name == "project_eval" and derived.get("project_vs_lm_eval"):
                quality += f"; x{derived['project_vs_lm_eval']:.1f} lm-eval"
            memory = _fmt(part.get("peak_memory_gb"), ".1f", unit=" GiB")
        elif status == "ok" and name == "model":
            speed = f"{part['parameters'] / 1e6:,.1f}M params"
            quality = f"{part['layers']} layers x {part['hidden_size']}"
        else:
            memory = part.get("reason") or ""
        out.append((name, status, speed, quality, memory))
    return out


def print_table(result: dict[str, Any]) -> None:
    """rich's table where rich imports (the lent GPU machine may lack it), else plain columns."""
    env = result["environment"]
    title = f"GPU benchmark: {env['gpu'] or 'no GPU (' + env['device'] + ')'}, {env['date']}"
    header = ("part", "status", "speed", "MFU / accuracy", "memory / note")
    body = rows(result)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
        print(title)
        for r in [header, *body]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        return
    table = Table(title=title)
    for h in header:
        table.add_column(h, overflow="fold")
    for r in body:
        table.add_row(*r)
    Console().print(table)
