"""What every synth stage needs: its config, the knowledge base, cached backends, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_core.config import load_params, parse_section
from data_core.knowledge import parse_domain

from synth.backends import Backend, CachedBackend, ResponseCache, make_backend
from synth.config import SynthConfig
from synth.kb import KnowledgeBase, load_kb

DISEASES = "data/interim/hpo_diseases.parquet"
TERMS = "data/interim/hpo_terms.parquet"


def load_config(root: Path) -> tuple[dict[str, Any], SynthConfig]:
    """The raw `synth` and `knowledge` params (for MLflow) and the typed `synth` view."""
    params = load_params(root / "params.yaml")
    raw = {"synth": params.get("synth"), "knowledge": params.get("knowledge")}
    return raw, parse_section(params, "synth", SynthConfig)


def open_kb(root: Path, cfg: SynthConfig) -> KnowledgeBase:
    """The HPO knowledge base with the knowledge domain of params.yaml `knowledge`."""
    domain = parse_domain(load_params(root / "params.yaml"))
    return load_kb(root / DISEASES, root / TERMS, domain, cfg.synthesize.min_phenotypes)


def open_backend(
    root: Path, cfg: SynthConfig, name: str, stage: str, kb: KnowledgeBase | None
) -> CachedBackend:
    """The named backend behind the stage's crash-safe response cache."""
    inner = make_backend(name, cfg.backends[name], root, kb, cfg.answer_style)
    return CachedBackend(inner, ResponseCache(root / cfg.cache_dir / f"{stage}.sqlite"))


def is_kb(cfg: SynthConfig, name: str) -> bool:
    """True when the named backend is the (offline, deterministic) kb teacher."""
    return cfg.backends[name].kind == "kb"


def backend_metrics(backends: dict[str, Backend]) -> dict[str, Any]:
    """Cache hits/misses, backend calls, tokens and cost per named backend."""
    out: dict[str, Any] = {}
    for name, backend in backends.items():
        stats = dict(backend.stats)
        inner = getattr(backend, "inner", None)
        if inner is not None:
            stats.update({f"backend_{k}": v for k, v in inner.stats.items()})
        out[name] = stats
    total = {k: sum(s.get(k, 0) for s in out.values()) for k in ("cache_hits", "cache_misses")}
    return {"backends": out, **total}
