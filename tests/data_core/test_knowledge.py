"""The knowledge domain: one owner of which diseases the base reads and which training may use."""

import polars as pl
import pytest
from data_core.errors import ConfigError, DataCoreError
from data_core.knowledge import (
    KnowledgeDomainConfig,
    domain_parts,
    parse_domain,
    part_of,
    read_knowledge,
)


def _diseases(n: int, phenotypes: int = 5) -> pl.DataFrame:
    phen = [
        {"hpo_id": f"HP:{k}", "name": f"F{k}", "aspect": "P", "frequency": None, "onset": None}
        for k in range(phenotypes)
    ]
    return pl.DataFrame(
        [{"id": f"OMIM:{i}", "name": f"D{i}", "genes": [], "phenotypes": phen} for i in range(n)]
    )


def test_parts_are_hashed_shares_of_the_sampled_domain() -> None:
    cfg = KnowledgeDomainConfig(size=2000, heldout_fraction=0.3, dev_fraction=0.15, salt="x")
    parts = domain_parts(_diseases(5000), cfg)
    assert len(parts) == 2000
    shares = {p: sum(v == p for v in parts.values()) / 2000 for p in ("train", "dev", "heldout")}
    assert shares["heldout"] == pytest.approx(0.3, abs=0.04)
    assert shares["dev"] == pytest.approx(0.15, abs=0.03)
    assert all(part_of(d, cfg) == p for d, p in parts.items())


def test_growing_the_domain_never_moves_a_disease_to_another_part() -> None:
    small = domain_parts(_diseases(3000), KnowledgeDomainConfig(size=300))
    large = domain_parts(_diseases(3000), KnowledgeDomainConfig(size=900))
    assert set(small) < set(large)
    assert all(large[d] == p for d, p in small.items())


def test_diseases_with_too_few_phenotypes_or_other_prefixes_are_not_in_it() -> None:
    frame = pl.concat(
        [
            _diseases(50),
            _diseases(50, phenotypes=2).with_columns(
                pl.format("ORPHA:{}", pl.col("id")).alias("id")
            ),
        ]
    )
    parts = domain_parts(frame, KnowledgeDomainConfig(size=None, prefixes=["OMIM", "ORPHA"]))
    assert len(parts) == 50 and all(d.startswith("OMIM:") for d in parts)


def test_a_domain_without_a_training_part_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="knowledge"):
        parse_domain({"knowledge": {"heldout_fraction": 0.6, "dev_fraction": 0.5}})


def test_a_missing_knowledge_table_names_the_file_and_the_stage_that_makes_it(tmp_path):
    missing = tmp_path / "hpo_diseases.parquet"
    with pytest.raises(DataCoreError, match=r"hpo_diseases\.parquet: missing .*dvc repro ingest"):
        read_knowledge(missing)
