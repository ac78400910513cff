"""What every synth stage needs: its config and paths, the knowledge base, cached generators, and
the run stats that go to MLflow."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data_core.config import load_params, parse_section
from data_core.knowledge import parse_domain
from data_core.paths import StagePaths, stage_paths
from generation import CachedGenerator, Generator, ResponseCache

from synth.config import SynthConfig
from synth.generators import make_generator
from synth.knowledge_base import KnowledgeBase, load_kb

log = logging.getLogger(__name__)
KB_TABLES = ("interim.hpo_diseases", "interim.hpo_terms")  # params `paths:` names


def load_config(root: Path) -> tuple[dict[str, Any], SynthConfig, StagePaths]:
    """The raw `synth` and `knowledge` params (for MLflow), the typed `synth` view, the paths."""
    params = load_params(root / "params.yaml")
    raw = {"synth": params.get("synth"), "knowledge": params.get("knowledge")}
    return raw, parse_section(params, "synth", SynthConfig), stage_paths(params, root)


def open_kb(paths: StagePaths, cfg: SynthConfig) -> KnowledgeBase:
    """The HPO knowledge base with the knowledge domain of params.yaml `knowledge`."""
    domain = parse_domain(load_params(paths.root / "params.yaml"))
    diseases, terms = (paths[name] for name in KB_TABLES)
    return load_kb(diseases, terms, domain, cfg.synthesize.min_phenotypes)


def open_generator(
    paths: StagePaths, cfg: SynthConfig, name: str, stage: str, kb: KnowledgeBase | None
) -> CachedGenerator:
    """The named generator behind the stage's crash-safe response cache (paths `synth.cache`)."""
    backend = cfg.backends[name]
    inner = make_generator(name, backend, paths.root, kb, cfg.answer_style)
    cache = ResponseCache(paths["synth.cache"] / f"{stage}.sqlite")
    return CachedGenerator(inner, cache, backend.max_failures)


@contextmanager
def stage_generators(
    paths: StagePaths, cfg: SynthConfig, stage: str, names: list[str], kb: KnowledgeBase | None
) -> Iterator[dict[str, CachedGenerator]]:
    """The stage's named generators behind their response cache, closed on the way out."""
    opened = {n: open_generator(paths, cfg, n, stage, kb) for n in names}
    try:
        yield opened
        for generator in opened.values():
            if generator.failed:  # within its budget, or the stage would have stopped
                log.warning("%s", generator.failure_summary())
    finally:
        for generator in opened.values():
            generator.close()


def llm_only(cfg: SynthConfig, *names: str) -> list[str]:
    """The names whose backend is not the kb teacher (evolve and score ask the kb directly)."""
    return [n for n in names if not is_kb(cfg, n)]


def is_kb(cfg: SynthConfig, name: str) -> bool:
    """True when the named backend is the (offline, deterministic) kb teacher."""
    return cfg.backends[name].kind == "kb"


def run_stats(generators: Mapping[str, Generator], seconds: float) -> dict[str, Any]:
    """What a run cost (seconds, cache hits/misses, calls, retries, tokens, cost) per generator.

    Run-dependent, so MLflow only: the metrics JSON holds results, identical on every rebuild.
    """
    out: dict[str, Any] = {}
    for name, generator in generators.items():
        stats = dict(generator.stats)
        inner = getattr(generator, "inner", None)
        if inner is not None:
            stats.update({f"backend_{k}": v for k, v in inner.stats.items()})
        out[name] = stats
    total = {k: sum(s.get(k, 0) for s in out.values()) for k in ("cache_hits", "cache_misses")}
    return {"seconds": round(seconds, 2), "backends": out, **total}
