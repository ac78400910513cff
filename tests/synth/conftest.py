from pathlib import Path

import pytest
from synth.config import SynthConfig
from synth.knowledge_base import KnowledgeBase, load_kb

from tests.fixtures.tiny_models import make_tiny_llama
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo


@pytest.fixture(scope="session")
def toy_hpo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_toy_hpo(tmp_path_factory.mktemp("hpo"))


@pytest.fixture(scope="session")
def toy_kb(toy_hpo: tuple[Path, Path]) -> KnowledgeBase:
    return load_kb(*toy_hpo, TOY_DOMAIN, min_phenotypes=3)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def small_config():
    """Factory for a synth config sized for the toy knowledge base."""
    return _small_config


def _small_config(**overrides: object) -> SynthConfig:
    """A synth config sized for the toy knowledge base."""
    raw: dict[str, object] = {
        "heldout": {"diagnosis": 10, "diagnosis_heldout": 10, "diagnosis_dev": 5, "definition": 10},
        "synthesize": {
            "counts": {"definition": 20, "diagnosis": 30, "phenotype": 20, "hierarchy": 20},
            "min_phenotypes": 3,
        },
        "sample": {"panel": [{"backend": "kb"}]},
    }
    raw.update(overrides)
    return SynthConfig.model_validate(raw)
