import pytest
from data_core.io import write_records
from data_core.schemas import EvalItem

from tests.fixtures.tiny_models import make_items, make_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    texts = [it.question + " " + " ".join(it.options.values()) for it in make_items("x", 200)]
    return make_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model",
        texts,
        vocab_size=600,
        hidden_size=64,
        layers=2,
        heads=4,
        kv_heads=2,
    )


@pytest.fixture
def eval_files(tmp_path):
    """A repo-like tmp root with eval items (two tasks, one with subjects) and held-out items."""
    interim = tmp_path / "data/interim"
    items = make_items("medqa", 30, seed=1) + make_items(
        "mmlu_medical", 24, seed=2, subjects=["anatomy", "medical_genetics", "college_biology"]
    )
    write_records(interim / "eval_items.parquet", items, EvalItem)
    heldout = make_items("hpo_diagnosis", 20, seed=3) + make_items("hpo_definition", 12, seed=4)
    write_records(tmp_path / "data/synth/heldout_eval.parquet", heldout, EvalItem)
    return tmp_path
